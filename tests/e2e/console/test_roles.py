"""Who sees which controls: the policy's answers, as the browser renders them.

A Guest of a private project sees the project, its members and robots, but no control to change
them; its Project Admin sees those controls on the same tabs (so the Guest's view proves the
controls are withheld, not missing).  A logged-in non-member finds the private project neither in
the list nor in a search, and every one of its URLs is a 404 -- the same answer as for a project
that does not exist, so the console does not confirm that the name is taken.
"""

from __future__ import annotations

import pytest

from . import forms

pytestmark = pytest.mark.e2e

MEMBER_CONTROLS = ("Add member", "Change role", "Remove")
ROBOT_CONTROLS = ("Create robot",)


def buttons(tab, names) -> dict[str, int]:
    """How many buttons each name begins (Remove buttons are named "Remove <user>")."""
    return {name: tab.page.get_by_role("button", name=name).count() for name in names}


def test_a_guest_sees_no_member_or_robot_controls_and_the_admin_does(stack, open_tab):
    owner, guest, developer = stack.user("owner"), stack.user("guest"), stack.user("dev")
    project = stack.project("priv", owner=owner, members={guest: "guest", developer: "developer"})

    admin_tab = open_tab(owner)
    forms.project_tab(admin_tab, project, "Members")
    assert all(buttons(admin_tab, MEMBER_CONTROLS).values()), buttons(admin_tab, MEMBER_CONTROLS)
    assert admin_tab.page.get_by_label(f"Role for {guest.name}").count() == 1
    forms.project_tab(admin_tab, project, "Robots")
    assert all(buttons(admin_tab, ROBOT_CONTROLS).values())

    guest_tab = open_tab(guest)
    assert forms.search_projects(guest_tab, project)[project]["My role"].lower() == "guest"
    forms.project_tab(guest_tab, project, "Members")
    assert guest.name in guest_tab.text() and developer.name in guest_tab.text()  # the list, read-only
    assert not any(buttons(guest_tab, MEMBER_CONTROLS).values()), buttons(guest_tab, MEMBER_CONTROLS)
    assert guest_tab.page.get_by_label(f"Role for {developer.name}").count() == 0
    assert guest_tab.page.get_by_label("User name").count() == 0
    guest_tab.goto(f"/projects/{project}/robots")
    assert not any(buttons(guest_tab, ROBOT_CONTROLS).values())
    assert guest_tab.page.get_by_label("Robot name").count() == 0


def test_a_non_member_gets_404_for_a_private_project_and_never_sees_it_listed(stack, open_tab):
    owner, outsider = stack.user("owner"), stack.user("outsider")
    private = stack.project("hidden", owner=owner)
    public = stack.project("shown", public=True, owner=owner)

    tab = open_tab(outsider)
    assert public in forms.search_projects(tab, public)
    assert private not in forms.search_projects(tab, private)
    assert tab.page.get_by_role("link", name=private).count() == 0  # the search text is echoed, no more
    tab.goto("/projects")  # and unsearched: every page of the list
    while True:
        assert private not in forms.project_rows(tab)
        following = tab.page.get_by_role("link", name="Next")
        if following.count() == 0:
            break
        forms.follow(tab.page, following)

    missing = stack.unique("neverwas")
    for suffix in ("", "/push", "/members", "/robots", "/settings"):
        hidden = tab.goto(f"/projects/{private}{suffix}")
        absent = tab.goto(f"/projects/{missing}{suffix}")
        assert hidden.status == absent.status == 404, (suffix, hidden.status, absent.status)
    assert tab.goto(f"/projects/{public}").status == 200
