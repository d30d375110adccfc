"""The web console's pages with 10,000 projects, 1,000 members and 100,000 tags: server time per page.

One authsvc under the production gunicorn settings (``ProductionStack``), its SQLite database made
by ``authsvc init`` and then filled with bulk inserts (``executemany`` in one transaction):

* 1,000 users sharing one precomputed bcrypt-12 hash (only two of them ever sign in), one of them a
  system administrator;
* 10,000 projects, one in ten public;
* the big project ``proj00001``: all 1,000 users are members (random roles; the probe user is its
  Project Admin, so its Members tab carries every control), 100 repositories of 980 tags each;
* 2,000 more repositories of one tag each in other projects (100,000 tags in all), and every user
  a member of 9 more random projects (10,000 memberships in all).

Two people sign in through the real sign-in form (a session cookie, its CSRF token): the probe
user (a member, who sees the 1,000 public projects and their own) and the administrator (who sees
all 10,000).  Each page is requested one request at a time on one keep-alive connection (no
queueing: the service time of one request), first a warm-up, then ``samples`` times.  The figure is
the server's own time per request, from authsvc's request log line (``duration_ms``: from the
first before-request hook to the response, template rendering included); the round trip the
client saw is reported beside it, and the workers' CPU time per request (from /proc), which the
machine's other load moves least.  Every response must be 200 and show what the page should, or
the benchmark fails.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import re
import sqlite3
import statistics
import time
import urllib.parse
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

from .harness import BenchmarkError, Figure, ProductionStack, worker_cpu_ms

PROJECTS = 10_000
USERS = 1_000
BIG = "proj00001"
BIG_REPOSITORIES = 100
TAGS_PER_BIG_REPOSITORY = 980
SMALL_REPOSITORIES = 2_000
EXTRA_MEMBERSHIPS = 9
PROBE = "user0001"
ADMIN = "user1000"
PASSWORD = "bench-Console-Secret-1"
TARGET_MS = 50.0
NOW = "2026-01-01 00:00:00"
ROLES = ("guest", "developer", "maintainer", "admin")
_DURATION = re.compile(r"rid=(bench-\S+) .*\" (\d{3}) ([0-9.]+)ms")


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    who: str           # PROBE or ADMIN
    must_show: str     # text the answer must hold (the page really rendered its data)


PAGES = (
    Page("projects", "/projects", PROBE, "proj00010"),
    Page("projects.search", "/projects?q=proj05", PROBE, "proj05000"),
    Page("projects.admin", "/projects", ADMIN, "10000 projects"),
    Page("projects.admin.page100", "/projects?page=100", ADMIN, "proj0"),
    Page("project.repositories", f"/projects/{BIG}", PROBE, "docker pull"),
    Page("project.members", f"/projects/{BIG}/members", PROBE, "user0050"),
)


def user_name(number: int) -> str:
    return f"user{number:04d}"


def project_name(number: int) -> str:
    return f"proj{number:05d}"


def populate(db_path: Path, password_hash: str, seed: int = 2026) -> dict[str, int]:
    rng = random.Random(seed)
    connection = sqlite3.connect(db_path)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        with connection:
            connection.executemany(
                "INSERT INTO users (id, name, password_hash, is_admin, is_active, credential_version, created_at)"
                " VALUES (?, ?, ?, ?, 1, 1, ?)",
                ((n, user_name(n), password_hash, user_name(n) == ADMIN, NOW) for n in range(1, USERS + 1)))
            connection.executemany(
                "INSERT INTO projects (id, name, is_public, created_by, created_at) VALUES (?, ?, ?, 1, ?)",
                ((n, project_name(n), n % 10 == 0, NOW) for n in range(1, PROJECTS + 1)))
            memberships = {(1, user): rng.choice(ROLES) for user in range(1, USERS + 1)}
            memberships[(1, 1)] = "admin"  # the probe is the big project's Project Admin
            for user in range(1, USERS + 1):
                for project in rng.sample(range(2, PROJECTS + 1), EXTRA_MEMBERSHIPS):
                    memberships[(project, user)] = rng.choice(ROLES)
            connection.executemany(
                "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
                ((p, u, role, NOW) for (p, u), role in sorted(memberships.items())))
            repositories = [(r, 1, f"{BIG}/app{r:03d}") for r in range(1, BIG_REPOSITORIES + 1)]
            repositories += [(BIG_REPOSITORIES + i, 2 + i, f"{project_name(2 + i)}/service")
                             for i in range(1, SMALL_REPOSITORIES + 1)]
            connection.executemany("INSERT INTO repositories (id, project_id, name, updated_at) VALUES (?, ?, ?, ?)",
                                   ((r, p, name, NOW) for r, p, name in repositories))
            connection.executemany(
                "INSERT INTO tags (repository_id, name, digest, media_type, size, pushed_by, pushed_at)"
                " VALUES (?, ?, ?, 'application/vnd.oci.image.manifest.v1+json', ?, ?, ?)",
                _tags(rng))
        counts = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in ("users", "projects", "memberships", "repositories", "tags")}
        connection.execute("ANALYZE")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return counts


def _tags(rng: random.Random):
    def row(repository: int, number: int, minute: int):
        digest = "sha256:" + hashlib.sha256(f"{repository}/{number}".encode()).hexdigest()
        pushed_at = f"2025-{1 + minute // 40000 % 12:02d}-{1 + minute // 1400 % 28:02d} " \
                    f"{minute // 60 % 24:02d}:{minute % 60:02d}:00"
        return repository, f"v{number}", digest, rng.randrange(10_000, 500_000_000), user_name(1 + number % USERS), \
            pushed_at
    for repository in range(1, BIG_REPOSITORIES + 1):
        for number in range(TAGS_PER_BIG_REPOSITORY):
            yield row(repository, number, repository * TAGS_PER_BIG_REPOSITORY + number)
    for repository in range(BIG_REPOSITORIES + 1, BIG_REPOSITORIES + SMALL_REPOSITORIES + 1):
        yield row(repository, 0, repository)


class Browser:
    """One person's keep-alive connection with their session cookie, signed in through the form."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None, rid: str = "") -> tuple[int, str, float]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if rid:
            headers["X-Request-ID"] = rid
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        elapsed = (time.perf_counter() - started) * 1000
        for header in response.headers.get_all("Set-Cookie") or []:
            for key, morsel in SimpleCookie(header).items():
                self.cookies[key] = morsel.value
        return response.status, text, elapsed

    def sign_in(self, name: str, password: str) -> None:
        status, form, _ = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        if status != 200 or not token:
            raise BenchmarkError(f"GET /login answered {status} without a CSRF token")
        body = urllib.parse.urlencode({"csrf_token": token.group(1), "username": name, "password": password})
        status, _, _ = self.request("POST", "/login", body)
        status_after, page, _ = self.request("GET", "/projects")
        if status not in (302, 303) or status_after != 200 or "Sign out" not in page:
            raise BenchmarkError(f"signing in as {name} failed: POST /login {status}, /projects {status_after}")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def server_times(log_path: Path, mark: int) -> dict[str, tuple[int, float]]:
    with open(log_path, "rb") as fh:
        fh.seek(mark)
        text = fh.read().decode(errors="replace")
    return {m.group(1): (int(m.group(2)), float(m.group(3))) for m in _DURATION.finditer(text)}


def run_console(run) -> None:
    from authsvc.services.authn.passwords import hash_password

    if run.database_url:
        raise BenchmarkError("console: the seeding is SQLite bulk inserts; run it without --postgres")
    samples, warmup = (30, 5) if run.quick else (300, 30)
    stack = ProductionStack(run.root, run.bins(), workers=run.workers, name="console")
    run.cleanup.callback(stack.stop)
    stack.init()
    started = time.monotonic()
    counts = populate(stack.data_dir / "authsvc.db", hash_password(PASSWORD, 12))
    run.report.detail(f"seeded in {time.monotonic() - started:.1f} s: " + ", ".join(
        f"{count:,} {table}" for table, count in counts.items()))
    stack.serve()
    people = {who: Browser(stack.auth_port) for who in (PROBE, ADMIN)}
    for who, browser in people.items():
        browser.sign_in(who, PASSWORD)
    log_path = stack.gunicorn.log_path
    for page in PAGES:
        browser = people[page.who]
        for _ in range(warmup):
            status, text, _ = browser.request("GET", page.path)
            if status != 200 or page.must_show not in text:
                raise BenchmarkError(f"{page.path} as {page.who}: {status}, {page.must_show!r} "
                                     f"{'shown' if page.must_show in text else 'missing'}")
        mark = log_path.stat().st_size
        cpu_before = worker_cpu_ms(stack.gunicorn)
        round_trips = [browser.request("GET", page.path, rid=f"bench-{page.name}-{i}")[2] for i in range(samples)]
        cpu_per_request = (worker_cpu_ms(stack.gunicorn) - cpu_before) / samples
        logged = _wait_logged(log_path, mark, page.name, samples)
        statuses = {status for status, _ in logged}
        if statuses != {200}:
            raise BenchmarkError(f"{page.path}: statuses {statuses}")
        server = [ms for _, ms in logged]
        note = (f"GET {page.path} as {'the probe (a member)' if page.who == PROBE else 'a system administrator'}; "
                f"{samples} sequential requests; round trip p50 {statistics.median(round_trips):.1f} ms, "
                f"p95 {percentile(round_trips, 95):.1f} ms")
        run.report.add(Figure(f"console.{page.name}.p50", statistics.median(server), "ms", note=note))
        run.report.add(Figure(f"console.{page.name}.cpu", cpu_per_request, "ms", note=(
            "CPU time of the workers per request (user + system, /proc): what other load on the machine "
            "moves least")))
        p95 = percentile(server, 95)
        run.report.add(Figure(f"console.{page.name}.p95", p95, "ms", TARGET_MS, "aim", "<= 1.0",
                              "server time from the request log"))


def _wait_logged(log_path: Path, mark: int, name: str, samples: int) -> list[tuple[int, float]]:
    """The log lines of one page's samples: written before the response left, but maybe not flushed."""
    deadline = time.monotonic() + 10
    while True:
        found = server_times(log_path, mark)
        mine = [found.get(f"bench-{name}-{i}") for i in range(samples)]
        if all(mine):
            return mine  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise BenchmarkError(f"{sum(1 for m in mine if m)} of {samples} request log lines for {name} found")
        time.sleep(0.05)  # polling interval for the log file
