"""The cold storm (issue 23): many distinct callers asking once each, against cold instances.

What a cluster of nodes does after a restart, or a CI fleet at nine in the morning: 500 robots and
500 people each ask for one pull token once, 64 requests in flight at a time, spread round-robin
(as a load balancer would) over three authsvc instances under the production gunicorn settings
(``config/gunicorn.conf.py``, bcrypt cost 12) that share one PostgreSQL -- a throw-away cluster
of the storm's own (:func:`harness.throwaway_postgres`), with or without ``--postgres``.

*Cold* means that every instance was started just before its storm (empty verified-credential
caches, new database connections) and that every credential is used exactly once, so no request
can be spared its check: a robot's secret is a SHA-256 lookup, a person's password one bcrypt
check.  Nothing is sent before the storm -- not even a check that tokens grant what they should,
which would warm what the storm must find cold; every answer's granted access is checked after it.

Beside it the same 500 people against the registry's own ``auth: htpasswd`` (Debian
``docker-registry``): one ``GET /v2/`` each, 64 at a time.  The people's bcrypt hashes are made
once, in a process pool, and used by both: authsvc stores ``bcrypt-sha256$`` + bcrypt of the
password's base64 SHA-256 (``services/authn/passwords.py``), so the htpasswd file holds the very
same bcrypt hash (Go's bcrypt reads the ``$2b$`` prefix as it is) and the registry is sent that
44-character pre-hash as the password.  Each side then runs one bcrypt at the same cost over the
same 44 bytes per request.

The client is 64 Python threads, each with a keep-alive connection per instance (gunicorn's sync
workers close theirs after each answer; the registry keeps them), drawing the next request from
one shared list, so each is sent exactly once.  The wall time runs from the first request sent to
the last answer read; the client's own CPU time is measured and reported beside the servers'.
Any refused request (any status but 200, or a socket error) makes the run an error, not a figure,
except under ``--quick`` (50 + 50 at bcrypt cost 8), which reports them and goes on.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import secrets
import threading
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from .harness import (
    BenchmarkError,
    Figure,
    ProductionStack,
    bcrypt_seconds,
    children,
    cpu_ms,
    load_average,
    process_tree_cpu_ms,
    throwaway_postgres,
    worker_cpu_ms,
)
from .tokens import SERVICE, claims

CALLERS = 500
QUICK_CALLERS = 50
IN_FLIGHT = 64
INSTANCES = 3
COST = 12
QUICK_COST = 8
ROBOT_PROJECTS = ("storm-r1", "storm-r2", "storm-r3", "storm-r4", "storm-r5")
PEOPLE_PROJECT = "storm-people"
#: Seconds the workers of a fresh instance may take to boot.
BOOT_TIMEOUT = 120
#: A booting worker (importing Flask, SQLAlchemy, the app) burns a core; an idle sync worker next
#: to nothing: all of an instance's workers booted once they used less than this in IDLE_WINDOW.
IDLE_CPU_MS = 20.0
IDLE_WINDOW = 0.5


@dataclass(frozen=True)
class Ask:
    """One request of a storm: which instance it goes to, what it sends, whom and what it asks for."""

    instance: int
    target: str
    authorization: str
    subject: str
    repository: str | None  # the repository it asks pull on; None: the registry's GET /v2/


@dataclass
class Answer:
    status: int | None  # None: a socket error
    body: bytes
    started: float
    seconds: float


@dataclass
class Storm:
    """What one storm measured: answers in the order of the asks, wall time, client CPU."""

    answers: list[Answer]
    wall: float
    client_cpu_ms: float
    load_before: str
    load_after: str
    server_cpu_ms: dict[str, float] = field(default_factory=dict)
    #: authsvc's own time per token request (its request log's duration), in milliseconds
    server_ms: list[float] = field(default_factory=list)


def _hash(item: tuple[str, int]) -> str:
    """The app's own password hash (a process-pool task: module level, so it can be pickled)."""
    from authsvc.services.authn.passwords import hash_password
    password, rounds = item
    return hash_password(password, rounds)


def prehash(password: str) -> str:
    """What authsvc feeds bcrypt for ``password`` (services/authn/passwords.py): base64 SHA-256."""
    return base64.b64encode(hashlib.sha256(password.encode()).digest()).decode()


def basic(name: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()


def token_query(account: str, repository: str) -> str:
    return "/token?" + urllib.parse.urlencode([("account", account), ("service", SERVICE),
                                                ("scope", f"repository:{repository}:pull")])


@dataclass
class Seeded:
    robots: list[tuple[str, str, str]]  # (login, secret, project)
    people: list[tuple[str, str, str]]  # (name, password, stored hash)
    hashing_seconds: float
    seeding_seconds: float


def make_people(count: int, cost: int) -> tuple[list[tuple[str, str, str]], float]:
    """``count`` people with distinct random passwords and their bcrypt hashes, made in a process
    pool over every core (500 at cost 12: about 110 s of CPU)."""
    passwords = [(f"storm-person-{n:03d}", secrets.token_urlsafe(18)) for n in range(count)]
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashes = list(pool.map(_hash, [(password, cost) for _, password in passwords], chunksize=8))
    return [(name, password, hashed) for (name, password), hashed in zip(passwords, hashes)], \
        time.monotonic() - started


def seed(stack: ProductionStack, robot_count: int, people: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Projects and robots through the service layer (robots' secrets stored as the app stores
    them), then the people and their memberships (Developer of PEOPLE_PROJECT) by bulk insert with
    the precomputed hashes, after ``authsvc init``.  Returns the robots' (login, secret, project)."""
    from sqlalchemy import insert, select

    from authsvc.core.policy import OPERATOR, Role
    from authsvc.services.access import projects
    from authsvc.services.credentials import robots
    from authsvc.store.models import Membership, Project, User, db
    from tests.support.units import unit

    made = []
    with stack.app_context():
        uow = unit(source="benchmark-seed")
        for project in (*ROBOT_PROJECTS, PEOPLE_PROJECT):
            projects.create_project(uow, OPERATOR, project, public=False)
        for number in range(robot_count):
            project = ROBOT_PROJECTS[number % len(ROBOT_PROJECTS)]
            created = robots.create(uow, OPERATOR, project, f"node-{number:03d}", actions="pull",
                                    never_expires=True, description="cold storm")
            made.append((created.login, created.secret, project))
        uow.commit()
        session = db.session
        session.execute(insert(User.__table__), [{"name": name, "password_hash": hashed}
                                                 for name, _, hashed in people])
        ids = dict(session.execute(select(User.name, User.id).where(User.name.like("storm-person-%"))).all())
        project_id = session.execute(select(Project.id).where(Project.name == PEOPLE_PROJECT)).scalar_one()
        session.execute(insert(Membership.__table__), [{"project_id": project_id, "user_id": ids[name],
                                                        "role": Role.DEVELOPER} for name, _, _ in people])
        session.commit()
        if len(ids) != len(people):
            raise BenchmarkError(f"seeded {len(ids)} people, expected {len(people)}")
    return made


# -- the client ----------------------------------------------------------------------------------

def storm(addresses: list[tuple[str, int]], asks: list[Ask], in_flight: int) -> Storm:
    """Send every ask exactly once, ``in_flight`` at a time, each to its instance's address."""
    answers: list[Answer | None] = [None] * len(asks)
    position = iter(range(len(asks)))
    take = threading.Lock()
    threads = min(in_flight, len(asks))
    gate = threading.Barrier(threads + 1)

    def client() -> None:
        connections = [http.client.HTTPConnection(host, port, timeout=60) for host, port in addresses]
        gate.wait()
        try:
            while True:
                with take:
                    index = next(position, None)
                if index is None:
                    return
                ask = asks[index]
                connection = connections[ask.instance]
                started = time.perf_counter()
                try:
                    connection.request("GET", ask.target, headers={"Authorization": ask.authorization})
                    response = connection.getresponse()
                    body = response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()  # the next request opens a new one
                    status, body = None, f"{type(exc).__name__}: {exc}".encode()
                answers[index] = Answer(status, body, started, time.perf_counter() - started)
        finally:
            for connection in connections:
                connection.close()

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    load_before = load_average()
    cpu_before = time.process_time()
    gate.wait()
    for worker in workers:
        worker.join()
    client_cpu = (time.process_time() - cpu_before) * 1000
    done = [answer for answer in answers if answer is not None]
    if len(done) != len(asks):
        raise BenchmarkError(f"the storm's client lost {len(asks) - len(done)} answers")
    wall = max(a.started + a.seconds for a in done) - min(a.started for a in done)
    return Storm(done, wall, client_cpu, load_before, load_average())


def problems(result: Storm, asks: list[Ask]) -> list[str]:
    """Every answer that is not a 200, or (token answers) whose token does not grant exactly the
    pull that was asked for, to the caller who asked."""
    found = []
    for ask, answer in zip(asks, result.answers):
        if answer.status != 200:
            found.append(f"{ask.subject}: {answer.status} {answer.body[:200].decode(errors='replace')}")
        elif ask.repository is not None:
            try:
                token = claims(json.loads(answer.body)["token"])
            except (ValueError, KeyError, IndexError) as exc:
                found.append(f"{ask.subject}: no token in the answer ({exc})")
                continue
            want = [{"type": "repository", "name": ask.repository, "actions": ["pull"]}]
            if token.get("access") != want or token.get("sub") != ask.subject:
                found.append(f"{ask.subject}: token for {token.get('sub')} grants {token.get('access')}, "
                             f"expected {want}")
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# -- the servers ---------------------------------------------------------------------------------

def wait_booted(service, timeout: float = BOOT_TIMEOUT) -> int:
    """Wait until every worker of a gunicorn has booted (loaded the app): /readyz answered by one
    worker says nothing of the others, and a storm must not time their imports.  Booted means the
    master's children stay the same and together use less than IDLE_CPU_MS in IDLE_WINDOW, twice
    in a row.  Returns the number of workers."""
    deadline = time.monotonic() + timeout
    quiet = 0
    pids = children(service.proc.pid)
    used = cpu_ms(pids)
    while True:
        time.sleep(IDLE_WINDOW)
        now_pids = children(service.proc.pid)
        now_used = cpu_ms(now_pids)
        quiet = quiet + 1 if now_pids == pids and pids and now_used - used < IDLE_CPU_MS else 0
        if quiet >= 2:
            return len(pids)
        if time.monotonic() > deadline:
            raise BenchmarkError(f"{service.name}: workers {now_pids} still busy after {timeout} s")
        pids, used = now_pids, now_used


def fresh_instances(stack: ProductionStack, label: str) -> list:
    """INSTANCES new gunicorns on the stack's data (one key, one database), every worker booted."""
    services = [stack.variant(f"storm-{label}-{n}") for n in range(INSTANCES)]
    for service in services:
        wait_booted(service)
    return services


_TOKEN_LINE = re.compile(r'"GET /token\?account=(?:robot\.)?storm-\S+ HTTP/1\.1" \d{3} ([0-9.]+)ms')


def server_times(services) -> list[float]:
    """authsvc's own time for each token request (from the first before-request hook to the
    answer: no queueing), from the instances' request logs."""
    return [float(match.group(1)) for service in services
            for match in _TOKEN_LINE.finditer(service.log_path.read_text(errors="replace"))]


def stop_all(stack: ProductionStack, services: list) -> None:
    for service in services:
        service.stop()
        stack.extra_servers.remove(service)


# -- the benchmark -------------------------------------------------------------------------------

def run_storm(run) -> None:
    count = QUICK_CALLERS if run.quick else CALLERS
    cost = QUICK_COST if run.quick else COST
    report = run.report
    with contextlib.ExitStack() as cleanup:
        database_url, database_pid = throwaway_postgres(run.root, cleanup)
        stack = ProductionStack(run.root, run.bins(), workers=run.workers, name="storm",
                                settings={"AUTHSVC_DATABASE_URL": database_url,
                                          "AUTHSVC_BCRYPT_ROUNDS": str(cost)})
        cleanup.callback(stack.stop)
        stack.init()
        people, hashing = make_people(count, cost)
        started = time.monotonic()
        robots = seed(stack, count, people)
        report.detail(f"{count} people's bcrypt cost-{cost} hashes made in {hashing:.1f} s "
                      f"({os.cpu_count()} processes); {count} robots over {len(ROBOT_PROJECTS)} projects, "
                      f"{count} people (Developer of {PEOPLE_PROJECT}) seeded in {time.monotonic() - started:.1f} s")

        robot_asks = [Ask(n % INSTANCES, token_query(login, f"{project}/app"), basic(login, secret), login,
                          f"{project}/app") for n, (login, secret, project) in enumerate(robots)]
        people_asks = [Ask(n % INSTANCES, token_query(name, f"{PEOPLE_PROJECT}/app"), basic(name, password), name,
                           f"{PEOPLE_PROJECT}/app") for n, (name, password, _) in enumerate(people)]
        results = {}
        workers = 0
        for label, asks in (("robots", robot_asks), ("people", people_asks)):
            services = fresh_instances(stack, label)
            workers = len(children(services[0].proc.pid))
            addresses = [("127.0.0.1", service.port) for service in services]
            before = sum(worker_cpu_ms(s) for s in services), process_tree_cpu_ms(database_pid)
            result = storm(addresses, asks, IN_FLIGHT)
            result.server_cpu_ms = {"authsvc workers": sum(worker_cpu_ms(s) for s in services) - before[0],
                                    "PostgreSQL": process_tree_cpu_ms(database_pid) - before[1]}
            result.server_ms = server_times(services)
            results[label] = result
            stop_all(stack, services)

        htpasswd_asks, results["htpasswd"] = htpasswd_storm(run, stack, people)
        setting = (f"{INSTANCES} instances x {workers} workers, round-robin, one PostgreSQL; "
                   f"bcrypt cost {cost}")
        describe(run, results, {"robots": robot_asks, "people": people_asks, "htpasswd": htpasswd_asks},
                 count, cost, setting)


def htpasswd_storm(run, stack: ProductionStack, people: list[tuple[str, str, str]]) -> tuple[list[Ask], Storm]:
    """The same people, the same hashes, against a fresh registry with ``auth: htpasswd``."""
    from .images import Registries

    registries = Registries(run, stack)
    registries.htpasswd = run.root / "storm-htpasswd"
    registries.htpasswd.write_text("".join(f"{name}:{hashed.split('$', 1)[1]}\n" for name, _, hashed in people))
    registry = registries.start("htpasswd", "storm-htpasswd")
    try:
        asks = [Ask(0, "/v2/", basic(name, prehash(password)), name, None) for name, password, _ in people]
        before = cpu_ms([registry.proc.pid])
        result = storm([("127.0.0.1", registry.port)], asks, IN_FLIGHT)
        result.server_cpu_ms = {"registry": cpu_ms([registry.proc.pid]) - before}
    finally:
        registry.stop()
    return asks, result


def describe(run, results: dict[str, Storm], asks: dict[str, list[Ask]], count: int, cost: int,
             setting: str) -> None:
    """The detail lines and the figures; any refusal fails the benchmark unless --quick."""
    from authsvc.settings import Settings
    report = run.report
    deadline = Settings().request_deadline
    failures = []
    figures: dict[str, dict[str, float]] = {}
    for label, result in results.items():
        found = problems(result, asks[label])
        latencies = [a.seconds * 1000 for a in result.answers]
        figures[label] = {"wall": result.wall, "rate": len(result.answers) / result.wall,
                          "p50": percentile(latencies, 0.50), "p99": percentile(latencies, 0.99)}
        cpu = "; ".join(f"{name} {ms / len(result.answers):.2f}" for name, ms in
                        (*result.server_cpu_ms.items(), ("client", result.client_cpu_ms)))
        report.detail(f"{label}: {len(result.answers)} requests in {result.wall:.2f} s, "
                      f"{figures[label]['rate']:.0f} req/s, p50 {figures[label]['p50']:.1f} ms, "
                      f"p90 {percentile(latencies, 0.90):.1f} ms, p99 {figures[label]['p99']:.1f} ms, "
                      f"max {max(latencies):.1f} ms; refused {len(found)}; CPU ms per request: {cpu}; "
                      f"load average {result.load_before} -> {result.load_after}")
        if result.server_ms:
            over = sum(ms > deadline * 1000 for ms in result.server_ms)
            report.detail(f"{label}: authsvc's own time per request (request log, no queueing): "
                          f"p50 {percentile(result.server_ms, 0.5):.1f} ms, "
                          f"p99 {percentile(result.server_ms, 0.99):.1f} ms, "
                          f"max {max(result.server_ms):.1f} ms; {over} over request_deadline ({deadline} s), "
                          f"which answers 503")
        for problem in found[:5]:
            report.detail(f"  {label} refused: {problem}")
        figures[label]["refused"] = len(found)
        if found:
            failures.append(f"{label}: {len(found)} of {len(result.answers)} refused, e.g. {found[0]}")
    floor = count * bcrypt_seconds(cost) / (os.cpu_count() or 1)
    report.detail(f"bcrypt floor for the people: {count} x one cost-{cost} check / {os.cpu_count()} cores "
                  f"= {floor:.1f} s")
    if failures and not run.quick:
        raise BenchmarkError("cold storm: " + "; ".join(failures))
    notes = {"robots": f"{count} robots once each, {IN_FLIGHT} in flight, {setting}",
             "people": f"{count} people once each, {IN_FLIGHT} in flight, {setting}",
             "htpasswd": f"the same {count} people and hashes, GET /v2/, {IN_FLIGHT} in flight, one registry"}
    units = {"wall": "s", "rate": "req/s", "p50": "ms", "p99": "ms"}
    for label in ("robots", "people", "htpasswd"):
        # The whole setting once, on the wall-time line; the others say what must hold of them.
        first = (f"{notes[label]}; refused {figures[label]['refused']:.0f}; "
                 f"load average at its start {results[label].load_before}")
        for metric, unit in units.items():
            against = figures["htpasswd"][metric] if label == "people" else None
            note = first if metric == "wall" else f"refused {figures[label]['refused']:.0f}"
            report.add(Figure(f"storm.{label}.{metric}", figures[label][metric], unit, against,
                              "registry htpasswd", None, note))
    report.add(Figure("storm.robots_vs_people.rate", figures["robots"]["rate"], "req/s", figures["people"]["rate"],
                      "people", None, "the same storm with robots' SHA-256 secrets instead of people's passwords"))
