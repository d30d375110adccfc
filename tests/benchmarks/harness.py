"""The benchmark's machinery: servers under the production gunicorn settings, wrk, /proc, the report.

Processes are started and stopped with the end-to-end harness
(:mod:`tests.e2e.processes`, :mod:`tests.e2e.stack`): each runs in its own
session with its output in a log file, readiness is polled against a
deadline, and a stop escalates to SIGKILL of the whole process group.  What
differs from the e2e stack is only what a benchmark must not change:

* gunicorn runs ``config/gunicorn.conf.py`` as is: its worker count (2 x
  CPUs + 1) and worker class, no ``-w``;
* authsvc runs with its production defaults: bcrypt cost 12, the
  verified-credential cache, ``audit_token_grants = true``.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e import stack as e2e_stack
from tests.e2e.processes import Service, StartupFailed, find_binary, free_port, http_status, run
from tests.e2e.stack import GUNICORN_CONF, PORT_ATTEMPTS, REPO_ROOT, STARTUP_TIMEOUT, Stack, clean_environ

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "requests.lua"
#: How gunicorn and the registry say that another process bound the port first.
PORT_TAKEN = getattr(e2e_stack, "PORT_TAKEN", ("address already in use",))
BASELINE_APP = "tests.benchmarks.baseline_app:create_app()"
AUTHSVC_APP = "authsvc:create_app()"


class BenchmarkError(RuntimeError):
    """The benchmark cannot run or produced an invalid measurement; the message says why."""


# -- binaries ---------------------------------------------------------------------------------

def binaries(*names: str) -> dict[str, str]:
    """Map each name to its path (see :func:`tests.e2e.processes.find_binary`), or fail naming all missing."""
    found = {name: find_binary(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise BenchmarkError("missing binaries: " + ", ".join(missing) +
                             " (deploy/local/install.sh installs the Debian packages)")
    return found  # type: ignore[return-value]


def registry_binary(generation) -> str:
    """The executable of a registry generation (:mod:`tests.e2e.registries`: Debian's 2.8 on PATH,
    the verified 3.1.1 from its cache), checked by ``--version``; a missing or wrong binary is a
    BenchmarkError here, where the e2e suite would skip or fail the test."""
    import pytest
    try:
        return generation.binary()
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        raise BenchmarkError(f"{generation.id}: {exc} (TEST_REGISTRY3_XZ names the 3.1.1 archive "
                             "if it is not beside the repository)") from None


# -- servers ----------------------------------------------------------------------------------

def start_on_free_port(factory: Callable[[int], Service], path: str, expected: int) -> Service:
    """Start ``factory(port)`` on a free port and wait until GET ``path`` answers ``expected``;
    retry on another port if ours was taken in the meantime (as the e2e Stack does)."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        service = factory(port)
        service.port = port  # type: ignore[attr-defined]
        service.start()
        url = f"http://127.0.0.1:{port}{path}"
        try:
            service.wait_ready(lambda: http_status(url) == expected, timeout=STARTUP_TIMEOUT,
                               what=f"GET {url} answered {expected}")
            return service
        except StartupFailed as exc:
            service.stop()
            if not (exc.exited and any(t in exc.log.lower() for t in PORT_TAKEN)) or attempt == PORT_ATTEMPTS:
                raise BenchmarkError(str(exc)) from None
    raise AssertionError("unreachable")


def gunicorn_argv(gunicorn: str, port: int, app: str, workers: int | None) -> list[str]:
    """The production command line: ``gunicorn -c config/gunicorn.conf.py -b ADDR APP``."""
    return [gunicorn, "-c", str(GUNICORN_CONF), "-b", f"127.0.0.1:{port}",
            *(["-w", str(workers)] if workers else []), app]


def start_baseline(root: Path, gunicorn: str, workers: int | None) -> Service:
    """The bare Flask JSON endpoint under the same gunicorn command and configuration, plus
    gunicorn's access log: authsvc writes a log line per request itself (gunicorn.conf.py turns the
    access log off for it), so the baseline must pay for one line per request too."""
    def factory(port: int) -> Service:
        argv = gunicorn_argv(gunicorn, port, BASELINE_APP, workers)
        argv[-1:-1] = ["--access-logfile", "-"]
        return Service("baseline (gunicorn)", argv,
                       env=clean_environ({"PYTHONPATH": str(REPO_ROOT)}), cwd=REPO_ROOT,
                       log_path=root / f"baseline-{port}.log")
    return start_on_free_port(factory, "/healthz", 200)


class ProductionStack(Stack):
    """authsvc with production settings (bcrypt cost 12, gunicorn.conf.py's worker count).

    Every process gets ``PYTHONPATH`` = this checkout, so the CLI and gunicorn run the authsvc
    beside this file even when the venv's editable install points at another checkout.

    The e2e :class:`~tests.e2e.stack.Stack` lowers bcrypt to cost 4 and runs
    two workers to keep the test suite fast; a benchmark must not.  Only
    authsvc is started here: each benchmark that needs a registry starts its
    own (:mod:`tests.benchmarks.images` starts a fresh one per round).
    """

    def __init__(self, root: Path, bins: dict[str, str], *, workers: int | None = None,
                 settings: dict[str, str] | None = None, name: str = "authsvc"):
        super().__init__(root, bins)
        self.workers = workers
        self.settings = dict(settings or {})
        self.name = name
        self.data_dir = root / f"{name}-data"
        self.extra_servers: list[Service] = []

    @property
    def env(self) -> dict[str, str]:
        return clean_environ({"AUTHSVC_DATA_DIR": str(self.data_dir), "AUTHSVC_REALM": self.realm,
                              "PYTHONPATH": str(REPO_ROOT), **self.settings})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.auth_port}"

    def init(self) -> None:
        init = self.authsvc("init", check=False)
        if init.returncode != 0:
            raise BenchmarkError(f"authsvc init failed:\n{init.stdout}{init.stderr}")

    def start(self) -> None:
        self.init()
        self.serve()

    def serve(self) -> None:
        try:
            self.gunicorn = self._start_on_free_port("authsvc", self._gunicorn_service, "/readyz", 200)
            self.gunicorn.port = self.auth_port  # type: ignore[attr-defined]
        except StartupFailed as exc:
            raise BenchmarkError(str(exc)) from None

    def _gunicorn_service(self, port: int) -> Service:
        self.auth_port = port
        return Service(f"{self.name} (gunicorn)", gunicorn_argv(self.bin["gunicorn"], port, AUTHSVC_APP, self.workers),
                       env=self.env, cwd=REPO_ROOT, log_path=self.root / f"{self.name}-{port}.log")

    def variant(self, name: str, **settings: str) -> Service:
        """Another gunicorn serving the same data (database, key) with some settings changed,
        e.g. ``AUTHSVC_AUDIT_TOKEN_GRANTS="false"``; stopped with the stack."""
        env = {**self.env, **settings}

        def factory(port: int) -> Service:
            return Service(f"{name} (gunicorn)", gunicorn_argv(self.bin["gunicorn"], port, AUTHSVC_APP, self.workers),
                           env=env, cwd=REPO_ROOT, log_path=self.root / f"{name}-{port}.log")
        service = start_on_free_port(factory, "/readyz", 200)
        self.extra_servers.append(service)
        return service

    def app_context(self):
        """An app context on this stack's database, for seeding through the service layer
        (the same code the CLI runs, without one process start per user)."""
        from authsvc import create_app
        return create_app(environ=self.env, serving=False).app_context()

    def stop(self) -> None:
        for service in self.extra_servers:
            service.stop()
        super().stop()


def service_url(service: Service) -> str:
    return f"http://127.0.0.1:{service.port}"  # type: ignore[attr-defined]


# -- /proc: workers and their memory -----------------------------------------------------------

def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn's workers), from /proc/*/stat."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (resident set: anonymous + file-backed + shared pages)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchmarkError(f"no VmRSS for pid {pid}")


def cpu_ms(pids) -> float:
    """CPU time (user + system) of the processes ``pids`` so far, in milliseconds, from
    /proc/PID/stat (a process that has exited is not counted)."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def worker_cpu_ms(service: Service) -> float:
    """CPU time of all of a gunicorn's workers so far, in milliseconds."""
    assert service.proc is not None
    return cpu_ms(children(service.proc.pid))


def process_tree_cpu_ms(pid: int) -> float:
    """CPU time of ``pid`` and its direct children so far, in milliseconds: a PostgreSQL
    cluster's postmaster and its backends, whose work on a shared machine comes out of the same
    cores as the workers' (the benchmark's connections are kept by the workers for the whole
    run, so no backend that served it exits before it is counted)."""
    return cpu_ms((pid, *children(pid)))


def worker_rss(service: Service) -> list[int]:
    assert service.proc is not None
    return [rss_kib(pid) for pid in children(service.proc.pid)]


# -- wrk --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class Load:
    """How wrk drives a server: threads, connections, seconds."""

    threads: int
    connections: int
    seconds: float


def write_requests(path: Path, lines: Iterable[tuple[str, str, str | None, dict[str, str]]]) -> Path:
    """Write (method, path, body, headers) tuples in requests.lua's format."""
    out = []
    for method, target, body, headers in lines:
        fields = [method, target, body if body else "-", *(f"{k}: {v}" for k, v in headers.items())]
        assert all("\t" not in f and "\n" not in f for f in fields), fields
        out.append("\t".join(fields))
    path.write_text("\n".join(out) + "\n")
    return path


_RESULT = re.compile(r"^WRK_RESULT (.*)$", re.M)


def wrk(url: str, request_file: Path, load: Load) -> WrkResult:
    """Run wrk with requests.lua against ``url``; raise if wrk failed or any request was refused."""
    argv = ["wrk", "--latency", "-t", str(load.threads), "-c", str(load.connections),
            "-d", f"{max(1, round(load.seconds))}s", "--timeout", "10s", "-s", str(WRK_SCRIPT), url,
            "--", str(request_file)]
    result = run(argv, timeout=load.seconds + 60)
    match = _RESULT.search(result.stdout or "")
    if result.returncode != 0 or not match:
        raise BenchmarkError(f"wrk failed (status {result.returncode}):\n$ {' '.join(argv)}\n"
                             f"{result.stdout}\n{result.stderr}")
    values = dict(item.split("=", 1) for item in match.group(1).split())
    errors = {k: int(values[k]) for k in ("connect", "read", "write", "status", "timeout")}
    measured = WrkResult(requests=int(values["requests"]), seconds=int(values["duration_us"]) / 1e6,
                         errors=errors, p50_ms=int(values["p50"]) / 1000, p90_ms=int(values["p90"]) / 1000,
                         p99_ms=int(values["p99"]) / 1000, max_ms=int(values["max"]) / 1000)
    # A refused request (429 from the throttle, 500, 503) or a dropped connection means the figure
    # measures something other than token issuing: never report it as a result.
    if errors["status"] or errors["timeout"] or errors["connect"]:
        raise BenchmarkError(f"wrk against {url} saw errors {errors} in {measured.requests} requests:\n"
                             f"{result.stdout}")
    return measured


# -- figures and the report ---------------------------------------------------------------------

@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = "baseline"
    target: str | None = None   # ">= 0.6", "<= 1.05", or None (reported only)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return "INFO"
        op, bound = self.target.split()
        ok = self.ratio >= float(bound) if op == ">=" else self.ratio <= float(bound)
        return "PASS" if ok else "MISS"

    def line(self) -> str:
        text = f"{self.name}: {fmt(self.value)} {self.unit}"
        if self.baseline is not None:
            text += f" ({self.baseline_label} {fmt(self.baseline)} {self.unit}) ratio {self.ratio:.2f}"
        text += f" (target {self.target or 'none'}) {self.verdict}"
        if self.note:
            text += f"  [{self.note}]"
        return text


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    stream = sys.stdout

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def detail(self, text: str) -> None:
        self.say(f"  . {text}")

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        self.say(figure.line())
        return figure

    def summary(self) -> None:
        self.say("")
        self.say("== summary ==")
        for figure in self.figures:
            self.say(figure.line())
        missed = [f.name for f in self.figures if f.verdict == "MISS"]
        self.say(f"targets: {sum(f.verdict == 'PASS' for f in self.figures)} met, {len(missed)} missed"
                 + (f" ({', '.join(missed)})" if missed else ""))


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rotate(items: Sequence, by: int) -> list:
    """``items`` rotated by ``by``: alternates the order of interleaved runs between repetitions,
    so a slow phase of the machine does not always fall on the same server."""
    by %= len(items)
    return list(items[by:]) + list(items[:by])


# -- the machine ---------------------------------------------------------------------------------

def _first_line(argv: Sequence[str]) -> str:
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> list[tuple[str, str]]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), "unknown")
    mhz = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                if line.startswith("cpu MHz")), "?")
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    import sqlite3

    import cryptography
    import flask
    import gunicorn
    import jwt
    import sqlalchemy
    uname = os.uname()
    return [
        ("cpus (nproc)", str(os.cpu_count())),
        ("cpu", f"{model} @ {mhz} MHz"),
        ("memory", f"{mem_kib / 1024 / 1024:.1f} GiB"),
        ("kernel", f"{uname.sysname} {uname.release} {uname.machine}"),
        ("os", _os_release()),
        ("python", sys.version.split()[0]),
        ("gunicorn", f"{gunicorn.__version__} ({_gunicorn_settings()})"),
        ("flask / sqlalchemy / sqlite", f"{flask.__version__ if hasattr(flask, '__version__') else _dist('flask')}"
                                        f" / {sqlalchemy.__version__} / {sqlite3.sqlite_version}"),
        ("bcrypt / pyjwt / cryptography", f"{_dist('bcrypt')} / {jwt.__version__} / {cryptography.__version__}"),
        ("bcrypt cost 12, one check", f"{bcrypt_seconds(12) * 1000:.0f} ms CPU"),
        ("wrk", _first_line(["wrk", "-v"]).split(" [")[0]),
        ("registry", _first_line(["docker-registry", "--version"])),
        ("docker", _first_line(["/usr/bin/docker", "--version"])),
    ]


def _dist(name: str) -> str:
    from importlib.metadata import version
    try:
        return version(name)
    except Exception:  # noqa: BLE001 - a version string is decoration
        return "?"


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "unknown"


def _gunicorn_settings() -> str:
    namespace: dict = {}
    exec(compile(GUNICORN_CONF.read_text(), str(GUNICORN_CONF), "exec"), namespace)  # noqa: S102 - our config
    return f"{namespace['workers']} {namespace['worker_class']} workers from {GUNICORN_CONF.relative_to(REPO_ROOT)}"


def bcrypt_seconds(rounds: int) -> float:
    """CPU seconds of one bcrypt check at ``rounds`` (what a credential-cache miss costs)."""
    import bcrypt
    hashed = bcrypt.hashpw(b"x" * 44, bcrypt.gensalt(rounds))
    start = time.process_time()
    bcrypt.checkpw(b"x" * 44, hashed)
    return time.process_time() - start


def throwaway_postgres(root: Path, cleanup) -> tuple[str, int]:
    """A PostgreSQL cluster for one benchmark run, as tests/run's second pass makes one: Debian's
    binaries run as the postgres user, a Unix socket in ``root``, fsync off; stopped by ``cleanup``.
    Returns the SQLAlchemy URL of a fresh database on it and the postmaster's pid."""
    import shutil
    import subprocess
    import tempfile
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    if not versions or not (versions[-1] / "initdb").exists():
        raise BenchmarkError("PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
    # A directory of its own: the scratch directory is 0700 (mkdtemp), which the postgres user
    # could not enter.
    pg_bin, directory = versions[-1], Path(tempfile.mkdtemp(prefix="abench-pg", dir="/tmp"))
    directory.chmod(0o755)
    shutil.chown(directory, "postgres", "postgres")
    cleanup.callback(shutil.rmtree, directory, ignore_errors=True)

    def as_postgres(*argv: str) -> None:
        result = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise BenchmarkError(f"{' '.join(argv[:2])} failed: {result.stderr or result.stdout}")

    as_postgres(str(pg_bin / "initdb"), "-D", str(directory / "data"), "--auth=trust", "-U", "postgres")
    as_postgres(str(pg_bin / "pg_ctl"), "-D", str(directory / "data"), "-l", str(directory / "server.log"), "-w",
                "-t", "60", "-o", f"-k {directory} -c listen_addresses='' -c fsync=off -c max_connections=300",
                "start")
    cleanup.callback(subprocess.run, ["runuser", "-u", "postgres", "--", str(pg_bin / "pg_ctl"), "-D",
                                      str(directory / "data"), "-m", "immediate", "stop"], capture_output=True)
    as_postgres(str(pg_bin / "createdb"), "-h", str(directory), "-U", "postgres", "bench")
    postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
    return f"postgresql+psycopg://postgres@/bench?host={directory}", postmaster
