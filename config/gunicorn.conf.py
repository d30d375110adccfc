"""Production gunicorn settings for authsvc: ``gunicorn -c config/gunicorn.conf.py 'authsvc:create_app()'``.

Override any of these on the command line (``-b``, ``-w``) or through
``GUNICORN_CMD_ARGS``.  Workers are processes, not threads, because the
expensive part of a token request (bcrypt on a cache miss, ECDSA signing)
is CPU-bound.
"""

import glob
import multiprocessing
import os
import shutil
import tempfile

bind = "127.0.0.1:5001"
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5
# Bounded request line and headers: a token request is small; anything big is hostile.
limit_request_line = 8190
limit_request_fields = 50
limit_request_field_size = 8190
# No gunicorn access log: authsvc logs one line per request itself (authsvc/web/requestlog.py),
# with the request id, the token outcome and redacted query strings; a second line per request
# would only double the volume.  `--access-logfile -` turns it back on; this format keeps the
# Authorization header and bodies out.
accesslog = None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
# gunicorn >= 25 opens a control socket in $HOME by default; one service per host needs none.
control_socket_disable = True


# -- Prometheus metrics across worker processes (authsvc/metrics.py) ----------------------------
# Each worker keeps its counters in files in PROMETHEUS_MULTIPROC_DIR and a scrape of any worker
# adds them all up.  prometheus_client picks that mode when first imported, so the variable is
# set here, in the master, before any worker (or --preload) loads the app.  Unset, a fresh private
# (0700) directory is made and removed at exit; an operator's own directory is kept but emptied at
# start, since files of a previous run would be added to this one's counts.
#
# A master killed with SIGKILL (an OOM kill, `kill -9`, a test's fault injection) never runs
# on_exit, so its directory would stay in the temporary directory for ever.  The directory's mark
# names the master (pid and start time, so a reused pid is not mistaken for it), and every start
# removes the directories of masters that no longer run.
_OWN_DIR_MARK = ".made-by-gunicorn-conf"
_OWN_DIR_PREFIX = "authsvc-metrics-"


def _started(pid: str) -> str:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), or '' if it does not run."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _remove_dead_masters_dirs() -> None:
    for path in glob.glob(os.path.join(tempfile.gettempdir(), _OWN_DIR_PREFIX + "*")):
        try:
            with open(os.path.join(path, _OWN_DIR_MARK)) as fh:
                pid, _, started = fh.read().split("\n")[0].partition(" ")
        except OSError:
            continue  # not made here, another user's, or being made right now
        if pid.isdigit() and started and _started(pid) != started:
            shutil.rmtree(path, ignore_errors=True)


if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _remove_dead_masters_dirs()
    _made = tempfile.mkdtemp(prefix=_OWN_DIR_PREFIX)
    with open(os.path.join(_made, _OWN_DIR_MARK), "w") as _mark:
        _mark.write(f"{os.getpid()} {_started(str(os.getpid()))}\n")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _made


def on_starting(server):
    """Once per master start (not on a HUP reload, whose live workers' files must stay)."""
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(path, mode=0o700, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)


def child_exit(server, worker):
    """A dead worker's counters stay in the sum (counters never go backwards); live gauges go."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if path and os.path.exists(os.path.join(path, _OWN_DIR_MARK)):
        shutil.rmtree(path, ignore_errors=True)
