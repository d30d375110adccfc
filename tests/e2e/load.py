"""Real traffic for the concurrency and fault tests: authsvc alone under gunicorn, many token
clients at once, and administrators writing through the CLI and the REST API meanwhile.

* :class:`Server` is the e2e :class:`~tests.e2e.stack.Stack` without the registry: the same
  ``authsvc init``, the same CLI helpers, but gunicorn runs ``config/gunicorn.conf.py`` with as
  many workers as the test asks for, and it can be hit with ``kill -9`` and restarted.
* :class:`TokenLoad` is N client threads, each with its own HTTP/1.1 connection, sending a mix
  of token requests whose right answers are known in advance: Basic-credential GETs for one to
  three scopes, refresh-token POSTs, anonymous pulls and wrong passwords.  Every answer is
  checked -- status, and for a 200 the token's ``sub`` and ``access`` claims -- and every
  connection error is kept with its time.
* :class:`CliWriter` and :class:`ApiWriter` make changes and remember exactly those that were
  acknowledged (CLI exit status 0, HTTP 201), so a test can prove none of them was lost.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import json
import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from .processes import Service, StartupFailed, describe, http_status, require_binaries
from .stack import GUNICORN_CONF, REPO_ROOT, STARTUP_TIMEOUT, Stack, User

#: A token request that takes longer than this is counted as a hang (an error), not waited for.
REQUEST_TIMEOUT = 30.0


def duration(default_ci: float, default_local: float) -> float:
    """Seconds a load phase runs: CONCURRENCY_SECONDS if set, else ``default_ci`` under CI=true
    and ``default_local`` elsewhere (not an AUTHSVC_* name: authsvc refuses unknown ones)."""
    from .processes import ci_mode
    value = os.environ.get("CONCURRENCY_SECONDS", "").strip()
    if value:
        return float(value)
    return default_ci if ci_mode() else default_local


# -- the server ------------------------------------------------------------------------------

class Server(Stack):
    """authsvc under gunicorn with the production config and ``workers`` workers, no registry."""

    def __init__(self, root: Path, binaries: dict[str, str], *, database_url: str = "", workers: int = 4,
                 settings: dict[str, str] | None = None):
        # Stack puts ``settings`` in the environment of the server and the CLI alike.
        super().__init__(root, binaries, database_url=database_url, settings=settings)
        self.workers = workers

    def start(self) -> None:
        init = self.authsvc("init", check=False)
        if init.returncode != 0:
            raise StartupFailed(f"authsvc init failed:\n{init.stdout}{init.stderr}", exited=True, log="")
        self.gunicorn = self._start_on_free_port("authsvc", self._gunicorn_service, "/healthz", 200)

    def _gunicorn_service(self, port: int) -> Service:
        self.auth_port = port
        argv = [self.bin["gunicorn"], "-c", str(GUNICORN_CONF), "-b", f"127.0.0.1:{port}",
                "-w", str(self.workers), "authsvc:create_app()"]
        return Service("authsvc (gunicorn)", argv, env=self.env, cwd=REPO_ROOT,
                       log_path=self.root / f"authsvc-{port}.log")

    def restart(self) -> float:
        """Start gunicorn again on the same port (clients keep their address); return the
        seconds until /healthz answered."""
        assert self.gunicorn is None or self.gunicorn.proc is None or self.gunicorn.proc.poll() is not None
        started = time.monotonic()
        service = self._gunicorn_service(self.auth_port).start()
        self.gunicorn = service
        url = f"http://127.0.0.1:{self.auth_port}/healthz"
        service.wait_ready(lambda: http_status(url) == 200, timeout=STARTUP_TIMEOUT,
                           what=f"GET {url} answered 200 after the restart")
        return time.monotonic() - started

    # -- processes --------------------------------------------------------------------------

    @property
    def master_pid(self) -> int:
        assert self.gunicorn is not None and self.gunicorn.proc is not None
        return self.gunicorn.proc.pid

    def worker_pids(self) -> set[int]:
        """Live (non-zombie) children of the gunicorn master."""
        return {pid for pid, ppid, state in _processes() if ppid == self.master_pid and state != "Z"}

    def wait_for_workers(self, timeout: float = STARTUP_TIMEOUT, *, without: set[int] = frozenset()) -> set[int]:
        """Poll until the master runs ``workers`` workers, none of them in ``without``."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if len(pids) == self.workers and not pids & without:
                return pids
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn runs workers {sorted(pids)}, expected {self.workers} "
                                     f"new ones besides {sorted(without)}\n{self.log_tail(30)}")
            time.sleep(0.05)  # polling interval

    def kill_worker(self, pid: int) -> None:
        assert pid in self.worker_pids(), f"{pid} is not one of our gunicorn workers"
        os.kill(pid, signal.SIGKILL)

    def kill_everything(self) -> None:
        """``kill -9`` of the master and its workers at once (they share the process group the
        Service started), then wait until none of them lives, so the port is free again."""
        proc = self.gunicorn.proc
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(pgid == proc.pid for pgid in _live_process_groups()):
            assert time.monotonic() < deadline, "gunicorn workers outlived kill -9 of their process group"
            time.sleep(0.02)  # polling interval

    # -- the database -----------------------------------------------------------------------

    @property
    def sqlite_path(self) -> Path | None:
        return None if self.database_url else self.data_dir / "authsvc.db"

    def sql(self, statement: str, **params) -> list[tuple]:
        """Read the database directly (for counting audit rows; never for writing)."""
        from sqlalchemy import create_engine, text
        url = self.database_url or f"sqlite:///{self.sqlite_path}"
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(statement), params)]
        finally:
            engine.dispose()

    def integrity_problems(self) -> list[str]:
        """SQLite: what ``PRAGMA integrity_check`` and ``foreign_key_check`` report besides 'ok'."""
        if self.sqlite_path is None:
            return []
        connection = sqlite3.connect(self.sqlite_path)
        try:
            problems = [row[0] for row in connection.execute("PRAGMA integrity_check") if row[0] != "ok"]
            problems += [f"foreign key violation: {row}" for row in connection.execute("PRAGMA foreign_key_check")]
        finally:
            connection.close()
        return problems

    # -- the REST API, for verification -----------------------------------------------------

    def api(self, method: str, path: str, user: User, body: dict | None = None) -> tuple[int, object]:
        connection = http.client.HTTPConnection("127.0.0.1", self.auth_port, timeout=REQUEST_TIMEOUT)
        headers = {"Authorization": basic(user.name, user.password)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, "/api/v1" + path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        return response.status, (json.loads(payload) if payload else None)


def _processes():
    """(pid, ppid, state) of every process, from /proc."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        yield int(entry.name), int(fields[1]), fields[0]


def _live_process_groups():
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            yield int(fields[2])


def start_server(root: Path, **kwargs) -> Server:
    """A started :class:`Server`, or a failed test (a skip without CI) saying why not."""
    binaries = require_binaries("authsvc", "gunicorn")
    root.mkdir(parents=True, exist_ok=True)
    server = Server(root, binaries, **kwargs)
    failure = None
    try:
        server.start()
    except StartupFailed as exc:
        failure = str(exc)
    if failure is not None:
        server.stop()
        pytest.fail(f"authsvc under gunicorn did not start:\n{failure}", pytrace=False)
    return server


@contextlib.contextmanager
def private_database(root: Path):
    """'' (a SQLite file in the server's data dir), or with TEST_DATABASE_URL a fresh PostgreSQL
    database of its own on that server (tests/conftest.py's template clone), dropped afterwards.
    Never the session stack's database: a test that kills processes must not share it."""
    from tests.conftest import drop_database, fresh_database_url
    root.mkdir(parents=True, exist_ok=True)
    url = fresh_database_url(root)
    try:
        yield url
    finally:
        drop_database(url)


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def claims(token: str) -> dict:
    """The payload of a JWT, unverified (the signature is the registry's business, proven elsewhere)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# -- the population the traffic runs against --------------------------------------------------

#: Registry actions each role holds; anyone may also pull from a public project.
ROLE_ACTIONS = {"admin": {"pull", "push", "delete"}, "maintainer": {"pull", "push", "delete"},
                "developer": {"pull", "push"}, "guest": {"pull"}}


@dataclass
class Population:
    """Users, projects and refresh tokens seeded through the real CLI and /token, with the
    access each user must get.  Nothing the concurrent writers do touches them."""

    private: str
    public: str
    roles: dict[str, dict[str, str]]  # user name -> project -> role
    users: list[User]
    outsider: User                   # member of nothing; wrong passwords are tried against it
    admin: User                      # system administrator (REST API writes and checks)
    refresh: dict[str, str] = field(default_factory=dict)  # user name -> refresh token

    @classmethod
    def seed(cls, server: Server) -> Population:
        owner, dev, guest = server.user("owner"), server.user("dev"), server.user("guest")
        outsider, admin = server.user("outsider"), server.user("admin", admin=True)
        private = server.project("priv", owner=owner, members={dev: "developer", guest: "guest"})
        public = server.project("pub", public=True, owner=owner, members={dev: "maintainer"})
        roles = {owner.name: {private: "admin", public: "admin"}, dev.name: {private: "developer", public: "maintainer"},
                 guest.name: {private: "guest"}, outsider.name: {}, admin.name: {}}
        population = cls(private, public, roles, [owner, dev, guest, outsider], outsider, admin)
        for user in (owner, dev, guest):
            connection = http.client.HTTPConnection("127.0.0.1", server.auth_port, timeout=REQUEST_TIMEOUT)
            connection.request("GET", "/token?service=registry&offline_token=true&client_id=seed",
                               headers={"Authorization": basic(user.name, user.password)})
            response = connection.getresponse()
            body = json.loads(response.read())
            connection.close()
            assert response.status == 200 and body.get("refresh_token"), (response.status, body)
            population.refresh[user.name] = body["refresh_token"]
        return population

    def scopes(self) -> list[str]:
        return [f"repository:{self.private}/app:pull,push", f"repository:{self.private}/lib/x:pull,delete",
                f"repository:{self.public}/app:pull,push", f"repository:{self.public}/tools/y:*",
                "repository:nosuch/app:pull", f"repository:{self.private}/app:pull"]

    def expected_access(self, user: str, scopes: list[str]) -> set[tuple[str, frozenset]]:
        """(repository, actions) pairs a token must carry: per repository, the union of the
        actions requested for it ∩ the actions held, repositories with none left dropped."""
        requested: dict[str, set[str]] = {}
        for scope in scopes:
            _, name, actions = scope.split(":")
            requested.setdefault(name, set()).update(actions.split(","))
        granted = set()
        for name, actions in requested.items():
            project = name.split("/")[0]
            held = set(ROLE_ACTIONS.get(self.roles.get(user, {}).get(project, ""), set()))
            if project == self.public:
                held.add("pull")
            if "*" in actions:
                actions = {"pull", "push", "delete"}
            if actions & held:
                granted.add((name, frozenset(actions & held)))
        return granted


def access_of(token_claims: dict) -> set[tuple[str, frozenset]]:
    return {(entry["name"], frozenset(entry["actions"])) for entry in token_claims.get("access", [])}


# -- the token traffic ------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str
    at: float               # time.monotonic() when the request was sent
    seconds: float
    status: int | None      # None: no HTTP answer (see error)
    error: str = ""
    problem: str = ""       # an answer that was wrong (bad status for the kind, wrong claims)


#: What each kind of request may be answered with.
ACCEPTED = {"basic": {200}, "refresh": {200}, "anonymous": {200}, "wrong": {401, 429}}
#: Addresses the wrong passwords come from: few enough that each is soon throttled.
WRONG_PASSWORD_SOURCES = 8
#: Share of each kind in the mix.
MIX = ["basic"] * 9 + ["refresh"] * 4 + ["anonymous"] * 4 + ["wrong"] * 3


class TokenLoad:
    """``clients`` threads sending token requests as fast as answers come, until :meth:`stop`.

    Each thread keeps one ``http.client`` connection (HTTP/1.1 keep-alive).  gunicorn's sync
    workers, the production worker class, close the connection after each answer, and
    http.client then reconnects for the next request by itself, as a client library would.
    With ``proxy_hops = 1`` the X-Forwarded-For header names the source, as behind a load
    balancer: each thread claims its own address, and wrong passwords come from
    ``WRONG_PASSWORD_SOURCES`` other addresses while the attacked account's owner logs in
    correctly from yet another one.
    """

    def __init__(self, port: int, population: Population, clients: int, *, marker: str, seed: int = 1):
        self.port = port
        self.population = population
        self.clients = clients
        self.marker = marker  # client_id of every request: the audit rows of this traffic carry it
        self.seed = seed
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started = self.stopped = 0.0

    def start(self) -> TokenLoad:
        self.started = time.monotonic()
        for index in range(self.clients):
            thread = threading.Thread(target=self._client, args=(index,), name=f"token-client-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT + 10)
        assert not any(thread.is_alive() for thread in self._threads), "a token client did not finish"
        self.stopped = time.monotonic()

    def run_for(self, seconds: float) -> TokenLoad:
        self.start()
        self._stop.wait(seconds)  # the length of the load phase, not a wait for readiness
        self.stop()
        return self

    # -- one client ---------------------------------------------------------------------------

    def _client(self, index: int) -> None:
        rng = random.Random(self.seed * 100_003 + index)
        source = f"10.{index // 200}.{index % 200}.1"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        while not self._stop.is_set():
            kind = rng.choice(MIX)
            method, path, body, headers, check = self._request(kind, rng, source)
            started = time.monotonic()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._record(Outcome(kind, started, time.monotonic() - started, None, error=repr(exc)))
                if isinstance(exc, ConnectionRefusedError):
                    self._stop.wait(0.05)  # nobody listens (a restart): pace the retries
                continue
            outcome = Outcome(kind, started, time.monotonic() - started, response.status)
            outcome.problem = check(response.status, payload)
            self._record(outcome)
        connection.close()

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _request(self, kind: str, rng: random.Random, source: str):
        population = self.population
        scopes = rng.sample(population.scopes(), rng.randint(1, 3))
        headers = {"X-Forwarded-For": source}
        query = [("service", "registry"), ("client_id", self.marker)] + [("scope", s) for s in scopes]
        if kind == "basic":
            user = rng.choice(population.users)
            if user is population.outsider:
                headers["X-Forwarded-For"] = "192.0.2.1"  # never an address wrong passwords come from
            headers["Authorization"] = basic(user.name, user.password)
            return ("GET", "/token?" + urlencode(query), None, headers,
                    self._granted(user.name, scopes))
        if kind == "anonymous":
            return "GET", "/token?" + urlencode(query), None, headers, self._granted("", scopes)
        if kind == "refresh":
            name = rng.choice(sorted(population.refresh))
            form = [("grant_type", "refresh_token"), ("refresh_token", population.refresh[name]),
                    ("service", "registry"), ("client_id", self.marker), ("scope", " ".join(scopes))]
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return "POST", "/token", urlencode(form).encode(), headers, self._granted(name, scopes)
        headers["Authorization"] = basic(population.outsider.name, "not-" + population.outsider.password)
        headers["X-Forwarded-For"] = f"203.0.113.{1 + rng.randrange(WRONG_PASSWORD_SOURCES)}"
        return "GET", "/token?" + urlencode(query), None, headers, self._refused

    def _granted(self, user: str, scopes: list[str]):
        expected = self.population.expected_access(user, scopes)

        def check(status: int, payload: bytes) -> str:
            if status != 200:
                return f"{status} for {user or 'anonymous'} {scopes}: {payload[:200]!r}"
            try:
                token_claims = claims(json.loads(payload)["token"])
            except (ValueError, KeyError, IndexError) as exc:
                return f"200 without a readable token ({exc!r}): {payload[:200]!r}"
            if token_claims.get("sub") != user or access_of(token_claims) != expected:
                return (f"{user or 'anonymous'} asked {scopes}: got sub={token_claims.get('sub')!r} "
                        f"access={sorted(access_of(token_claims))}, expected {sorted(expected)}")
            return ""
        return check

    @staticmethod
    def _refused(status: int, payload: bytes) -> str:
        if status not in ACCEPTED["wrong"]:
            return f"wrong password answered {status}: {payload[:200]!r}"
        try:
            code = json.loads(payload)["errors"][0]["code"]
        except (ValueError, KeyError, IndexError):
            return f"{status} without a JSON error: {payload[:200]!r}"
        return "" if code in ("UNAUTHORIZED", "TOO_MANY_REQUESTS") else f"{status} with code {code}"

    # -- the story ----------------------------------------------------------------------------

    def between(self, start: float = 0.0, end: float = float("inf")) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if start <= o.at < end]

    @staticmethod
    def server_errors(outcomes: list[Outcome]) -> list[Outcome]:
        return [o for o in outcomes if o.status is not None and o.status >= 500]

    @staticmethod
    def connection_errors(outcomes: list[Outcome]) -> list[Outcome]:
        return [o for o in outcomes if o.status is None]

    @staticmethod
    def problems(outcomes: list[Outcome]) -> list[Outcome]:
        return [o for o in outcomes if o.problem]

    def summary(self, outcomes: list[Outcome] | None = None) -> str:
        outcomes = self.between() if outcomes is None else outcomes
        seconds = max(1e-9, (self.stopped or time.monotonic()) - self.started)
        answered = sorted(o.seconds for o in outcomes if o.status is not None)
        statuses = Counter((o.kind, o.status) for o in outcomes)
        lines = [f"{len(outcomes)} requests from {self.clients} clients in {seconds:.1f} s = "
                 f"{len(outcomes) / seconds:.0f} req/s"]
        if answered:
            lines.append(f"latency p50 {answered[len(answered) // 2] * 1000:.0f} ms, "
                         f"p99 {answered[int(len(answered) * 0.99)] * 1000:.0f} ms, max {answered[-1] * 1000:.0f} ms")
        lines.append("by kind and status: " + ", ".join(f"{k}/{s}: {n}" for (k, s), n in sorted(
            statuses.items(), key=lambda item: (item[0][0], item[0][1] or 0))))
        return "\n".join(lines)

    def explain(self, outcomes: list[Outcome], limit: int = 10) -> str:
        return "\n".join(f"  +{o.at - self.started:.2f}s {o.kind}: {o.status or o.error} {o.problem}"
                         for o in outcomes[:limit])


# -- administrators writing meanwhile ---------------------------------------------------------

@dataclass
class Model:
    """What the acknowledged writes must have left behind."""

    users: dict[str, dict] = field(default_factory=dict)      # name -> {"admin": bool, "active": bool}
    projects: dict[str, bool] = field(default_factory=dict)   # name -> public
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # project -> user -> role


class CliWriter:
    """One thread running ``authsvc`` commands back to back until stopped: create a user, create a
    project owned by them, add the previous user as a member, and now and then change a role,
    deactivate a user or flip a project's visibility.  Only a command that exited 0 changes
    :attr:`model`; every other exit is kept in :attr:`failures`."""

    def __init__(self, server: Server, prefix: str):
        self.server = server
        self.prefix = prefix
        self.model = Model()
        self.failures: list[str] = []
        self.acknowledged = 0
        self.seconds: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cli-{prefix}", daemon=True)

    def start(self) -> CliWriter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(240)
        assert not self._thread.is_alive(), "the CLI writer did not finish"

    def _cli(self, *args: str, input: str | None = None) -> bool:
        started = time.monotonic()
        result = self.server.authsvc(*args, input=input, check=False)
        self.seconds.append(time.monotonic() - started)
        if result.returncode != 0:
            self.failures.append(describe(result))
            return False
        self.acknowledged += 1
        return True

    def _run(self) -> None:
        model, p = self.model, self.prefix
        for i in itertools.count():
            if self._stop.is_set():
                return
            user, project = f"{p}-u{i}", f"{p}-p{i}"
            admin = i % 5 == 0
            if self._cli("user", "create", user, "--password-stdin", *(["--admin"] if admin else []),
                         input=f"{user}-Password\n"):
                model.users[user] = {"admin": admin, "active": True}
            public = i % 2 == 1
            if self._cli("project", "create", project, *(["--public"] if public else []), "--owner", user):
                model.projects[project] = public
                model.members[project] = {user: "admin"}
            if i >= 1 and self._cli("member", "add", project, f"{p}-u{i - 1}", "--role", "developer"):
                model.members[project][f"{p}-u{i - 1}"] = "developer"
            if i >= 2 and i % 3 == 0 and self._cli("member", "set-role", f"{p}-p{i - 1}", f"{p}-u{i - 2}", "guest"):
                model.members[f"{p}-p{i - 1}"][f"{p}-u{i - 2}"] = "guest"
            if i >= 1 and i % 4 == 1 and self._cli("user", "update", f"{p}-u{i - 1}", "--inactive"):
                model.users[f"{p}-u{i - 1}"]["active"] = False
            if i >= 1 and i % 4 == 3:
                flipped = not model.projects[f"{p}-p{i - 1}"]
                if self._cli("project", "set-visibility", f"{p}-p{i - 1}", "public" if flipped else "private"):
                    model.projects[f"{p}-p{i - 1}"] = flipped


class ApiWriter:
    """One thread creating users through POST /api/v1/users as a system administrator.  A 201
    is an acknowledged write; a request without an answer (the server was killed) is in doubt
    and proves nothing either way; anything else is a failure."""

    def __init__(self, server: Server, admin: User, prefix: str):
        self.server = server
        self.admin = admin
        self.prefix = prefix
        self.acknowledged: list[str] = []
        self.in_doubt: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"api-{prefix}", daemon=True)

    def start(self) -> ApiWriter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(REQUEST_TIMEOUT + 10)
        assert not self._thread.is_alive(), "the API writer did not finish"

    def _run(self) -> None:
        for i in itertools.count():
            if self._stop.is_set():
                return
            name = f"{self.prefix}-{i}"
            try:
                status, body = self.server.api("POST", "/users", self.admin,
                                               {"name": name, "password": f"{name}-Password"})
            except (OSError, http.client.HTTPException):
                self.in_doubt.append(name)
                self._stop.wait(0.05)  # pace retries while nobody listens
                continue
            if status == 201:
                self.acknowledged.append(name)
            else:
                self.failures.append(f"POST /api/v1/users {name}: {status} {body}")


def verify_model(server: Server, models: list[Model]) -> list[str]:
    """Every acknowledged write, read back through the CLI (users, projects) and the REST API
    (members): the differences, or [] when nothing was lost."""
    missing: list[str] = []
    listed = server.authsvc("user", "list", "--json")
    users = {row["name"]: row for row in json.loads(listed.stdout)}
    listed = server.authsvc("project", "list", "--json")
    projects = {row["name"]: row for row in json.loads(listed.stdout)}
    for model in models:
        for name, expected in model.users.items():
            row = users.get(name)
            if row is None or row["admin"] != expected["admin"] or row["active"] != expected["active"]:
                missing.append(f"user {name}: expected {expected}, listed {row}")
        for name, public in model.projects.items():
            row = projects.get(name)
            if row is None or row["public"] != public:
                missing.append(f"project {name}: expected public={public}, listed {row}")
    admin = _verifier(server)
    for model in models:
        for project, members in model.members.items():
            status, body = server.api("GET", f"/projects/{quote(project)}/members?page_size=100", admin)
            found = {row["user"]: row["role"] for row in body} if status == 200 else {"status": status}
            if found != members:
                missing.append(f"members of {project}: expected {members}, found {found}")
    return missing


def _verifier(server: Server) -> User:
    """A system administrator for reading members back over the REST API."""
    return server.user("verifier", admin=True)


def wait_until(condition, *, timeout: float, what: str) -> float:
    """Poll ``condition`` until true; return the seconds it took (AssertionError on timeout)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)  # polling interval
    return time.monotonic() - started


__all__ = ["ApiWriter", "CliWriter", "Model", "Population", "Server", "TokenLoad", "claims", "duration",
           "private_database", "start_server", "verify_model", "wait_until"]
