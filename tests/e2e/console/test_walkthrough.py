"""The seed guide's walkthrough, end to end in the console, against both registry generations.

The administrator signs in and creates alice (Administration > Users > New user), creates a public
and a private project (Projects > New project) and adds alice to the private one as a Developer
(Members).  Alice signs in and sees exactly the projects she may; she reads the commands from the
Push image tab and runs them -- the real docker CLI, her password -- against the real registry;
the tag she pushed then appears on the Repositories tab, brought there by the registry's own
notification (the page is reloaded against a deadline until it does), with a ``docker pull`` whose
Copy button puts exactly that command on the clipboard.  A logged-in non-member sees the public
project only, and gets a 404 for the private one.
"""

from __future__ import annotations

import shlex

import pytest

from ..processes import ok
from ..stack import Stack, User
from . import forms
from .images import local_image

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]


def _image_path(reference: str, stack: Stack, project: str) -> str:
    """The ``IMAGE[:TAG]`` part of a command's target, after checking it names this registry and project."""
    prefix = f"{stack.host}/{project}/"
    assert reference.startswith(prefix), f"{reference!r} does not start with {prefix!r}"
    return reference[len(prefix):]


def push_commands(codes: list[str], stack: Stack, project: str) -> tuple[list[str], list[str], list[str]]:
    """The Push image tab's ``docker login``, ``docker tag`` and ``docker push``, as argv lists."""
    def find(prefix: str) -> list[str]:
        found = [shlex.split(code) for code in codes if code.startswith(prefix)]
        assert len(found) == 1, f"expected one `{prefix}` command on the Push image tab, found {codes}"
        return found[0]

    login, tag, push = find("docker login"), find("docker tag"), find("docker push")
    assert login == ["docker", "login", stack.host], login
    assert len(tag) == 4 and len(push) == 3, (tag, push)
    assert _image_path(tag[3], stack, project) == _image_path(push[2], stack, project), (tag, push)
    return login, tag, push


def test_the_seed_guides_walkthrough_in_the_console(stack, open_tab, docker, dockerd):
    admin = stack.user("admin", admin=True)
    outsider = stack.user("outsider")
    alice_name, alice_password = stack.unique("alice"), f"Alice-Secret-{stack.unique('pw')}"
    public, private = stack.unique("pub"), stack.unique("priv")
    someone_elses = stack.project("theirs", owner=stack.user("owner"))  # private, alice is no member

    root = open_tab(admin)
    forms.new_user(root, alice_name, alice_password)
    assert alice_name in root.text(), root.text()
    forms.new_project(root, public, public=True)
    forms.new_project(root, private, public=False)
    assert f"docker login {stack.host}" in root.codes(), root.codes()  # a new project shows its push commands
    forms.add_member(root, private, alice_name, "developer")
    assert root.page.get_by_label(f"Role for {alice_name}").input_value() == "developer"

    alice = open_tab(User(alice_name, alice_password))
    listed = {**forms.search_projects(alice, public), **forms.search_projects(alice, private)}
    assert set(listed) >= {public, private}, listed
    assert someone_elses not in forms.search_projects(alice, someone_elses)
    assert (listed[private]["Visibility"], listed[private]["My role"].lower()) == ("Private", "developer"), listed
    assert listed[public]["My role"].lower() not in ("guest", "developer", "maintainer", "admin"), listed
    assert listed[public]["Visibility"] == "Public", listed[public]

    # Push image: the commands as the tab shows them, run with the real docker CLI and alice's password.
    forms.project_tab(alice, private, "Push image")
    login, tag, push = push_commands(alice.codes(), stack, private)
    source = local_image(stack, dockerd)
    client = docker()
    ok(client(*login[1:], "-u", alice_name, "--password-stdin", input=alice_password + "\n"),
       "docker login as shown on the Push image tab")
    target = f"{stack.host}/{private}/walkthrough/app:v1"
    ok(client(tag[1], source, target), "docker tag as shown, its placeholders filled in")
    ok(client(push[1], target), "docker push as shown")

    # The Repositories tab learns of the push from the registry's notification.
    pull = f"docker pull {target}"
    forms.project_tab(alice, private, "Repositories")
    alice.reload_until(f"{target} on the Repositories tab", lambda: pull in alice.codes())
    alice.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=alice.base_url)
    row = alice.page.locator("tr", has=alice.page.locator("code", has_text=pull))
    row.get_by_role("button", name="Copy").click()
    assert alice.poll("the clipboard holds the pull command", "() => navigator.clipboard.readText()", pull)

    # A logged-in non-member: the public project only; the private one does not exist for him.
    other = open_tab(outsider)
    assert public in forms.search_projects(other, public)
    assert private not in forms.search_projects(other, private)
    for path in (f"/projects/{private}", f"/projects/{private}/push", f"/projects/{private}/members"):
        assert other.goto(path).status == 404, path
    assert other.goto(f"/projects/{public}").status == 200
