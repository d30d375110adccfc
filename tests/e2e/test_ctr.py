"""containerd (``ctr``): the path every Kubernetes node takes with an imagePullSecret.

containerd first tries the OAuth2 ``POST /token`` form with
``grant_type=password``; only a 404/405 would make it fall back to GET with
Basic auth.  So these tests also check, in the authsvc log, that the POST
grant is what served them.
"""

from __future__ import annotations

import pytest

from .clients import ctr_pull
from .processes import denied, ok
from .stack import User

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]


def test_guest_pulls_a_private_image_through_the_password_grant(stack, dockerd):
    owner, guest = stack.user("owner"), stack.user("guest")
    project = stack.project("priv", owner=owner, members={guest: "guest"})
    ref = stack.push_image(project, "app", owner)

    mark = stack.log_mark()
    ok(ctr_pull(stack, dockerd, ref, guest), "a guest's node pulls from a private project")
    token_requests = [line for line in stack.log_since(mark).splitlines() if "/token" in line]
    assert token_requests and all('"POST /token ' in line and '" 200 ' in line for line in token_requests), (
        "containerd should have been served by the POST password grant:\n" + "\n".join(token_requests))
    assert stack.refresh_tokens(guest) == [], "a password grant without access_type=offline keeps no token"


def test_non_member_cannot_pull_a_private_image(stack, dockerd):
    owner, outsider = stack.user("owner"), stack.user("outsider")
    project = stack.project("priv", owner=owner)
    ref = stack.push_image(project, "app", owner)

    denied(ctr_pull(stack, dockerd, ref, outsider), "a non-member's node must not pull a private image")


def test_wrong_password_is_refused_not_downgraded_to_anonymous(stack, dockerd):
    """On a public project an anonymous token would do; a wrong password must still fail."""
    owner = stack.user("owner")
    project = stack.project("pub", public=True, owner=owner)
    ref = stack.push_image(project, "app", owner)

    impostor = User(owner.name, "not-the-password")
    denied(ctr_pull(stack, dockerd, ref, impostor), "a wrong password must be a 401, not anonymous access")
