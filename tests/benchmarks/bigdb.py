"""Item 4: token latency with 100,000 users, 10,000 projects and 1,000,000 memberships vs 10 users.

Two authsvc instances under the production gunicorn settings, each on its
own SQLite database made by ``authsvc init`` and then filled with bulk
inserts (``executemany`` in one transaction; every user shares one
precomputed bcrypt-12 hash, since only the probe user ever logs in):

* big: 100,000 users, 10,000 projects (one in ten public), each user a
  member of 10 distinct random projects with a random role: 1,000,000
  memberships, about 100 members per project;
* small: 10 users, the probe user's 10 projects, a few memberships.

The probe user, its projects, roles and password are the same in both, so
every request (1-3 scopes, Basic credentials, warm credential cache) is
byte for byte the same and only the table sizes differ.  Latency is
measured with one wrk connection (no queueing: the service time of one
request), runs interleaved; each figure is the median over repetitions of
that run's percentile.  (Runs are shorter and three times as many as elsewhere: see SPLIT.)
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from .harness import Figure, Load, ProductionStack, median, rotate, service_url, write_requests, wrk
from .tokens import warm

USERS = 100_000
PROJECTS = 10_000
PER_USER = 10
SMALL_USERS = 10
PROBE = "user050000"
TARGET = "<= 1.2"
#: Each repetition's time is split into this many shorter runs per database.
SPLIT = 3
ROLES = ("guest", "developer", "maintainer", "admin")
ROLE_WEIGHTS = (30, 45, 15, 10)
NOW = "2026-01-01 00:00:00"


def user_name(number: int) -> str:
    return f"user{number:06d}"


def project_name(number: int) -> str:
    return f"proj{number:05d}"


def probe_password() -> str:
    return "probe" + "-bench-Secret-1"


def populate(db_path: Path, *, users: list[int], projects: list[int], memberships: list[tuple[int, int, str]],
             password_hash: str, public_every: int = 10) -> None:
    """Bulk-insert users, projects and memberships (ids as given) in one transaction."""
    connection = sqlite3.connect(db_path)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-200000")
        with connection:
            connection.executemany(
                "INSERT INTO users (id, name, password_hash, is_admin, is_active, credential_version, created_at)"
                " VALUES (?, ?, ?, 0, 1, 1, ?)",
                ((number, user_name(number), password_hash, NOW) for number in users))
            connection.executemany(
                "INSERT INTO projects (id, name, is_public, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
                ((number, project_name(number), number % public_every == 0, users[number % len(users)], NOW)
                 for number in projects))
            connection.executemany(
                "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
                ((project, user, role, NOW) for project, user, role in memberships))
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def big_memberships(seed: int = 2026) -> tuple[list[tuple[int, int, str]], list[int]]:
    """Every user in PER_USER distinct random projects with a random role; the probe is a developer
    in each of its projects.  Returns the rows, sorted as the unique index wants them, and the
    probe's projects."""
    rng = random.Random(seed)
    probe_number = int(PROBE[4:])
    rows = []
    probe_projects: list[int] = []
    project_ids = range(1, PROJECTS + 1)
    for user in range(1, USERS + 1):
        chosen = rng.sample(project_ids, PER_USER)
        roles = rng.choices(ROLES, ROLE_WEIGHTS, k=PER_USER)
        if user == probe_number:
            probe_projects = sorted(chosen)
            roles = ["developer"] * PER_USER
        rows.extend(zip(chosen, [user] * PER_USER, roles))
    rows.sort()
    return rows, probe_projects


def small_memberships(probe_projects: list[int], others: list[int]) -> list[tuple[int, int, str]]:
    rows = [(project, int(PROBE[4:]), "developer") for project in probe_projects]
    for index, user in enumerate(others):
        for project in probe_projects[index % 4::4]:
            rows.append((project, user, ROLES[(index + project) % len(ROLES)]))
    return sorted(rows)


def probe_requests(probe_projects: list[int]) -> list[tuple]:
    """The probe's token requests: 1-3 scopes on its projects, pull or pull+push, Basic credentials."""
    from .tokens import _query
    names = [project_name(p) for p in probe_projects]
    scope_sets = [
        (f"repository:{names[0]}/app:pull",),
        (f"repository:{names[3]}/web:pull,push",),
        (f"repository:{names[7]}/app:pull",),
        (f"repository:{names[1]}/app:pull", f"repository:{names[5]}/base:pull"),
        (f"repository:{names[9]}/app:pull,push", f"repository:{names[2]}/base:pull"),
        (f"repository:{names[4]}/app:pull", f"repository:{names[6]}/lib:pull", f"repository:{names[8]}/tool:pull,push"),
    ]
    header = {"Authorization": _basic(PROBE, probe_password())}
    return [("GET", _query(scopes, account=PROBE), None, header) for scopes in scope_sets]


def _basic(user: str, password: str) -> str:
    import base64
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def build(run) -> tuple[ProductionStack, ProductionStack, list[tuple], str]:
    """Both databases, filled; both instances serving.  Returns (big, small, requests, description)."""
    from authsvc.services.authn.passwords import hash_password

    password_hash = hash_password(probe_password(), 12)
    started = time.monotonic()
    rows, probe_projects = big_memberships()
    big = ProductionStack(run.root, run.bins(), workers=run.workers, name="bigdb")
    run.cleanup.callback(big.stop)
    big.init()
    populate(big.data_dir / "authsvc.db", users=list(range(1, USERS + 1)), projects=list(range(1, PROJECTS + 1)),
             memberships=rows, password_hash=password_hash)
    generated = time.monotonic() - started
    size_mib = (big.data_dir / "authsvc.db").stat().st_size / 2**20

    small = ProductionStack(run.root, run.bins(), workers=run.workers, name="smalldb")
    run.cleanup.callback(small.stop)
    small.init()
    others = list(range(1, SMALL_USERS))
    small_rows = small_memberships(probe_projects, others)
    populate(small.data_dir / "authsvc.db", users=sorted([*others, int(PROBE[4:])]), projects=probe_projects,
             memberships=small_rows, password_hash=password_hash)
    check_counts(big.data_dir / "authsvc.db", (USERS, PROJECTS, USERS * PER_USER))
    check_counts(small.data_dir / "authsvc.db", (SMALL_USERS, len(probe_projects), len(small_rows)))
    big.serve()
    small.serve()
    description = (f"big: {USERS:,} users, {PROJECTS:,} projects, {USERS * PER_USER:,} memberships, "
                   f"{size_mib:.0f} MiB, generated in {generated:.1f} s; small: {SMALL_USERS} users, "
                   f"{len(probe_projects)} projects, {len(small_rows)} memberships")
    return big, small, probe_requests(probe_projects), description


def check_counts(db_path: Path, expected: tuple[int, int, int]) -> None:
    connection = sqlite3.connect(db_path)
    try:
        counts = tuple(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                       for table in ("users", "projects", "memberships"))
    finally:
        connection.close()
    assert counts == expected, f"{db_path}: (users, projects, memberships) = {counts}, expected {expected}"


def run_latency(run) -> None:
    from .tokens import check_grants

    big, small, lines, description = build(run)
    run.report.detail(description)
    request_file = write_requests(run.root / "probe.requests", lines)
    check_grants(big.url, lines)
    check_grants(small.url, lines)
    services = {"big": big.gunicorn, "small": small.gunicorn}
    # A p99 of one connection is at the mercy of whatever else the machine schedules for a few
    # milliseconds: many short interleaved runs, and their median, keep one burst of someone
    # else's work from deciding the figure.
    count = run.reps * SPLIT
    load = Load(1, 1, max(2.0, run.seconds / SPLIT))
    results: dict[str, list] = {label: [] for label in services}
    for rep in range(count):
        for label in rotate(list(services), rep):
            warm(run, services[label], lines, what=f"warming {label} database")
            results[label].append(wrk(service_url(services[label]), request_file, load))
    for label, runs in results.items():
        run.report.detail(f"{label} database: " + ", ".join(
            f"p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms ({r.rps:.0f} req/s)" for r in runs))
    note = (f"probe user, {len(lines)} requests of 1-3 scopes, warm cache; wrk --latency -t1 -c1, "
            f"{count} x {load.seconds:.0f} s, median of runs")
    for percentile in ("p50", "p99"):
        value = median([getattr(r, f"{percentile}_ms") for r in results["big"]])
        base = median([getattr(r, f"{percentile}_ms") for r in results["small"]])
        run.report.add(Figure(f"latency.{percentile}", value, "ms", base, "10 users", TARGET, note))
    run.loaded.update({"bigdb": (big.gunicorn, "smalldb"), "smalldb": (small.gunicorn, None)})

