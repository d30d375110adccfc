"""Metrics and request logs under real gunicorn: ``config/gunicorn.conf.py`` with three workers.

In-process tests cannot show the two things that only exist with several worker processes:

* a scrape answered by any worker reports the whole service.  The proof does not depend on
  how the kernel spread the requests: after the first batch every worker is killed, so the
  scrape is answered by a fresh process that served none of them, and must still count them
  all (prometheus_client's multiprocess files, kept for dead workers);
* one log line per request on the server's stderr, from whichever worker served it: JSON
  that parses, the request id echoed, and no second line from gunicorn's access log.

Its own server rather than the session's stack: its workers are killed, and its counters and
log lines must be only this test's.  No registry is needed; :class:`tests.e2e.load.Server` is the e2e stack without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .load import Server, basic, private_database, start_server
from .processes import StartupFailed, require_binaries

pytestmark = pytest.mark.e2e

WORKERS = 3
BATCH = 30
THREADS = 3


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """One request on a new connection, so that any worker may take it."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def scrape(port: int) -> dict[tuple, float]:
    status, _, body = get(port, "/metrics")
    assert status == 200, body
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def token_counts(port: int) -> tuple[float, float]:
    """(granted token requests, token latency observations) as one scrape reports them."""
    samples = scrape(port)
    return (samples[("authsvc_token_requests_total", (("outcome", "granted"),))],
            samples[("authsvc_token_request_duration_seconds_count", ())])


def send_batch(server: Server, user, tag: str) -> None:
    """BATCH granted token requests from THREADS threads at once (half anonymous, half Basic)."""
    failures: list[str] = []

    def client(index: int) -> None:
        for n in range(index, BATCH, THREADS):
            headers = {"X-Request-ID": f"{tag}-{n}"}
            if n % 2:
                headers["Authorization"] = basic(user.name, user.password)
            status, answer_headers, body = get(server.auth_port, "/token?service=registry", headers)
            if status != 200 or answer_headers.get("X-Request-ID") != f"{tag}-{n}":
                failures.append(f"{n}: {status} {answer_headers.get('X-Request-ID')} {body[:200]}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, "\n".join(failures)


@pytest.fixture
def server(e2e_root):
    root = e2e_root / "metrics"
    with private_database(root) as url:
        running = start_server(root, database_url=url, workers=WORKERS, settings={"log_format": "json"})
        try:
            yield running
        finally:
            running.stop()


def test_counts_add_up_across_workers_and_survive_killed_workers(server):
    user = server.user("scraped")
    mark = server.log_mark()
    send_batch(server, user, "first")
    assert token_counts(server.auth_port) == (BATCH, BATCH)

    old = server.worker_pids()
    for pid in old:
        server.kill_worker(pid)
    fresh = server.wait_for_workers(without=old)
    for _ in range(2 * WORKERS):  # several scrapes, so several of the fresh workers answer
        assert token_counts(server.auth_port) == (BATCH, BATCH), f"workers now {sorted(fresh)}"

    send_batch(server, user, "second")
    assert token_counts(server.auth_port) == (2 * BATCH, 2 * BATCH)

    log = server.log_since(mark)
    assert "Traceback" not in log, log[-3000:]
    token_lines = [line for line in log.splitlines() if "/token" in line]
    records = [json.loads(line) for line in token_lines]  # every such line is ours, and JSON
    assert len(records) == 2 * BATCH, "\n".join(token_lines)  # one per request: no access-log twin
    assert sorted(r["request_id"] for r in records) == sorted(
        f"{tag}-{n}" for tag in ("first", "second") for n in range(BATCH))
    assert {(r["logger"], r["method"], r["path"], r["status"], r["outcome"]) for r in records} == {
        ("authsvc.request", "GET", "/token?service=registry", 200, "granted")}
    assert user.password not in log
    served_by = {r["pid"] for r in records}
    assert served_by & fresh and served_by & old, f"old {old}, fresh {fresh}, served by {served_by}"


def test_an_operators_metrics_directory_is_emptied_at_start_and_kept(e2e_root):
    """PROMETHEUS_MULTIPROC_DIR given by the operator: counts of an earlier run are wiped at
    start (they would be added to this run's), the directory itself stays."""
    root = e2e_root / "metrics-dir"
    metrics_dir = root / "prometheus"
    metrics_dir.mkdir(parents=True)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    stale = subprocess.run([sys.executable, "-c", "from authsvc import metrics\n"
                            "metrics.token_answered(200, 'granted', 0.01)"], env=env, capture_output=True,
                           text=True, cwd=Path(__file__).resolve().parents[2])
    assert stale.returncode == 0, stale.stderr
    assert list(metrics_dir.glob("counter_*.db")), "the earlier run left no file to wipe"

    class OperatorServer(Server):
        @property
        def env(self):
            return {**super().env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}

    with private_database(root) as url:
        server = OperatorServer(root, require_binaries("authsvc", "gunicorn"), database_url=url, workers=2)
        try:
            try:
                server.start()
            except StartupFailed as exc:
                pytest.fail(f"authsvc under gunicorn did not start:\n{exc}", pytrace=False)
            assert token_counts(server.auth_port) == (0, 0)
            assert get(server.auth_port, "/token?service=registry")[0] == 200
            assert token_counts(server.auth_port) == (1, 1)
        finally:
            server.stop()
    assert metrics_dir.is_dir()
