"""deploy/local/up.sh re-run with a changed setting: every part that uses it gets it, and it says so.

Issue 15's trap: ``AUTHSVC_NOTIFICATION_SECRET=… up.sh`` restarted the registry with the new
secret and left authsvc running without it ("already running"), so the registry retried every
event against a 404 for ever.  Here the real script runs against a real stack: a new secret
restarts both (and a push then reaches the inventory), a setting only authsvc reads restarts
authsvc alone, nothing changed restarts nothing, and a bad value stops before anything restarts.
The CLI finds the stack with no environment at all, through the file up.sh links.
"""

from __future__ import annotations

import json
import os
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .local_stack import LocalStack
from .oci import build_layout
from .processes import describe, ok, run
from .stack import DockerDaemon

pytestmark = pytest.mark.e2e

NEW_SECRET = "a-new-notification-secret-0123456789"


@pytest.fixture(scope="module")
def local_stack(e2e_root: Path, dockerd: DockerDaemon) -> Iterator[LocalStack]:
    stack = LocalStack(e2e_root / "local-stack", dockerd)
    result = stack.up()
    try:
        assert result.returncode == 0, describe(result) + "\n" + stack.logs()
        yield stack
    finally:
        stack.down()


def up_ok(stack: LocalStack, **settings: str) -> list[str]:
    result = stack.up(**settings)
    assert result.returncode == 0, describe(result) + "\n" + stack.logs()
    return result.stdout.splitlines()


def events_status(stack: LocalStack, secret: str) -> int:
    """What the running authsvc answers to a notification envelope (without events) and ``secret``."""
    request = urllib.request.Request(f"http://127.0.0.1:{stack.auth_port}/registry/events", data=b'{"events": []}',
                                     headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def admin_creds(stack: LocalStack) -> str:
    return "admin:" + (stack.state / "admin-password").read_text().strip()


def test_nothing_changed_restarts_nothing(local_stack: LocalStack):
    pids = local_stack.pid("authsvc"), local_stack.pid("registry")
    out = up_ok(local_stack)
    assert f"authsvc: already running (pid {pids[0]})" in out and f"registry: already running (pid {pids[1]})" in out
    assert not any(line.startswith("settings:") for line in out)


def test_a_new_notification_secret_reaches_authsvc_and_the_registry(local_stack: LocalStack, tmp_path):
    old_secret = (local_stack.state / "notification-secret").read_text().strip()
    assert events_status(local_stack, old_secret) == 200  # the generated one: the inventory is on
    pids = local_stack.pid("authsvc"), local_stack.pid("registry")

    out = up_ok(local_stack, AUTHSVC_NOTIFICATION_SECRET=NEW_SECRET)
    assert f"settings: {local_stack.state / 'authsvc.toml'}: changed notification_secret" in out
    assert "authsvc: settings changed (notification_secret): restarting" in out
    assert f"registry: its configuration {local_stack.state / 'registry.yml'} changed: restarting" in out
    assert (local_stack.pid("authsvc"), local_stack.pid("registry")) != pids and pids[0] != local_stack.pid("authsvc")
    assert NEW_SECRET not in "\n".join(out)
    for name in ("notification-secret", "authsvc.toml", "registry.yml"):
        assert stat.S_IMODE(os.stat(local_stack.state / name).st_mode) == 0o600, name
    assert (local_stack.state / "notification-secret").read_text().strip() == NEW_SECRET

    # The running authsvc has the new secret, the registry's config too, and doctor agrees.
    assert (events_status(local_stack, NEW_SECRET), events_status(local_stack, old_secret)) == (200, 401)
    doctor = local_stack.cli("doctor", "--json", "--registry-config", str(local_stack.state / "registry.yml"))
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["registry-config-notifications"]["status"] == "ok", describe(doctor)
    assert "accepts them" in checks["registry-config-notifications"]["detail"]

    # ... and a real push reaches the inventory through the restarted pair.
    ok(local_stack.cli("project", "create", "secretcheck"))
    build_layout(tmp_path / "oci", "1", marker="secret-change")
    ok(run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", admin_creds(local_stack), f"oci:{tmp_path / 'oci'}:1",
            f"docker://{local_stack.host}/secretcheck/app:1"], env=local_stack.env()))
    deadline = time.monotonic() + 30
    while not local_stack.cli_json("repo", "list", "secretcheck"):  # notifications are asynchronous
        assert time.monotonic() < deadline, "the push never reached the inventory\n" + local_stack.logs()
        time.sleep(0.2)  # polling interval
    assert [r["name"] for r in local_stack.cli_json("repo", "list", "secretcheck")] == ["secretcheck/app"]


def test_a_setting_only_authsvc_reads_restarts_authsvc_alone(local_stack: LocalStack):
    registry_pid, authsvc_pid = local_stack.pid("registry"), local_stack.pid("authsvc")
    out = up_ok(local_stack, AUTHSVC_TOKEN_TTL="600")
    assert "authsvc: settings changed (token_ttl): restarting" in out
    assert f"registry: already running (pid {registry_pid})" in out and local_stack.pid("authsvc") != authsvc_pid
    with urllib.request.urlopen(f"http://127.0.0.1:{local_stack.auth_port}/token?service=registry",
                                timeout=10) as response:
        assert json.load(response)["expires_in"] == 600
    assert "token_ttl = 600" in (local_stack.state / "authsvc.toml").read_text()  # kept for the next run
    assert f"authsvc: already running (pid {local_stack.pid('authsvc')})" in up_ok(local_stack)


def test_a_bad_value_stops_before_anything_restarts(local_stack: LocalStack):
    pids = local_stack.pid("authsvc"), local_stack.pid("registry")
    before = (local_stack.state / "authsvc.toml").read_text()
    secret = (local_stack.state / "notification-secret").read_text()
    for name, value, words in [("AUTHSVC_TOKEN_TTL", "6", "setting 'token_ttl': must be between 60 and 3600"),
                               ("AUTHSVC_NOTIFICATION_SECRET", "short", "setting 'notification_secret'"),
                               ("AUTHSVC_REALM", "http://elsewhere/token", "AUTHSVC_REALM is the stack's own"),
                               ("AUTHSVC_TOKN_TTL", "600", "environment variable AUTHSVC_TOKN_TTL is not a known setting")]:
        result = local_stack.up(**{name: value})
        assert result.returncode == 1 and f"up.sh: {words}" in result.stderr, describe(result)
        assert "Traceback" not in result.stderr
    assert (local_stack.pid("authsvc"), local_stack.pid("registry")) == pids
    assert (local_stack.state / "authsvc.toml").read_text() == before
    assert (local_stack.state / "notification-secret").read_text() == secret  # a bad one is never kept
    assert "already running" in "\n".join(up_ok(local_stack))  # and the next plain run is fine


def test_the_cli_finds_the_stack_without_env_sh(local_stack: LocalStack, tmp_path):
    link = local_stack.config_link
    assert link.is_symlink() and Path(os.readlink(link)) == local_stack.state / "authsvc.toml"
    users = local_stack.cli("user", "list")  # no AUTHSVC_* at all, another working directory
    assert users.returncode == 0 and "admin" in users.stdout.split(), describe(users)
    doctor = local_stack.cli("doctor")
    assert f"settings from {link} and the environment" in doctor.stdout, describe(doctor)

    # A file of the user's own at that place is never replaced.
    own = tmp_path / "own.toml"
    own.write_text('data_dir = "/somewhere/else"\n')
    mine = local_stack.up(CLI_CONFIG=str(own))
    assert mine.returncode == 0, describe(mine)
    assert f"authsvc CLI: {own} is not up.sh's, left alone; use AUTHSVC_CONFIG=" in mine.stdout
    assert own.read_text() == 'data_dir = "/somewhere/else"\n' and not own.is_symlink()
