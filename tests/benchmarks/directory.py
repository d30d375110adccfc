"""Directory accounts on the token path: repeated ``/token`` with a directory user's Basic
credentials against the same for a local user, on one authsvc, with a real slapd.

Both users are Developers of the same private project -- the local one by their own membership,
the directory one through a group -- and send the same scopes.  Once the credential cache holds
a password, a directory user's request costs neither a bind nor a search, only the group-role
read of the project; so the ratio should be near 1.  ``credential_cache_ttl`` is 600 s here so
that no entry expires during the runs, for either user (a local entry's renewal costs a bcrypt
check, a directory one's a bind and two searches): this measures the cached path alone.
"""

from __future__ import annotations

import urllib.parse

from .harness import (
    BenchmarkError,
    Figure,
    ProductionStack,
    median,
    rotate,
    service_url,
    worker_cpu_ms,
    write_requests,
    wrk,
)
from .tokens import _parse_line, check_grants, warm

LOCAL_USER, LOCAL_PASSWORD = "bench-local", "bench-local-Secret-1"
PROJECT = "bench-dir"
SCOPES = ("repository:bench-dir/app:pull,push",)
TARGET = ">= 0.9"


def _line(user: str, password: str) -> tuple:
    import base64
    query = urllib.parse.urlencode([("service", "registry"), ("account", user), *(("scope", s) for s in SCOPES)])
    header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return ("GET", f"/token?{query}", None, {"Authorization": header})


def run_directory(run) -> None:
    from tests.support import slapd as directory

    found = directory.binaries()
    if not all(found.values()):
        raise BenchmarkError("the directory benchmark needs Debian's slapd and ldap-utils (deploy/local/install.sh)")
    server = directory.Slapd(run.root / "slapd", found)
    server.start()
    run.cleanup.callback(server.stop)
    settings = {f"AUTHSVC_{key.upper()}": str(value) for key, value in server.settings().items()}
    settings["AUTHSVC_CREDENTIAL_CACHE_TTL"] = "600"
    stack = ProductionStack(run.root, run.bins(), workers=run.workers, settings=settings, name="authsvc-directory")
    run.cleanup.callback(stack.stop)
    stack.init()
    _seed(stack)
    stack.serve()
    dir_user = "dana"
    lines = {"local user": [_line(LOCAL_USER, LOCAL_PASSWORD)],
             "directory user": [_line(dir_user, directory.PASSWORDS[dir_user])]}
    files = {label: write_requests(run.root / f"directory-{i}.requests", requested)
             for i, (label, requested) in enumerate(lines.items())}
    url = service_url(stack.gunicorn)
    for label, request_file in files.items():
        parsed = [tuple(_parse_line(text)) for text in request_file.read_text().splitlines()]
        check_grants(url, parsed)
    warm(run, stack.gunicorn, lines["local user"] + lines["directory user"], what="warming both users")
    results: dict[str, list[float]] = {label: [] for label in files}
    cpu: dict[str, list[float]] = {label: [] for label in files}
    for rep in range(run.reps):
        for label in rotate(list(files), rep):
            before = worker_cpu_ms(stack.gunicorn)
            measured = wrk(url, files[label], run.load)
            cpu[label].append((worker_cpu_ms(stack.gunicorn) - before) / measured.requests)
            results[label].append(measured.rps)
    run.report.detail("directory vs local: " + "; ".join(
        f"{label}: " + ", ".join(f"{rps:.0f}" for rps in values) + " req/s, worker CPU "
        + ", ".join(f"{ms:.2f}" for ms in cpu[label]) + " ms/request" for label, values in results.items()))
    run.report.add(Figure("tokens.directory_basic", median(results["directory user"]), "req/s",
                          median(results["local user"]), "local user", TARGET,
                          "repeated Basic /token, same scopes and role (own membership vs group); "
                          "credential_cache_ttl 600 s, caches warm"))
    run.report.add(Figure("cpu.directory_basic", median(cpu["directory user"]), "ms/request",
                          median(cpu["local user"]), "local user", None,
                          "CPU time of the gunicorn workers during the runs / requests served"))


def _seed(stack: ProductionStack) -> None:
    from authsvc.core.policy import OPERATOR
    from authsvc.services.access import accounts, project_groups, projects
    from tests.support.units import unit

    with stack.app_context():
        uow = unit(source="benchmark-seed")
        accounts.create_user(uow, OPERATOR, LOCAL_USER, LOCAL_PASSWORD)
        projects.create_project(uow, OPERATOR, PROJECT, public=False)
        projects.add_member(uow, OPERATOR, PROJECT, LOCAL_USER, "developer")
        project_groups.add_group_member(uow, OPERATOR, PROJECT, "payments-dev", "developer")
        uow.commit()
