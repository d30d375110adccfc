"""The benchmark suite (``python -m tests.benchmarks``, docs/performance.md) still runs.

The benchmarks are a documented command, not part of the test run; this
test keeps them from rotting.  It runs the quick token benchmark -- real
gunicorn workers with the production settings, wrk, the bare Flask
baseline -- and checks that every figure is printed in the agreed form and
that nothing the benchmark started outlives it.  The figures themselves are
not checked: a two-second run on a shared CI machine measures nothing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .processes import describe, require_binaries
from .stack import REPO_ROOT, clean_environ

pytestmark = pytest.mark.e2e

BOUND_SECONDS = 60
RATIO_LINE = r"^{name}: [\d.]+ {unit} \({baseline} [\d.]+ {unit}\) ratio [\d.]+ \(target {target}\) (PASS|MISS)"


def _holders(directory: str) -> list[str]:
    """Processes with a file open under ``directory`` (a log, a database): they should all be gone."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(directory + "/"):
                found.append(f"{pid}: {target}")
    return found


def _run_bounded(argv: list[str]) -> subprocess.CompletedProcess:
    """Run the benchmark; past the bound, SIGTERM it (it then stops what it started) rather than
    SIGKILL, which would leave its gunicorns running."""
    proc = subprocess.Popen(argv, env=clean_environ(), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        stderr += f"\n(stopped: still running after {BOUND_SECONDS}s)"
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def test_quick_token_benchmark_prints_every_figure_and_cleans_up():
    require_binaries("gunicorn", "wrk", "authsvc")
    result = _run_bounded([sys.executable, "-m", "tests.benchmarks", "--quick", "--only", "tokens"])
    output = result.stdout
    assert result.returncode == 0, f"the quick benchmark failed or overran {BOUND_SECONDS}s\n{describe(result)}"

    expected = [
        r"^cpus \(nproc\): \d+$",
        r"^load average at start: ",
        RATIO_LINE.format(name=r"tokens\.basic", unit="req/s", baseline="bare Flask", target=">= 0.75"),
        RATIO_LINE.format(name=r"tokens\.basic\.audit_off", unit="req/s", baseline="bare Flask", target=">= 0.75"),
        r"^memory\.authsvc: [\d.]+ MiB/worker \(bare Flask [\d.]+ MiB/worker\) ratio [\d.]+ \(target none\) INFO",
        r"^targets: \d+ met, \d+ missed",
    ]
    for pattern in expected:
        assert re.search(pattern, output, re.M), f"no line matching {pattern!r}\n{describe(result)}"

    scratch = re.search(r"^scratch directory: (\S+)", output, re.M)
    assert scratch, describe(result)
    assert not Path(scratch.group(1)).exists(), f"{scratch.group(1)} was not removed"
    assert not _holders(scratch.group(1)), f"processes outlived the benchmark: {_holders(scratch.group(1))}"


def test_the_registry_benchmarks_head_client_completes_what_wrk_cannot(tmp_path: Path):
    """``--only registry`` measures manifest and blob HEADs with tests/benchmarks/headload.py,
    since wrk waits for the body a HEAD answer's Content-Length announces.  The whole quick
    benchmark takes over a minute (60 one-second runs), too long to run here; this checks the
    one piece of it that is not wrk, against a real registry: HEADs complete on keep-alive
    connections, and an answer other than 200 is an error, never a figure."""
    import yaml

    from tests.benchmarks.harness import BenchmarkError
    from tests.benchmarks.headload import head_load

    from .processes import Service, free_port, http_status
    from .registries import REGISTRY2
    from .stack import STARTUP_TIMEOUT, registry_environ

    binary = REGISTRY2.binary()
    port = free_port()
    config = {"version": 0.1, "log": {"level": "error"}, "http": {"addr": f"127.0.0.1:{port}"},
              "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}}}
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    service = Service("registry (headload)", [binary, "serve", str(tmp_path / "config.yml")],
                      env=registry_environ(REGISTRY2), log_path=tmp_path / "registry.log").start()
    try:
        service.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/v2/") == 200, timeout=STARTUP_TIMEOUT,
                           what="GET /v2/ answered 200")
        result = head_load(port, "/v2/", {}, 2, 1)
        assert result.requests > 20 and result.errors["status"] == 0, result
        assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms, result
        with pytest.raises(BenchmarkError, match="were not 200"):
            head_load(port, "/v2/bench/app/manifests/missing", {}, 1, 1)
    finally:
        service.stop()
