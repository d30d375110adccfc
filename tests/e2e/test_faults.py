"""Faults under load: ``kill -9`` of gunicorn workers and of the master, and a database that is
stopped or hangs.  Every test runs real processes: gunicorn with ``config/gunicorn.conf.py``,
the ``authsvc`` CLI, and (for the database faults) a PostgreSQL cluster of the test's own.

Its own servers rather than the session's stack: they are killed, and their databases stopped,
on purpose.

Killing processes (on the e2e database: SQLite, or PostgreSQL with TEST_DATABASE_URL):

* a worker killed with ``kill -9`` while 50 clients request tokens is replaced by the master;
  the clients see at most one connection error (a sync worker has at most one request in
  flight), never a 5xx or a wrong answer, and the service goes on;
* the master and all workers killed with ``kill -9`` while token clients, the CLI and the REST
  API write; gunicorn restarted on the same port.  Every write that was acknowledged -- a CLI
  command that exited 0, a 201 from the API -- is present afterwards, SQLite's integrity check
  is ``ok``, and requests sent after the restart succeed.  Token grants are audited in batches
  (services/grant_log.py): every grant answered more than ``GRANT_LOSS_BOUND`` seconds before
  the kill is in the audit log; only those of the last interval (and of a flush under way) may
  be lost -- the bound docs/operations.md states.

An unreachable database (a PostgreSQL cluster on a TCP port, private to this module):

* stopped (``pg_ctl stop -m immediate``): the token endpoint answers 503 with the JSON error
  ``UNAVAILABLE`` and ``Retry-After`` within ``BOUND`` seconds -- for new credentials, for
  credentials a worker has cached (the cache is only consulted after the user row is read,
  so that a deactivation made elsewhere cannot be missed: no row, no token), for a refresh
  token and for an anonymous pull; ``/readyz`` answers 503, ``/healthz`` 200 (the process is
  fine, a liveness probe must not restart it); once PostgreSQL runs again, without touching
  authsvc, tokens are issued again within ``RECOVERY_BOUND`` seconds;
* a database that accepts connections but does not answer (frozen with SIGSTOP) is a 503
  within the bound too (the request deadline interrupts the stuck read), and a worker that
  starts while the database is unreachable boots anyway, so gunicorn's master keeps the
  service up and it recovers by itself.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .load import (
    ApiWriter,
    CliWriter,
    Population,
    Server,
    TokenLoad,
    basic,
    private_database,
    start_server,
    verify_model,
    wait_until,
)
from .processes import find_binary, free_port, run, unavailable
from .stack import User

pytestmark = pytest.mark.e2e

CLIENTS = 50
WORKERS = 4
#: Seconds within which an unreachable database must turn into a 503.
BOUND = 10.0
#: Seconds within which tokens must be issued again once the database is back.
RECOVERY_BOUND = 15.0


# -- killing gunicorn ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(e2e_root) -> Iterator[Server]:
    """One server for both kill tests (the first leaves it serving, the second restarts it)."""
    root = e2e_root / "faults"
    with private_database(root) as url:
        running = start_server(root, database_url=url, workers=WORKERS, settings={"proxy_hops": 1})
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def population(server) -> Population:
    return Population.seed(server)


#: What a kill -9 may cost the audit log of token grants: the batch interval (audit_flush_interval,
#: 0.1 s by default) plus a flush under way, which commits within this margin even under load.
GRANT_LOSS_BOUND = 0.1 + 1.0


def answered_shortly_before(outcomes, killed_at: float) -> int:
    """Grants whose answer arrived within GRANT_LOSS_BOUND seconds before the kill."""
    return sum(1 for o in outcomes if o.status == 200 and killed_at - GRANT_LOSS_BOUND < o.at + o.seconds)


def logged_grants(server: Server, marker: str, *, at_least: int) -> int:
    """The grants in the audit log once the live workers' batches are written: polled until
    ``at_least`` are there or a few flush intervals have passed, whichever comes first."""
    deadline = time.monotonic() + 3.0
    while True:
        logged = audit_grants(server, marker)
        if logged >= at_least or time.monotonic() > deadline:
            return logged
        time.sleep(0.1)


def audit_grants(server: Server, marker: str) -> int:
    return server.sql("SELECT count(*) FROM audit_events WHERE action = 'token.grant' AND details LIKE :m",
                      m=f'%"client":"{marker}"%')[0][0]


@pytest.mark.database  # acknowledged writes must survive on either database
def test_kill_9_of_a_worker_under_load(server, population):
    load = TokenLoad(server.auth_port, population, CLIENTS, marker="kill-worker").start()
    time.sleep(3)  # load phase before the fault
    workers = server.worker_pids()
    victim = random.Random(7).choice(sorted(workers))
    killed_at = time.monotonic()
    server.kill_worker(victim)
    replacements = server.wait_for_workers(without={victim})
    replaced_after = time.monotonic() - killed_at
    time.sleep(4)  # load phase after the fault
    load.stop()

    outcomes = load.between()
    print(f"\n[kill -9 worker] replaced in {replaced_after:.2f} s; {load.summary(outcomes)}")
    assert len(replacements - workers) == 1 and server.gunicorn.proc.poll() is None
    assert not load.server_errors(outcomes), load.explain(load.server_errors(outcomes))
    assert not load.problems(outcomes), load.explain(load.problems(outcomes))
    lost = load.connection_errors(outcomes)
    assert len(lost) <= 1, f"more than the one request in flight on the killed worker failed:\n{load.explain(lost)}"
    assert all(o.at <= killed_at for o in lost), "a request sent after the kill failed"
    after = [o for o in load.between(killed_at + replaced_after) if o.status == 200]
    assert len(after) >= 20, f"the service did not go on after the worker was replaced\n{load.summary(outcomes)}"
    grants, may_lose = sum(1 for o in outcomes if o.status == 200), answered_shortly_before(outcomes, killed_at)
    logged = logged_grants(server, "kill-worker", at_least=grants - may_lose)
    assert grants - may_lose <= logged <= grants + len(lost), (
        f"{grants} tokens granted, {logged} grants in the audit log, at most {may_lose} may be lost")
    assert server.integrity_problems() == []


@pytest.mark.database  # acknowledged writes must survive on either database
def test_kill_9_of_the_master_and_workers_under_load_then_restart(server, population):
    load = TokenLoad(server.auth_port, population, CLIENTS, marker="kill-master").start()
    cli = CliWriter(server, "cli").start()
    api = ApiWriter(server, population.admin, "api").start()
    time.sleep(4)  # load and writes before the fault
    killed_at = time.monotonic()
    server.kill_everything()
    time.sleep(2)  # the outage: clients are refused, the CLI goes on writing to the database
    restart_seconds = server.restart()
    restarted_at = time.monotonic()
    time.sleep(5)  # load and writes after the restart
    load.stop()
    api.stop()
    cli.stop()

    outcomes = load.between()
    before, after = load.between(0, killed_at), load.between(restarted_at)
    print(f"\n[kill -9 master] restart ready in {restart_seconds:.2f} s; {load.summary(outcomes)}\n"
          f"CLI: {cli.acknowledged} acknowledged writes; API: {len(api.acknowledged)} users created, "
          f"{len(api.in_doubt)} requests without an answer")
    assert not load.server_errors(outcomes), load.explain(load.server_errors(outcomes))
    assert not load.problems(outcomes), load.explain(load.problems(outcomes))
    in_flight = [o for o in load.connection_errors(before) if o.at + o.seconds < killed_at]
    assert not in_flight, f"requests failed before anything was killed:\n{load.explain(in_flight)}"
    assert not load.connection_errors(after), f"requests failed after the restart:\n{load.explain(load.connection_errors(after))}"
    assert sum(1 for o in after if o.status == 200) >= 20, load.summary(after)

    assert not cli.failures, "CLI commands failed while gunicorn was killed:\n" + "\n\n".join(cli.failures[:3])
    assert not api.failures, "\n".join(api.failures[:5])
    assert cli.acknowledged >= 3 and api.acknowledged, "too few writes to prove anything"
    lost = verify_model(server, [cli.model])
    assert not lost, "acknowledged CLI writes are missing:\n" + "\n".join(lost)
    users = {row["name"] for row in json.loads(server.authsvc("user", "list", "--json").stdout)}
    missing = [name for name in api.acknowledged if name not in users]
    assert not missing, f"users the API acknowledged (201) are missing: {missing}"
    grants, may_lose = sum(1 for o in outcomes if o.status == 200), answered_shortly_before(outcomes, killed_at)
    logged = logged_grants(server, "kill-master", at_least=grants - may_lose)
    print(f"[kill -9 master] audit: {grants} grants answered, {logged} logged, "
          f"{may_lose} answered within {GRANT_LOSS_BOUND} s before the kill")
    assert logged >= grants - may_lose, f"{grants} tokens granted, only {logged} grants in the audit log"
    assert server.integrity_problems() == []


# -- an unreachable database ---------------------------------------------------------------------

class PostgresCluster:
    """A throw-away PostgreSQL cluster on a free 127.0.0.1 port (and a socket in its directory),
    run as the postgres user when we are root, as tests/run's second pass does; fsync off."""

    def __init__(self):
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                          if p.parent.name.isdigit() else 0)
        self.bin = versions[-1] if versions else None
        if self.bin is None or not (self.bin / "initdb").exists():
            unavailable("PostgreSQL binaries not found under /usr/lib/postgresql")
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            runuser = find_binary("runuser")
            if runuser is None:
                unavailable("runuser is needed to run PostgreSQL as the postgres user")
            self.as_postgres = [runuser, "-u", "postgres", "--"]
        self.dir = Path(tempfile.mkdtemp(prefix="apg", dir="/tmp"))
        self.dir.chmod(0o755)
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0
        self.frozen: list[int] = []

    def _pg(self, *argv: str):
        return run([*self.as_postgres, *argv], timeout=120)

    def init(self) -> None:
        result = self._pg(str(self.bin / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres")
        if result.returncode != 0:
            unavailable(f"initdb failed: {result.stdout}{result.stderr}")
        for attempt in range(3):
            self.port = free_port()
            if self.start(check=False):
                return
        unavailable(f"PostgreSQL did not start:\n{self.log_tail()}")

    def start(self, *, check: bool = True) -> bool:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                   f"-c max_connections=100")
        result = self._pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                          "-o", options, "start")
        assert result.returncode == 0 or not check, f"pg_ctl start failed:\n{result.stderr}\n{self.log_tail()}"
        return result.returncode == 0

    def stop(self) -> None:
        """``pg_ctl stop -m immediate``: every backend dies at once, as in a crash."""
        self.thaw()
        self._pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return self._pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def freeze(self) -> None:
        """SIGSTOP the postmaster and every backend: connections stay open, nothing answers."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = [pid for pid, ppid in _children() if ppid == postmaster]
        self.frozen = [postmaster, *children]
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        from sqlalchemy import create_engine, text
        name = f"authsvc_{uuid.uuid4().hex[:12]}"
        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return name

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self) -> str:
        from .processes import tail
        return tail(self.log, 20)


def _children():
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            yield int(entry.name), int(stat[stat.rindex(")") + 2:].split()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    pg = PostgresCluster()
    try:
        pg.init()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def pg_server(cluster, e2e_root) -> Iterator[Server]:
    """authsvc (gunicorn -w 2, production config) on a fresh database of the private cluster."""
    if not cluster.running():
        cluster.start()
    name = cluster.create_database()
    running = start_server(e2e_root / f"pg-{name}", database_url=cluster.url(name), workers=2)
    try:
        yield running
    finally:
        cluster.thaw()
        if not cluster.running():
            cluster.start()
        running.stop()


@contextlib.contextmanager
def _connection(server: Server, timeout: float):
    connection = http.client.HTTPConnection("127.0.0.1", server.auth_port, timeout=timeout)
    try:
        yield connection
    finally:
        connection.close()


def ask(server: Server, path: str, *, user: User | None = None, form: dict | None = None,
        timeout: float = BOUND + 2) -> tuple[int | None, dict, dict, float]:
    """(status or None, JSON body or {"error": ...}, headers, seconds) of one request."""
    headers = {"Authorization": basic(user.name, user.password)} if user else {}
    body = None
    if form is not None:
        from urllib.parse import urlencode
        body = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    started = time.monotonic()
    with _connection(server, timeout) as connection:
        try:
            connection.request("POST" if form is not None else "GET", path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return None, {"error": repr(exc)}, {}, time.monotonic() - started
    seconds = time.monotonic() - started
    try:
        document = json.loads(payload)
    except ValueError:
        document = {"raw": payload[:300].decode(errors="replace")}
    return response.status, document, dict(response.getheaders()), seconds


TOKEN = "/token?service=registry"


def seed_for_outage(server: Server) -> tuple[User, User, str, str]:
    """A user whose password the workers have verified (cached), one never seen, a public
    project, and a refresh token of the first user."""
    warm, fresh = server.user("warm"), server.user("fresh")
    project = server.project("pub", public=True, owner=warm)
    status, body, _, _ = ask(server, TOKEN + "&offline_token=true", user=warm)
    assert status == 200, body
    for _ in range(4 * server.workers):  # every worker verifies (and caches) the password
        assert ask(server, TOKEN, user=warm)[0] == 200
    return warm, fresh, project, body["refresh_token"]


def outage_requests(warm: User, fresh: User, project: str, refresh: str) -> dict[str, dict]:
    return {
        "new credentials (cache miss)": {"path": TOKEN, "user": fresh},
        "cached credentials": {"path": TOKEN, "user": warm},
        "refresh token": {"path": "/token", "form": {"grant_type": "refresh_token", "refresh_token": refresh,
                                                     "service": "registry"}},
        "anonymous pull": {"path": f"{TOKEN}&scope=repository:{project}/app:pull"},
    }


def assert_unavailable(answer, what: str, *, retry_after: bool = True) -> float:
    """A 503 ``UNAVAILABLE`` JSON error within BOUND (with Retry-After, except for the probe)."""
    status, body, headers, seconds = answer
    assert status == 503, f"{what}: expected 503 within {BOUND:.0f} s, got {status} {body} after {seconds:.1f} s"
    assert seconds <= BOUND, f"{what}: 503 only after {seconds:.1f} s (bound {BOUND:.0f} s)"
    assert body["errors"][0]["code"] == "UNAVAILABLE" and body["errors"][0]["message"], (what, body)
    assert not retry_after or int(headers.get("Retry-After", "0")) >= 1, (what, headers)
    return seconds


def wait_for_tokens(server: Server, user: User) -> float:
    """Seconds until a token request succeeds again, polling without restarting anything."""
    def issued() -> bool:
        assert server.gunicorn.proc.poll() is None, f"gunicorn's master exited:\n{server.log_tail(12)}"
        return ask(server, TOKEN, user=user, timeout=5)[0] == 200
    return wait_until(issued, timeout=RECOVERY_BOUND,
                      what=f"authsvc issues tokens again once the database is back\n{server.log_tail(20)}")


def test_stopped_database_is_a_prompt_503_and_recovery_needs_no_restart(pg_server, cluster):
    """Cached credentials get the same 503 as new ones, and that is right: the verified-password
    cache only spares bcrypt, it is consulted after the user row is read (a deactivation or a
    password change made by another instance must bite at once), so without the database there
    is no token for anybody -- never a stale one.  The refused connection (the server is gone)
    makes the 503 immediate; the pool's pre-ping replaces the dead connections afterwards."""
    server = pg_server
    warm, fresh, project, refresh = seed_for_outage(server)
    requests = outage_requests(warm, fresh, project, refresh)

    cluster.stop()
    latencies = []
    for _ in range(2 * server.workers):  # enough rounds to reach every worker
        for what, request in requests.items():
            latencies.append(assert_unavailable(ask(server, **request), what))
        latencies.append(assert_unavailable(ask(server, "/readyz"), "/readyz", retry_after=False))
        assert ask(server, "/healthz")[0] == 200, "/healthz must not fail because the database does"

    cluster.start()
    recovery = wait_for_tokens(server, fresh)
    for _ in range(2 * server.workers):
        for what, request in requests.items():
            status, body, _, _ = ask(server, **request)
            assert status == 200, f"{what} after the database came back: {status} {body}"
        assert ask(server, "/readyz")[0] == 200
    print(f"\n[database stopped] 503 in at most {max(latencies) * 1000:.0f} ms "
          f"({len(latencies)} requests); tokens again {recovery:.2f} s after PostgreSQL was back")


def test_hung_database_is_a_prompt_503(pg_server, cluster):
    server = pg_server
    warm, fresh, project, refresh = seed_for_outage(server)
    cluster.freeze()
    try:
        latencies = [assert_unavailable(ask(server, TOKEN, user=fresh), "new credentials, database hung"),
                     assert_unavailable(ask(server, TOKEN, user=warm), "cached credentials, database hung"),
                     assert_unavailable(ask(server, "/readyz"), "/readyz, database hung", retry_after=False)]
        assert ask(server, "/healthz")[0] == 200, "/healthz must not fail because the database hangs"
    finally:
        cluster.thaw()
    recovery = wait_for_tokens(server, fresh)
    assert server.gunicorn.proc.poll() is None and len(server.worker_pids()) == server.workers
    print(f"\n[database hung] 503 after {', '.join(f'{s:.2f}' for s in latencies)} s; "
          f"tokens again {recovery:.2f} s after PostgreSQL was thawed")


def test_a_worker_restarting_while_the_database_is_down_does_not_end_the_service(pg_server, cluster):
    server = pg_server
    warm, fresh, project, refresh = seed_for_outage(server)
    cluster.stop()
    workers = server.worker_pids()
    victim = sorted(workers)[0]
    server.kill_worker(victim)  # any worker restart will do: a timeout, max_requests, the OOM killer
    replacement = server.wait_for_workers(without={victim}) - workers
    phase_end = time.monotonic() + 5  # the outage goes on while the replacement boots
    while time.monotonic() < phase_end:
        assert_unavailable(ask(server, TOKEN, user=warm), "cached credentials while a worker boots")
        time.sleep(0.2)  # request pacing during the outage phase
    assert server.gunicorn.proc.poll() is None, f"gunicorn's master exited:\n{server.log_tail(12)}"
    assert replacement <= server.worker_pids(), f"the replacement worker did not survive its boot:\n{server.log_tail(12)}"
    cluster.start()
    recovery = wait_for_tokens(server, fresh)
    print(f"\n[worker booted during the outage] tokens again {recovery:.2f} s after PostgreSQL was back")
