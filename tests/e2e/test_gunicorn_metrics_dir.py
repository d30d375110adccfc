"""``config/gunicorn.conf.py``'s private metrics directory does not outlive a killed master.

Unless PROMETHEUS_MULTIPROC_DIR is set, the config file makes ``authsvc-metrics-*`` in the
temporary directory and removes it in ``on_exit`` -- which a master killed with SIGKILL never runs,
so every ``kill -9`` (the fault tests do several) left one behind.  The directory's mark now names
its master, and the next start removes the directories of masters that are gone.  Real gunicorn,
killed for real; TMPDIR is the test's own, so other gunicorns on the machine are not counted.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from .processes import Service, free_port, http_status, ok, require_binaries, run
from .stack import GUNICORN_CONF, REPO_ROOT, STARTUP_TIMEOUT, clean_environ

pytestmark = pytest.mark.e2e


def metrics_dirs(tmp: Path) -> set[Path]:
    return set(tmp.glob("authsvc-metrics-*"))


def test_a_killed_masters_directory_is_removed_by_the_next_start(tmp_path):
    binaries = require_binaries("gunicorn", "authsvc")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = clean_environ({"AUTHSVC_DATA_DIR": str(tmp_path / "data"), "AUTHSVC_BCRYPT_ROUNDS": "4",
                         "TMPDIR": str(tmp)})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    ok(run([binaries["authsvc"], "init"], env=env))

    def start(name: str) -> Service:
        port = free_port()
        service = Service(name, [binaries["gunicorn"], "-c", str(GUNICORN_CONF), "-w", "1", "-b",
                                 f"127.0.0.1:{port}", "authsvc:create_app()"],
                          env=env, log_path=tmp_path / f"{name}.log", cwd=REPO_ROOT).start()
        service.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200,
                           timeout=STARTUP_TIMEOUT, what="/healthz answers 200")
        return service

    first = start("first")
    (killed_dir,) = metrics_dirs(tmp)
    mark = (killed_dir / ".made-by-gunicorn-conf").read_text().split()
    assert mark[0] == str(first.proc.pid) and len(mark) == 2  # the master and its start time
    os.killpg(first.proc.pid, signal.SIGKILL)  # master and worker: no on_exit runs
    first.proc.wait(10)
    first.proc = None
    assert metrics_dirs(tmp) == {killed_dir}  # what the suite used to leave behind

    second = start("second")
    try:
        (live_dir,) = metrics_dirs(tmp)
        assert live_dir != killed_dir and not killed_dir.exists()
    finally:
        second.stop()
    assert metrics_dirs(tmp) == set()  # a stopped master removes its own, as before
