"""podman and skopeo: clients that send the password with every token request.

Unlike docker they never hold a refresh token, so these tests exercise the
Basic-auth GET path (and with it the verified-credential cache) for the same
access table, plus the one action only skopeo exposes: deleting a manifest,
which the seed reserves for maintainers and Project Admins.
"""

from __future__ import annotations

import re

import pytest

from .clients import skopeo_copy, skopeo_delete, skopeo_inspect
from .processes import denied, ok

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]


def test_podman_login_checks_the_password_and_a_member_pulls_and_pushes(stack, podman):
    owner, dev = stack.user("owner"), stack.user("dev")
    project = stack.project("priv", owner=owner, members={dev: "developer"})
    ref = stack.push_image(project, "app", owner)

    wrong = podman()
    denied(wrong.login(dev, password="not-the-password"), "podman login with a wrong password")

    client = podman()
    ok(client.login(dev))
    ok(client.pull(ref), "a developer pulls with podman")
    target = f"{stack.host}/{project}/podpush:v1"
    ok(client("tag", ref, target))
    ok(client.push(target), "a developer pushes with podman")
    ok(skopeo_inspect(stack, target, owner), "the podman push landed in the registry")


def test_podman_non_member_is_denied_on_a_private_project(stack, podman):
    owner, outsider = stack.user("owner"), stack.user("outsider")
    public = stack.project("pub", public=True, owner=owner)
    private = stack.project("priv", owner=owner)
    public_ref = stack.push_image(public, "app", owner)
    private_ref = stack.push_image(private, "app", owner)

    client = podman()
    ok(client.login(outsider), "login itself asks for no scope, so any valid user may log in")
    denied(client.pull(private_ref), "a non-member must not pull from a private project")
    ok(client.pull(public_ref))
    target = f"{stack.host}/{private}/intruder:v1"
    ok(client("tag", public_ref, target))
    denied(client.push(target), "a non-member must not push to a private project")


def test_skopeo_with_creds_follows_membership(stack):
    owner, guest, outsider = stack.user("owner"), stack.user("guest"), stack.user("outsider")
    project = stack.project("priv", owner=owner, members={guest: "guest"})
    ref = stack.push_image(project, "app", owner)

    ok(skopeo_inspect(stack, ref, guest), "a guest reads a private manifest")
    denied(skopeo_copy(stack, ref, f"{stack.host}/{project}/guestcopy:v1", guest), "a guest must not push")
    denied(skopeo_inspect(stack, ref, outsider), "a non-member must not read a private manifest")
    denied(skopeo_inspect(stack, ref, None), "anonymous must not read a private manifest")
    ok(skopeo_copy(stack, ref, f"{stack.host}/{project}/ownercopy:v1", owner), "the Project Admin pushes")


def test_maintainer_deletes_a_manifest_and_a_developer_cannot(stack):
    owner, maintainer, dev = stack.user("owner"), stack.user("maint"), stack.user("dev")
    project = stack.project("priv", owner=owner, members={maintainer: "maintainer", dev: "developer"})
    ref = stack.push_image(project, "app", owner)

    refused = denied(skopeo_delete(stack, ref, dev), "a developer must not delete")
    # What docs/operations.md ("What a refusal looks like at the client") tells a puzzled user: the
    # registry's 401 "authentication required", whose detail names the action the token lacked.
    # (skopeo's log quotes the JSON body, hence the optional backslashes)
    assert "authentication required" in refused.stderr, refused.stderr
    assert re.search(r'\\?"Action\\?":\\?"delete', refused.stderr), refused.stderr
    ok(skopeo_inspect(stack, ref, owner), "the refused delete left the manifest in place")
    ok(skopeo_delete(stack, ref, maintainer), "a maintainer deletes")
    gone = skopeo_inspect(stack, ref, owner)
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr, gone.stderr


def test_system_admin_pulls_and_pushes_in_any_project(stack):
    owner, admin = stack.user("owner"), stack.user("sysadmin", admin=True)
    private = stack.project("priv", owner=owner)
    other = stack.project("other", owner=owner)
    ref = stack.push_image(private, "app", owner)

    ok(skopeo_inspect(stack, ref, admin), "a system administrator reads any private project")
    ok(skopeo_copy(stack, ref, f"{stack.host}/{other}/fromadmin:v1", admin),
       "a system administrator pushes to a project he is not a member of")
    ok(skopeo_delete(stack, ref, admin), "a system administrator deletes anywhere")
