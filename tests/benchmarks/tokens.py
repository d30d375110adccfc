"""Token throughput (items 1 and 2) and worker memory (item 5) against the bare Flask baseline.

Three request shapes, each a request file that wrk draws from at random:

* ``basic``: GET with the same Basic credentials again and again, as podman,
  skopeo and containerd send them (several users, 1-3 scopes per request);
* ``refresh``: POST ``grant_type=refresh_token`` as docker sends after ``docker login``;
* ``anonymous``: GET without credentials for repositories of public projects.

Each shape runs against three servers under the same gunicorn command and
configuration: authsvc (production defaults, ``audit_token_grants = true``),
authsvc with ``audit_token_grants = false`` on the same database, and the
bare Flask endpoint.  Runs are interleaved and their order rotated between
repetitions; each figure is the median over repetitions.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import threading
import time
import urllib.parse
from pathlib import Path

from .harness import (
    BenchmarkError,
    Figure,
    Load,
    ProductionStack,
    WrkResult,
    children,
    median,
    process_tree_cpu_ms,
    rotate,
    service_url,
    worker_cpu_ms,
    worker_rss,
    write_requests,
    wrk,
)

PASSWORD_SUFFIX = "-bench-Secret-1"
SERVICE = "registry"
USERS = ("bench-alice", "bench-bob", "bench-carol", "bench-dave")
PRIVATE = ("bench-p1", "bench-p2", "bench-p3")
PUBLIC = ("bench-pub1", "bench-pub2")
#: Scope sets of the authenticated shapes: 1, 2 and 3 scopes, pull and push (every user is a
#: developer or admin of every private project, so each request is granted in full).
SCOPE_SETS = (
    ("repository:bench-p1/app:pull",),
    ("repository:bench-p2/web:pull,push",),
    ("repository:bench-p3/app:pull",),
    ("repository:bench-p1/app:pull", "repository:bench-p2/base:pull"),
    ("repository:bench-p3/app:pull,push", "repository:bench-p1/base:pull"),
    ("repository:bench-p1/app:pull", "repository:bench-p2/lib:pull", "repository:bench-p3/tool:pull,push"),
)
ANONYMOUS_SCOPE_SETS = (
    ("repository:bench-pub1/app:pull",),
    ("repository:bench-pub2/web:pull",),
    ("repository:bench-pub1/app:pull", "repository:bench-pub1/base:pull"),
    ("repository:bench-pub1/app:pull", "repository:bench-pub2/lib:pull", "repository:bench-pub2/base:pull"),
)
#: Each pattern's target against the bare view.  Issue 12 asked 0.6 of all three; issue 23 asks
#: 0.75 of all three on the embedded SQLite, and where several instances share one PostgreSQL
#: (a round trip a request) 0.6 for Basic and refresh, 0.7 for anonymous.
TARGETS = {"": {"basic": ">= 0.75", "refresh": ">= 0.75", "anonymous": ">= 0.75"},
           ".postgresql": {"basic": ">= 0.6", "refresh": ">= 0.6", "anonymous": ">= 0.7"}}
#: Seconds the warm-up of the credential caches may take (bcrypt for every user in every worker).
WARM_TIMEOUT = 300


def password(user: str) -> str:
    return user + PASSWORD_SUFFIX


def basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password(user)}".encode()).decode()


def seed(stack: ProductionStack) -> None:
    """Users (bcrypt cost 12), private projects with every user a developer or admin, public projects,
    through the service layer (what the CLI runs)."""
    from authsvc.core.policy import OPERATOR
    from authsvc.services.access import accounts, projects
    from tests.support.units import unit

    with stack.app_context():
        uow = unit(source="benchmark-seed")
        for user in USERS:
            accounts.create_user(uow, OPERATOR, user, password(user))
        for index, project in enumerate(PRIVATE):
            owner = USERS[index % len(USERS)]
            projects.create_project(uow, OPERATOR, project, public=False, owner=owner)
            for user in USERS:
                if user != owner:
                    projects.add_member(uow, OPERATOR, project, user, "developer")
        for project in PUBLIC:
            projects.create_project(uow, OPERATOR, project, public=True, owner=USERS[0])
        projects.create_project(uow, OPERATOR, "bench-img", public=False, owner=USERS[0])
        uow.commit()


def _query(scopes: tuple[str, ...], **params: str) -> str:
    return "/token?" + urllib.parse.urlencode([*params.items(), ("service", SERVICE),
                                                *(("scope", s) for s in scopes)])


def basic_requests(users=USERS) -> list[tuple]:
    """podman/skopeo/containerd: GET with Basic credentials on every token request."""
    return [("GET", _query(scopes, account=user), None, {"Authorization": basic(user)})
            for user in users for scopes in SCOPE_SETS]


def refresh_requests(tokens: dict[str, str]) -> list[tuple]:
    """docker after ``docker login``: POST grant_type=refresh_token with its identity token."""
    lines = []
    for user, token in tokens.items():
        for scopes in SCOPE_SETS:
            body = urllib.parse.urlencode([("grant_type", "refresh_token"), ("refresh_token", token),
                                           ("service", SERVICE), ("client_id", "docker"),
                                           *(("scope", s) for s in scopes)])
            lines.append(("POST", "/token", body, {"Content-Type": "application/x-www-form-urlencoded"}))
    return lines


def anonymous_requests() -> list[tuple]:
    return [("GET", _query(scopes), None, {}) for scopes in ANONYMOUS_SCOPE_SETS]


def send(url: str, line: tuple) -> tuple[int, dict]:
    """One request of a request file, outside wrk: status and JSON body."""
    method, target, body, headers = line
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, {"raw": data[:200].decode(errors="replace")}


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def check_grants(url: str, lines: list[tuple]) -> None:
    """Every request of a shape is answered 200 with every requested action granted: the benchmark
    measures real grants, not refusals or empty tokens."""
    for line in lines:
        status, body = send(url, line)
        if status != 200 or "token" not in body:
            raise BenchmarkError(f"{line[0]} {line[1][:120]} answered {status}: {body}")
        requested = _scopes_of(line)
        granted = {f"{a['type']}:{a['name']}:{','.join(sorted(a['actions']))}" for a in claims(body["token"])["access"]}
        want = {f"{t}:{n}:{','.join(sorted(acts.split(',')))}" for t, n, acts in (s.rsplit(":", 2) for s in requested)}
        if granted != want:
            raise BenchmarkError(f"{line[1][:120]}: granted {sorted(granted)}, expected {sorted(want)}")


def _scopes_of(line: tuple) -> list[str]:
    method, target, body, _ = line
    query = body if method == "POST" else urllib.parse.urlsplit(target).query
    return [v for k, v in urllib.parse.parse_qsl(query) if k == "scope"]


def refresh_token(url: str, user: str) -> str:
    """What ``docker login`` does: one Basic GET with offline_token=true (one bcrypt)."""
    status, body = send(url, ("GET", _query((), account=user, offline_token="true", client_id="docker"),
                              None, {"Authorization": basic(user)}))
    if status != 200 or "refresh_token" not in body:
        raise BenchmarkError(f"no refresh token for {user}: {status} {body}")
    return body["refresh_token"]


def warm(run, service, lines: list[tuple], *, what: str) -> tuple[int, float | None]:
    """Fill every worker's credential cache before a measured run.  Returns the requests it took
    and the (monotonic) time of the last slow answer, i.e. of the newest cache entry, or None if
    every answer was fast (the caches were full already).

    Python clients, three per worker so that every worker keeps taking connections (at low
    concurrency the kernel hands most connections to the same few workers, and the others stay
    cold), send requests drawn from ``lines`` until the last ``10 x workers x users`` answers
    all came faster than half a bcrypt check and no request still in flight is that old.  Our
    own client sees requests that are still running, which wrk does not report.
    """
    workers = len(children(service.proc.pid))
    users = len({line[3].get("Authorization") for line in lines})
    needed = 10 * workers * users
    slow = run.bcrypt_ms / 2000
    url = service_url(service)
    state = {"fast_in_a_row": 0, "total": 0, "done": False, "error": None, "last_slow": None}
    in_flight: dict[int, float] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + WARM_TIMEOUT

    def client(number: int) -> None:
        rng = random.Random(number)
        while not state["done"]:
            start = time.monotonic()
            with lock:
                in_flight[number] = start
            try:
                status, body = send(url, rng.choice(lines))
            except OSError as exc:
                status, body = None, str(exc)
            elapsed = time.monotonic() - start
            with lock:
                del in_flight[number]
                state["total"] += 1
                if status != 200:
                    state["error"], state["done"] = f"answered {status}: {body}", True
                now = time.monotonic()
                if elapsed < slow:
                    state["fast_in_a_row"] += 1
                else:
                    state["fast_in_a_row"], state["last_slow"] = 0, now
                if state["fast_in_a_row"] >= needed and all(now - t < slow for t in in_flight.values()):
                    state["done"] = True
                if now > deadline:
                    state["error"], state["done"] = "timed out", True

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(3 * workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if state["error"]:
        raise BenchmarkError(f"{what}: warm-up failed after {state['total']} requests: {state['error']}")
    return state["total"], state["last_slow"]


def measure(run, shape: str, request_file: Path, lines: list[tuple], services: dict
            ) -> tuple[dict[str, list[WrkResult]], dict[str, list[float]], dict[str, list[float]]]:
    """Interleaved runs of every server, order rotated per repetition; returns the wrk results,
    the workers' CPU milliseconds per request of each run, and (``--postgres``) the database
    server's.

    Each run is preceded by an untimed warm-up.  For Basic credentials that fills every worker's
    credential cache, and every measured run must start with a cache filled just before it: an
    entry lives ``credential_cache_ttl`` seconds from the bcrypt check that made it (hits do not
    extend it), so entries left from an earlier warm-up could expire in the middle of a run and
    put a handful of bcrypt checks into some runs and not others.  So before warming a server
    again, wait until the entries of its previous warm-up have expired.  (The steady-state cost
    of those refreshes is reported separately, see :func:`refresh_cost`.)  Other shapes get one
    second of load (imports, connection pools, page cache).
    """
    urls = {label: service_url(service) for label, service in services.items()}
    results: dict[str, list[WrkResult]] = {label: [] for label in urls}
    cpu: dict[str, list[float]] = {label: [] for label in urls}
    #: --postgres: the database server's CPU per request of each run (the bare endpoint has none)
    db_cpu: dict[str, list[float]] = {label: [] for label in urls if label != "baseline"}
    filled: dict[str, float] = {}
    labels = list(urls)
    for rep in range(run.reps):
        for label in rotate(labels, rep):
            if shape == "basic" and label != "baseline":
                if label in filled:  # the known expiry of the previous entries, not a guess
                    time.sleep(max(0.0, filled[label] + cache_ttl() + 1 - time.monotonic()))
                started = time.monotonic()
                count, last_slow = warm(run, services[label], lines, what=f"warming {label}")
                filled[label] = last_slow or filled.get(label, started)
                if rep == 0:
                    users = len({line[3]["Authorization"] for line in lines})
                    run.report.detail(f"{shape} {label}: credential caches warm after {count} requests "
                                      f"({users} users x {len(children(services[label].proc.pid))} "
                                      f"workers x {run.bcrypt_ms:.0f} ms bcrypt)")
            else:
                wrk(urls[label], request_file, Load(1, run.connections, 1))
            before = worker_cpu_ms(services[label])
            db_before = process_tree_cpu_ms(run.database_pid) if run.database_pid else 0.0
            result = wrk(urls[label], request_file, run.load)
            cpu[label].append((worker_cpu_ms(services[label]) - before) / result.requests)
            if run.database_pid and label in db_cpu:
                db_cpu[label].append((process_tree_cpu_ms(run.database_pid) - db_before) / result.requests)
            results[label].append(result)
    for label, runs in results.items():
        run.report.detail(f"{shape} {label}: " + ", ".join(
            f"{r.rps:.0f} req/s (p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms)" for r in runs)
            + "; worker CPU per request " + ", ".join(f"{c:.2f}" for c in cpu[label]) + " ms"
            + ("; database server CPU per request " + ", ".join(f"{c:.2f}" for c in db_cpu[label]) + " ms"
               if db_cpu.get(label) else ""))
    return results, cpu, db_cpu


def cache_ttl() -> int:
    """The production ``credential_cache_ttl`` (the benchmark does not change it)."""
    from authsvc.settings import Settings
    return Settings().credential_cache_ttl


def refresh_cost(run, users: int, workers: int) -> float:
    """Share of the machine's CPU that re-checking cached credentials costs in the steady state:
    each worker runs bcrypt once per user and ``credential_cache_ttl`` while that user keeps asking."""
    return users * workers * run.bcrypt_ms / 1000 / (cache_ttl() * (os.cpu_count() or 1))


def figures(run, name: str, results: dict, cpu: dict, db_cpu: dict, note: str) -> None:
    """The throughput figures (with targets), then worker CPU per request (reported only: it
    predicts the throughput ratio of a quiet machine, and other load on the machine moves it less)."""
    base = median([r.rps for r in results["baseline"]])
    shape, _, database = name.split(".", 1)[1].partition(".")
    target = TARGETS["." + database if database else ""][shape]
    for label, suffix, extra in (("authsvc", "", note), ("audit-off", ".audit_off",
                                                          "audit_token_grants=false; " + note)):
        value = median([r.rps for r in results[label]])
        run.report.add(Figure(f"{name}{suffix}", value, "req/s", base, "bare Flask", target, extra))
    for label, suffix in (("authsvc", ""), ("audit-off", ".audit_off")):
        run.report.add(Figure(f"cpu.{name.split('.', 1)[1]}{suffix}", median(cpu[label]), "ms/request",
                              median(cpu["baseline"]), "bare Flask", None,
                              "CPU time of the gunicorn workers during the runs / requests served"))
    for label, suffix in (("authsvc", ""), ("audit-off", ".audit_off")):
        if db_cpu.get(label):
            run.report.add(Figure(f"dbcpu.{name.split('.', 1)[1]}{suffix}", median(db_cpu[label]),
                                  "ms/request", None, "", None,
                                  "CPU time of the PostgreSQL server (postmaster and backends) during the runs "
                                  "/ requests served: taken from the same cores when it shares the machine"))


def run_tokens(run, shapes: list[str]) -> None:
    """Items 1 and 2 for the chosen ``shapes`` (basic, refresh, anonymous), then item 5."""
    stack = run.production_stack()
    report = run.report
    run.audit_off_url(), run.baseline_url()
    services = {"authsvc": stack.gunicorn, "audit-off": run.audit_off_service, "baseline": run.baseline_service}
    files = {}
    users = USERS[:2] if run.quick else USERS  # quick: half the bcrypt work of warming the caches
    if "basic" in shapes:
        files["basic"] = write_requests(run.root / "basic.requests", basic_requests(users))
    if "refresh" in shapes:
        tokens = {user: refresh_token(stack.url, user) for user in users}
        files["refresh"] = write_requests(run.root / "refresh.requests", refresh_requests(tokens))
    if "anonymous" in shapes:
        files["anonymous"] = write_requests(run.root / "anonymous.requests", anonymous_requests())

    for shape, request_file in files.items():
        lines = [tuple(_parse_line(text)) for text in request_file.read_text().splitlines()]
        check_grants(stack.url, lines)
        results, cpu, db_cpu = measure(run, shape, request_file, lines, services)
        scopes = [len(_scopes_of(line)) for line in lines]
        note = (f"{len(lines)} requests drawn at random, {min(scopes)}-{max(scopes)} scopes "
                f"(mean {sum(scopes) / len(scopes):.1f}); wrk -t1 -c{run.connections}, "
                f"{run.reps} x {run.load.seconds:.0f} s, median")
        name = {"basic": "tokens.basic", "refresh": "tokens.refresh", "anonymous": "tokens.anonymous"}[shape]
        figures(run, name + run.db_suffix, results, cpu, db_cpu, note)
        if shape == "basic":
            users = len({line[3]["Authorization"] for line in lines})
            workers = len(children(stack.gunicorn.proc.pid))
            share = refresh_cost(run, users, workers)
            report.detail(f"steady state: each of the {workers} workers re-checks each of the {users} users "
                          f"once per credential_cache_ttl ({cache_ttl()} s), {share:.1%} of the CPU: about "
                          f"{median([r.rps for r in results['authsvc']]) * (1 - share):.0f} req/s instead of "
                          f"the warm-cache figure")
    run.loaded.update({"authsvc": (stack.gunicorn, "baseline"), "audit-off": (run.audit_off_service, "baseline"),
                       "baseline": (run.baseline_service, None)})


def _parse_line(text: str) -> list:
    fields = text.split("\t")
    headers = dict(f.split(": ", 1) for f in fields[3:])
    return [fields[0], fields[1], None if fields[2] == "-" else fields[2], headers]


def memory(run) -> None:
    """Item 5: resident memory of each worker after the load, against the workers of the server
    each one was compared with (the bare Flask endpoint; the 10-user database for the large one)."""
    for label, (service, against) in run.loaded.items():
        if against is None:
            continue
        rss = worker_rss(service)
        base = worker_rss(run.loaded[against][0])
        if not rss or not base:
            raise BenchmarkError(f"no workers found under gunicorn pid {service.proc.pid} ({label})")
        run.report.add(Figure(f"memory.{label}", median(rss) / 1024, "MiB/worker", median(base) / 1024,
                              BASELINE_NAMES.get(against, against), None,
                              "VmRSS after the load, median of workers: "
                              + ", ".join(f"{k / 1024:.1f}" for k in rss) + " MiB"))


BASELINE_NAMES = {"baseline": "bare Flask", "smalldb": "10-user database"}
