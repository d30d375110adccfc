"""An administrator's change takes effect on the very next token request, for every client.

Each test first proves the access works (so a later refusal means something),
makes one change through the real ``authsvc`` CLI while gunicorn keeps
running, and pulls again.  docker holds a refresh token, skopeo and ctr send
the password each time (and authsvc remembers verified passwords for a
while), so a change must cut off both kinds of credential; with two gunicorn
workers it must also reach a worker that did not see it happen.
"""

from __future__ import annotations

import pytest

from .clients import ctr_pull, skopeo_copy, skopeo_inspect
from .processes import denied, ok
from .stack import User

# database: the CLI's write must reach both gunicorn workers, whatever the database (tests/postgres_pass.py)
pytestmark = [pytest.mark.e2e, pytest.mark.both_registries, pytest.mark.database]

#: Enough requests that both gunicorn workers have verified (and cached) the password.
WARM_UP_REQUESTS = 4


def warm_up(stack, ref: str, user: User) -> None:
    for _ in range(WARM_UP_REQUESTS):
        ok(skopeo_inspect(stack, ref, user), f"{user.name} reads {ref} before the change")


def test_removing_a_member_stops_docker_and_skopeo(stack, docker):
    owner, dev = stack.user("owner"), stack.user("dev")
    project = stack.project("priv", owner=owner, members={dev: "developer"})
    ref = stack.push_image(project, "app", owner)
    client = docker()
    ok(client.login(dev))
    ok(client("pull", ref))
    warm_up(stack, ref, dev)

    stack.authsvc("member", "remove", project, dev.name)

    denied(client("pull", ref), "docker pull after the membership was removed")
    denied(skopeo_inspect(stack, ref, dev), "skopeo after the membership was removed")


def test_deactivating_a_user_ends_refresh_tokens_and_cached_passwords(stack, docker, dockerd):
    owner, guest = stack.user("owner"), stack.user("guest")
    project = stack.project("priv", owner=owner, members={guest: "guest"})
    ref = stack.push_image(project, "app", owner)
    client = docker()
    ok(client.login(guest))
    ok(client("pull", ref))
    ok(ctr_pull(stack, dockerd, ref, guest))
    warm_up(stack, ref, guest)

    stack.authsvc("user", "update", guest.name, "--inactive")

    denied(client("pull", ref), "docker pull with the identity token of a deactivated user")
    denied(skopeo_inspect(stack, ref, guest), "skopeo with the (cached) password of a deactivated user")
    denied(ctr_pull(stack, dockerd, ref, guest), "a node pulling as a deactivated user")
    assert stack.refresh_tokens(guest) == []

    stack.authsvc("user", "update", guest.name, "--active")
    ok(skopeo_inspect(stack, ref, guest), "reactivation restores password access")
    denied(client("pull", ref), "reactivation does not revive the old refresh token")


def test_changing_a_password_kills_the_docker_login_and_the_old_password(stack, docker):
    owner, dev = stack.user("owner"), stack.user("dev")
    project = stack.project("priv", owner=owner, members={dev: "developer"})
    ref = stack.push_image(project, "app", owner)
    client = docker()
    ok(client.login(dev))
    ok(client("pull", ref))
    warm_up(stack, ref, dev)

    renewed = stack.set_password(dev, "brand-new-password-1")

    denied(client("pull", ref), "docker's stored identity token must die with the old password")
    denied(skopeo_inspect(stack, ref, dev), "the old password, although cached, must fail")
    ok(skopeo_inspect(stack, ref, renewed), "the new password works at once")
    denied(client.login(dev), "docker login with the old password")
    ok(client.login(renewed))
    ok(client("pull", ref), "a fresh docker login with the new password")


def test_revoking_refresh_tokens_logs_docker_out_but_keeps_the_password(stack, docker):
    owner, dev = stack.user("owner"), stack.user("dev")
    project = stack.project("priv", owner=owner, members={dev: "developer"})
    ref = stack.push_image(project, "app", owner)
    public_ref = stack.push_image(stack.project("pub", public=True, owner=owner), "app", owner)
    laptop, ci_runner = docker(), docker()
    ok(laptop.login(dev))
    ok(ci_runner.login(dev))
    assert len(stack.refresh_tokens(dev)) == 2, "one refresh token per docker login"
    ok(laptop("pull", ref))

    stack.authsvc("token", "revoke", "--user", dev.name)

    assert stack.refresh_tokens(dev) == []
    denied(laptop("pull", ref), "a revoked identity token")
    denied(ci_runner("pull", ref), "every revoked identity token")
    denied(laptop("pull", public_ref), "a dead identity token is refused, not downgraded to anonymous")
    ok(skopeo_inspect(stack, ref, dev), "revoking tokens is not a password change")


def test_a_deleted_user_stays_gone_when_the_name_is_reused(stack, docker):
    """Deleting removes memberships and refresh tokens; a new account with the same name
    (SQLite may even hand it the same row id) inherits neither."""
    owner, guest = stack.user("owner"), stack.user("guest")
    project = stack.project("priv", owner=owner, members={guest: "guest"})
    ref = stack.push_image(project, "app", owner)
    client = docker()
    ok(client.login(guest))
    ok(client("pull", ref))

    stack.authsvc("user", "delete", guest.name, "--yes")
    denied(client("pull", ref), "the identity token of a deleted user")
    denied(skopeo_inspect(stack, ref, guest), "the password of a deleted user")

    reborn = User(guest.name, "another-password-1")
    stack.authsvc("user", "create", reborn.name, "--password-stdin", input=reborn.password + "\n")
    denied(client("pull", ref), "the old identity token must not work for the new account")
    denied(skopeo_inspect(stack, ref, reborn), "the new account must not inherit the old membership")
    members = stack.authsvc("member", "list", project, "--json").stdout
    assert guest.name not in members, members


def test_role_and_visibility_changes_apply_to_the_next_request(stack, docker):
    owner, dev, outsider = stack.user("owner"), stack.user("dev"), stack.user("outsider")
    project = stack.project("pub", public=True, owner=owner, members={dev: "developer"})
    ref = stack.push_image(project, "app", owner)
    ok(skopeo_copy(stack, ref, f"{stack.host}/{project}/first:v1", dev), "a developer pushes")
    anonymous = docker()
    ok(anonymous("pull", ref), "anonymous pull while the project is public")
    ok(skopeo_inspect(stack, ref, outsider))

    stack.authsvc("member", "set-role", project, dev.name, "guest")
    denied(skopeo_copy(stack, ref, f"{stack.host}/{project}/second:v1", dev), "push after demotion to guest")
    ok(skopeo_inspect(stack, ref, dev), "a guest still pulls")

    stack.authsvc("project", "set-visibility", project, "private")
    denied(anonymous("pull", ref), "anonymous pull once the project is private")
    denied(skopeo_inspect(stack, ref, outsider), "a non-member once the project is private")
    ok(skopeo_inspect(stack, ref, dev), "members keep pulling from the now private project")
