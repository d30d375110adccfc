"""Personal access tokens as the password of ``docker login`` (and of every other client).

A token stands in for its owner's password with the owner's rights.  A login
with it gets no refresh token -- one would outlive the token's revocation or
expiry -- so docker keeps the token itself in config.json and sends it with
every token request: revoking it, or changing the owner's password, refuses
the very next pull.
"""

from __future__ import annotations

import pytest

from .clients import ctr_pull, skopeo_inspect
from .machines import personal_token
from .processes import denied, ok
from .stack import User

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]


def test_docker_login_with_a_personal_token_keeps_the_token_and_follows_the_role(stack, docker, dockerd):
    owner, dev, guest = stack.user("owner"), stack.user("dev"), stack.user("guest")
    project = stack.project("pat", owner=owner, members={dev: "developer", guest: "guest"})
    ref = stack.push_image(project, "app", owner)
    dev_token = personal_token(stack, dev, "laptop")

    client = docker()
    ok(client.login(dev_token), "docker login -u USER with a personal token as the password")
    entry = client.stored_auth()
    assert not entry.get("identitytoken"), f"a personal-token login must get no refresh token: {entry}"
    assert client.stored_user_and_password() == (dev.name, dev_token.password), "docker keeps the token"
    assert dev.password not in (client.config_dir / "config.json").read_text()
    assert stack.refresh_tokens(dev) == [], "no refresh token was kept for the personal-token login"
    ok(client("pull", ref), "a developer's token pulls")
    target = f"{stack.host}/{project}/bytoken:v1"
    ok(client("tag", ref, target))
    ok(client("push", target), "a developer's token pushes")
    ok(ctr_pull(stack, dockerd, target, dev_token), "containerd's password grant takes the token too")

    guest_token = personal_token(stack, guest, "ci")
    guest_client = docker()
    ok(guest_client.login(guest_token))
    ok(guest_client("pull", target), "a guest's token pulls")
    guest_target = f"{stack.host}/{project}/byguest:v1"
    ok(guest_client("tag", ref, guest_target))
    denied(guest_client("push", guest_target), "a guest's token must not push")

    denied(skopeo_inspect(stack, ref, User(guest.name, dev_token.password)),
           "a token works only with its owner's name")
    denied(skopeo_inspect(stack, ref, User(dev.name, guest_token.password)),
           "a token works only with its owner's name")


@pytest.mark.database  # the CLI's write reaches every worker at once, on either database
def test_revoking_a_personal_token_refuses_the_next_pull(stack, docker):
    owner, dev = stack.user("owner"), stack.user("dev")
    project = stack.project("pat", owner=owner, members={dev: "developer"})
    ref = stack.push_image(project, "app", owner)
    public_ref = stack.push_image(stack.project("pub", public=True, owner=owner), "app", owner)
    token = personal_token(stack, dev, "laptop")
    other = personal_token(stack, dev, "ci")
    client = docker()
    ok(client.login(token))
    ok(client("pull", ref))

    stack.authsvc("pat", "revoke", dev.name, "laptop")

    denied(client("pull", ref), "docker holding a revoked token")
    denied(client("pull", public_ref), "a revoked token is refused, not downgraded to anonymous")
    denied(skopeo_inspect(stack, ref, token), "skopeo with a revoked token")
    ok(skopeo_inspect(stack, ref, other), "the owner's other tokens are untouched")
    ok(skopeo_inspect(stack, ref, dev), "revoking a token is not a password change")


def test_a_password_change_ends_every_personal_token(stack, docker):
    owner, dev = stack.user("owner"), stack.user("dev")
    project = stack.project("pat", owner=owner, members={dev: "developer"})
    ref = stack.push_image(project, "app", owner)
    token = personal_token(stack, dev, "laptop")
    other = personal_token(stack, dev, "ci")
    client = docker()
    ok(client.login(token))
    ok(client("pull", ref))
    ok(skopeo_inspect(stack, ref, other))

    renewed = stack.set_password(dev, "brand-new-password-2")

    denied(client("pull", ref), "docker holding a token from before the password change")
    denied(skopeo_inspect(stack, ref, other), "every token from before the password change")
    ok(skopeo_inspect(stack, ref, renewed), "the new password works")
    fresh = personal_token(stack, dev, "after")
    ok(client.login(fresh))
    ok(client("pull", ref), "a token made after the change works")
