"""docker 20.10 against the real registry: login, the refresh-token path, and the access table.

docker is the client whose behaviour is most particular: ``docker login``
asks for an offline token, stores the refresh token as ``identitytoken`` and
forgets the password, and every later token request is a ``POST`` refresh
grant.  These tests prove that path end to end and then walk the seed's
access table (client-behaviour.md) row by row with real pulls and pushes.
"""

from __future__ import annotations

import json
import time

import pytest

from .processes import denied, describe, ok

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]

#: authsvc's defaults: failures per (account, address) before 429s start, and the first block (s).
THROTTLE_THRESHOLD = 5
THROTTLE_BLOCK = 2


def test_login_with_a_wrong_password_fails_and_stores_nothing(stack, docker):
    user = stack.user("wrongpw")
    client = docker()
    denied(client.login(user, password="not-the-password"), "docker login with a wrong password")
    config = client.config_dir / "config.json"
    assert not config.exists() or stack.host not in config.read_text(), config.read_text()


def test_login_keeps_an_identity_token_not_the_password_and_it_pulls_tags_and_pushes(stack, docker):
    """A developer of a private project: login, then pull, tag and push with only the refresh token."""
    owner, dev = stack.user("owner"), stack.user("dev")
    project = stack.project("priv", owner=owner, members={dev: "developer"})
    ref = stack.push_image(project, "app", owner)

    client = docker()
    ok(client.login(dev), "docker login with the right password")
    entry = client.stored_auth()
    assert entry.get("identitytoken"), f"no identitytoken stored: {entry}"
    assert client.stored_user_and_password() == (dev.name, ""), "docker kept the password"
    assert dev.password not in (client.config_dir / "config.json").read_text()
    tokens = stack.refresh_tokens(dev)
    assert [t["client_id"] for t in tokens] == ["docker"], tokens

    mark = stack.log_mark()
    ok(client("pull", ref), "developer pulls from the private project")
    pushed = f"{stack.host}/{project}/copy:v2"
    ok(client("tag", ref, pushed))
    ok(client("push", pushed), "developer pushes to the private project")
    token_requests = [line for line in stack.log_since(mark).splitlines() if "/token" in line]
    assert token_requests and all('"POST /token ' in line for line in token_requests), (
        "after login docker should only use the refresh-token POST grant:\n" + "\n".join(token_requests))

    fresh = docker()  # a second machine: the pushed image is really in the registry
    ok(fresh.login(owner))
    ok(fresh("pull", pushed), "the owner pulls what the developer pushed")


def test_guest_pulls_but_cannot_push(stack, docker):
    owner, guest = stack.user("owner"), stack.user("guest")
    project = stack.project("priv", owner=owner, members={guest: "guest"})
    ref = stack.push_image(project, "app", owner)

    client = docker()
    ok(client.login(guest))
    ok(client("pull", ref), "a guest pulls from a private project")
    target = f"{stack.host}/{project}/guestpush:v1"
    ok(client("tag", ref, target))
    denied(client("push", target), "a guest must not push")


def test_logged_in_non_member_pulls_public_only_and_pushes_nowhere(stack, docker):
    owner, outsider = stack.user("owner"), stack.user("outsider")
    public = stack.project("pub", public=True, owner=owner)
    private = stack.project("priv", owner=owner)
    public_ref = stack.push_image(public, "app", owner)
    private_ref = stack.push_image(private, "app", owner)

    client = docker()
    ok(client.login(outsider))
    ok(client("pull", public_ref), "anyone logged in pulls from a public project")
    target = f"{stack.host}/{public}/outsider:v1"
    ok(client("tag", public_ref, target))
    denied(client("push", target), "a non-member must not push to a public project")
    denied(client("pull", private_ref), "a non-member must not pull from a private project")
    target = f"{stack.host}/{private}/outsider:v1"
    ok(client("tag", public_ref, target))
    denied(client("push", target), "a non-member must not push to a private project")


def test_anonymous_pulls_public_only(stack, docker):
    owner = stack.user("owner")
    public = stack.project("pub", public=True, owner=owner)
    private = stack.project("priv", owner=owner)
    public_ref = stack.push_image(public, "app", owner)
    private_ref = stack.push_image(private, "app", owner)

    client = docker()  # never logged in
    ok(client("pull", public_ref), "anonymous pull from a public project")
    denied(client("pull", private_ref), "anonymous pull from a private project")
    target = f"{stack.host}/{public}/anon:v1"
    ok(client("tag", public_ref, target))
    denied(client("push", target), "anonymous push to a public project")


def test_system_admin_pulls_and_pushes_where_not_a_member(stack, docker):
    owner, admin = stack.user("owner"), stack.user("sysadmin", admin=True)
    project = stack.project("priv", owner=owner)
    ref = stack.push_image(project, "app", owner)

    client = docker()
    ok(client.login(admin))
    ok(client("pull", ref), "a system administrator pulls from any private project")
    target = f"{stack.host}/{project}/byadmin:v1"
    ok(client("tag", ref, target))
    ok(client("push", target), "a system administrator pushes to any project")


def test_cross_repository_mount_needs_pull_on_the_source_project(stack, docker):
    """docker push asks, in the same token request, for pull on the repository a layer came from,
    so the registry can mount the blob instead of receiving it again.  That extra scope is decided
    on its own: granted to a reader of the source project, dropped for anyone else (the registry
    then refuses the mount and docker uploads the layer itself)."""
    owner, dev, outsider = stack.user("owner"), stack.user("dev"), stack.user("outsider")
    source = stack.project("src", owner=owner, members={dev: "developer"})
    elsewhere = stack.project("mine", owner=outsider)
    ref = stack.push_image(source, "app", owner)

    dev_client = docker()
    ok(dev_client.login(dev))
    ok(dev_client("pull", ref))  # the shared daemon now knows the layer came from source/app
    mounted = f"{stack.host}/{source}/copy:v1"
    ok(dev_client("tag", ref, mounted))
    assert f"Mounted from {source}/app" in ok(dev_client("push", mounted)).stdout

    outsider_client = docker()
    ok(outsider_client.login(outsider))
    uploaded = f"{stack.host}/{elsewhere}/copy:v1"
    ok(outsider_client("tag", ref, uploaded))  # same daemon: the image is there, the registry decides
    pushed = ok(outsider_client("push", uploaded), "the outsider pushes to his own project")
    assert "Mounted from" not in pushed.stdout, pushed.stdout
    grants = json.loads(stack.authsvc("audit", "list", "--actor", outsider.name, "--action", "token.grant",
                                      "--json").stdout)
    requested = [s for g in grants for s in g["details"]["requested"]]
    granted = [s for g in grants for s in g["details"]["granted"]]
    assert any(s.startswith(f"repository:{source}/") for s in requested), grants
    assert not any(s.startswith(f"repository:{source}/") for s in granted), grants


def test_repeated_wrong_passwords_are_throttled_until_the_block_expires(stack, docker):
    """After THROTTLE_THRESHOLD failures the (account, address) pair is refused with 429, even with
    the right password, for a short block; other accounts from the same address are unaffected.

    The first block lasts only THROTTLE_BLOCK seconds, so a round counts only if the right-password
    attempt ended within that time of the last failure starting; a machine too loaded to manage
    that gets another round with a fresh account instead of a flaky verdict.
    """
    for _ in range(3):
        target, client = stack.user("target"), docker()
        for attempt in range(THROTTLE_THRESHOLD):
            last_failure = time.monotonic()
            denied(client.login(target, password=f"wrong-guess-{attempt}"))
        blocked = client.login(target)
        if time.monotonic() - last_failure < THROTTLE_BLOCK:
            break
    else:
        pytest.fail(f"three rounds each took over {THROTTLE_BLOCK} s: cannot observe the throttle")
    assert blocked.returncode != 0 and "too many failed attempts" in blocked.stderr, describe(blocked)
    ok(docker().login(stack.user("bystander")), "another account from the same address is not throttled")

    deadline = time.monotonic() + 30
    while (result := client.login(target)).returncode != 0:
        assert "too many failed attempts" in result.stderr, describe(result)
        assert time.monotonic() < deadline, "the block did not expire:\n" + describe(result)
        time.sleep(0.5)  # polling interval while the block runs out
    assert "Login Succeeded" in result.stdout, describe(result)
