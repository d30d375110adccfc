"""Directory accounts end to end: a real slapd (LDAPS with a throw-away test CA), gunicorn, both
registry generations and the real docker CLI.  Nothing is mocked.

A stack of its own per registry generation (authsvc + registry, pointing at the session's
slapd; ``credential_cache_ttl`` 3 s so the group bound is short); dockerd is the session's.
The directory's people and groups are tests/support/slapd.py's; a test that changes the
directory (a group, an outage) restores it in ``finally``.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.slapd import GROUPS, PASSWORDS, PEOPLE, READER_DN, READER_PASSWORD

from .conftest import session_database
from .processes import StartupFailed, denied, ok, require_binaries
from .registries import Generation
from .stack import Stack, User

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]

#: Seconds a directory user's groups (and cached password) count for in these stacks.
BOUND = 3
DEADLINE = 60.0


@pytest.fixture(scope="session")
def directory_stack(e2e_root: Path, registry_generation: Generation, slapd) -> Iterator[Stack]:
    binaries = {**require_binaries("authsvc", "gunicorn", "skopeo"), "registry": registry_generation.binary()}
    root = e2e_root / f"{registry_generation.id}-directory"
    root.mkdir()
    secret = root / "ldap-bind-password"
    secret.write_text(READER_PASSWORD + "\n")
    secret.chmod(0o600)
    settings = {"ldap_url": slapd.ldaps_url, "ldap_tls_ca_file": str(slapd.ca), "ldap_bind_dn": READER_DN,
                "ldap_bind_password_file": str(secret), "ldap_user_base_dn": PEOPLE, "ldap_group_base_dn": GROUPS,
                "ldap_admin_group": "registry-admins", "ldap_connect_timeout": "1", "ldap_receive_timeout": "2",
                "credential_cache_ttl": str(BOUND)}
    with session_database() as url:
        running = Stack(root, binaries, database_url=url, generation=registry_generation, settings=settings)
        failure = None
        try:
            running.start()
        except StartupFailed as exc:
            failure = str(exc)
        if failure is not None:
            running.stop()
            pytest.fail(f"the directory stack ({registry_generation.id}) did not start:\n{failure}", pytrace=False)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def ddocker(directory_stack: Stack, dockerd):
    from .clients import Docker
    return lambda: Docker(directory_stack, dockerd, directory_stack.root / "docker-config" / directory_stack.unique("c"))


def token_status(stack: Stack, name: str, password: str, *scopes: str) -> tuple[int, dict]:
    query = "&".join(["service=registry", *(f"scope={s}" for s in scopes)])
    request = urllib.request.Request(f"http://127.0.0.1:{stack.auth_port}/token?{query}", headers={
        "Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_until(outcome, what: str):
    deadline = time.monotonic() + DEADLINE
    last = None
    while time.monotonic() < deadline:
        last = outcome()
        if last is True:
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {DEADLINE} s: {what} (last: {last})")


def test_a_directory_group_member_logs_in_pushes_and_pulls_and_loses_push_when_removed(
        directory_stack, ddocker, slapd):
    stack = directory_stack
    owner = stack.user("owner")
    project = stack.project("payments", owner=owner)
    stack.authsvc("member", "add-group", project, "payments-dev", "--role", "developer")
    ref = stack.push_image(project, "app", owner)
    eve = User("eve", PASSWORDS["eve"])

    client = ddocker()
    ok(client.login(eve), "docker login as a directory user")
    assert client.stored_auth().get("identitytoken"), "docker keeps a refresh token, not the password"
    ok(client("pull", ref), "a directory user pulls through their group's Developer role")
    pushed = f"{stack.host}/{project}/by-eve:v1"
    ok(client("tag", ref, pushed))
    ok(client("push", pushed), "a directory user pushes through their group's Developer role")
    users = {u["name"]: u["source"] for u in json.loads(stack.authsvc("user", "list", "--json").stdout)}
    assert users["eve"] == "ldap"

    slapd.remove_from_group("eve", "payments-dev")
    try:
        attempt = iter(range(1000))

        def push_refused():
            target = f"{stack.host}/{project}/after-removal:v{next(attempt)}"
            ok(client("tag", ref, target))
            result = client("push", target)
            return True if result.returncode != 0 else f"still pushed {target}"

        # docker uses its refresh token: once the groups it was issued with are older than the
        # bound, authsvc reads them again from the directory, and push is gone.
        wait_until(push_refused, "eve lost push after leaving payments-dev")
        denied(client("push", pushed), "no push after leaving the group")
        # Her password too: a fresh login works (she is still in the directory) but grants nothing here.
        fresh = ddocker()
        ok(fresh.login(eve))
        denied(fresh("pull", ref), "no pull of the private project without the group")
    finally:
        slapd.add_to_group("eve", "payments-dev")


def test_a_directory_outage_is_a_503_for_directory_users_while_local_users_pull(directory_stack, ddocker, slapd):
    stack = directory_stack
    local = stack.user("local")
    project = stack.project("outage", owner=local)
    ref = stack.push_image(project, "app", local)
    slapd.stop()
    try:
        started = time.monotonic()
        status, body = token_status(stack, "grace", PASSWORDS["grace"], f"repository:{project}/app:pull")
        assert status == 503, body
        assert body["errors"][0]["code"] == "UNAVAILABLE" and "directory" in body["errors"][0]["message"]
        assert time.monotonic() - started < 5, "the outage answer must come within the timeouts"
        login = ddocker().login(User("grace", PASSWORDS["grace"]))
        assert login.returncode != 0 and "503" in login.stdout + login.stderr, login.stderr
        client = ddocker()
        ok(client.login(local), "a local user logs in while the directory is down")
        ok(client("pull", ref), "a local user pulls while the directory is down")
        for _ in range(7):  # more than the throttle's threshold: an outage is never counted as guessing
            assert token_status(stack, "grace", PASSWORDS["grace"])[0] == 503
    finally:
        slapd.start()
    wait_until(lambda: token_status(stack, "grace", PASSWORDS["grace"])[0] == 200 or "not yet",
               "grace signs in once the directory is back")


def test_injection_unknown_names_wrong_passwords_the_throttle_and_the_admin_group(directory_stack):
    stack = directory_stack
    for name in ("*)(uid=*", "*", "dana)(|(uid=*", "dana\x00", "\\2a"):
        assert token_status(stack, name, PASSWORDS["dana"])[0] == 401, name
    unknown = token_status(stack, "nobody-here", "some-password-1")
    wrong = token_status(stack, "dana", "not-danas-password")
    assert unknown == wrong and unknown[0] == 401
    for _ in range(5):
        assert token_status(stack, "grace", "guessing-pass-1")[0] == 401
    assert token_status(stack, "grace", PASSWORDS["grace"])[0] == 429  # the throttle, before the directory
    # The configured admin group makes frank a system administrator: he may list users.
    request = urllib.request.Request(f"http://127.0.0.1:{stack.auth_port}/api/v1/users", headers={
        "Authorization": "Basic " + base64.b64encode(f"frank:{PASSWORDS['frank']}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and "frank" in {u["name"] for u in json.loads(response.read())}
