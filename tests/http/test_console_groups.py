"""The Members tab's Groups section: group members (a directory's or an identity provider's
groups) listed for the project's members, and added, re-roled and removed by whoever the service
lets manage members -- with the service's warning beside the success and its refusals as the tab
with a clear message, never a 500.

The same forms for every person of the seed are compared with the API in
test_console_permissions.py, their CSRF refusal is in test_console_security.py, and the warning
against a real directory in test_console_directory.py.
"""

from __future__ import annotations

import re

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.access import project_groups
from authsvc.store.models import GroupMembership, db
from tests.conftest import PASSWORDS
from tests.http.conftest import served
from tests.support.console import Browser
from tests.support.units import call

#: A row of the Groups table: the group's name, then its role.
ROW = r'<td data-label="Group">{}</td>\s*<td data-label="Role">{}</td>'


@pytest.fixture
def console(tmp_path):
    with served(tmp_path) as application:
        yield application


def groups(app, project: str = "priv") -> list[tuple[str, str]]:
    """The project's group members as stored: (group, role)."""
    with app.app_context():
        rows = [(m.group, m.role.value) for m in call(project_groups.list_group_members, OPERATOR, project)]
        db.session.remove()
        return rows


def add_group(app, group: str, role: str = "guest", project: str = "priv") -> None:
    with app.app_context():
        call(project_groups.add_group_member, OPERATOR, project, group, role)
        db.session.remove()


def test_a_group_is_added_changed_and_removed_and_the_list_shows_it(console):
    alice = Browser(console, "alice")
    empty = alice.text("/projects/priv/members")
    assert '<h2 id="groups">Groups</h2>' in empty and "No group is a member of this project." in empty
    added = alice.post("/projects/priv/groups", {"group": " Payments-Dev ", "role": "developer"})
    assert added.status_code == 303 and added.headers["Location"] == "/projects/priv/members"
    page = alice.text("/projects/priv/members")
    assert '<p class="flash flash-success" role="status">Group payments-dev is now a member of priv as developer.</p>' in page
    assert re.search(ROW.format("payments-dev", "developer"), page) and "1 group</caption>" in page
    assert re.search(r'<label for="group-role-1" class="visually-hidden">Role for group payments-dev</label>', page)
    assert groups(console) == [("payments-dev", "developer")]

    changed = alice.post("/projects/priv/groups/role", {"group": "payments-dev", "role": "maintainer"})
    assert changed.status_code == 303
    page = alice.text("/projects/priv/members")
    assert "Group payments-dev is now maintainer in priv." in page
    assert re.search(ROW.format("payments-dev", "maintainer"), page)
    assert groups(console) == [("payments-dev", "maintainer")]

    removed = alice.post("/projects/priv/groups/remove", {"group": "payments-dev"})
    assert removed.status_code == 303
    page = alice.text("/projects/priv/members")
    assert "Group payments-dev is no longer a member of priv." in page
    assert "No group is a member of this project." in page and "payments-dev</td>" not in page
    assert groups(console) == []


def test_without_a_directory_the_warning_is_shown_beside_the_success(console):
    root = Browser(console, "root")
    assert root.post("/projects/pub/groups", {"group": "ops", "role": "guest"}).status_code == 303
    page = root.text("/projects/pub/members")
    success = page.index("Group ops is now a member of pub as guest.")
    warning = page.index('<p class="flash flash-warning" role="status">Warning: no directory is configured (ldap_url)')
    assert success < warning < page.index('<h2>Members</h2>')  # both flashes, before the tab's content
    assert "Warning:" not in root.text("/projects/pub/members")  # shown once, like every flash


#: (user, status of each form) -- success is a 303; refused: the tab (403) or the not-found page (404).
RIGHTS = [("root", 303), ("alice", 303), ("dave", 403), ("bob", 403), ("carol", 403), ("erin", 404)]


@pytest.mark.parametrize("user, expected", RIGHTS, ids=[user for user, _ in RIGHTS])
def test_who_may_use_the_group_forms(tmp_path, user, expected):
    assert set(PASSWORDS) == {u for u, _ in RIGHTS}
    with served(tmp_path) as console:
        add_group(console, "ops", "guest")
        browser = Browser(console, user)
        forms = [("/projects/priv/groups", {"group": "payments-dev", "role": "developer"}),
                 ("/projects/priv/groups/role", {"group": "ops", "role": "admin"}),
                 ("/projects/priv/groups/remove", {"group": "ops"})]
        for path, form in forms:
            response = browser.post(path, form)
            assert response.status_code == expected, (path, response.get_data(as_text=True))
            text = response.get_data(as_text=True)
            if expected == 403:
                assert "you may not manage the members of project &#39;priv&#39;" in text, text
                assert '<h2 id="groups">Groups</h2>' in text  # the tab again, with the refusal
            if expected == 404:
                assert "priv" not in text and "Page not found" in text
        assert groups(console) == ([("payments-dev", "developer")] if expected == 303 else [("ops", "guest")])


def test_a_guest_and_a_developer_see_the_groups_but_no_group_controls(console):
    add_group(console, "payments-dev", "developer")
    for user in ("carol", "bob"):
        page = Browser(console, user).text("/projects/priv/members")
        assert re.search(ROW.format("payments-dev", "developer"), page)
        for control in ("Add group", "Group name", "Role for group", "/projects/priv/groups"):
            assert control not in page, (user, control)
    admin = Browser(console, "alice").text("/projects/priv/members")
    for control in ("Add group", '<label for="new-group">Group name</label>', "Role for group payments-dev",
                    'action="/projects/priv/groups/remove"'):
        assert control in admin
    assert Browser(console, "erin").get("/projects/pub/members").status_code == 403  # a public project's people


BAD_ADDS = [
    ({"group": "", "role": "developer"}, 400, "group name must not be empty"),
    ({"group": "pay\x01ments", "role": "developer"}, 400, "must not hold control characters"),
    ({"group": "g" * 201, "role": "developer"}, 400, "group name longer than 200 characters"),
    ({"group": "payments-dev", "role": "owner"}, 400, "unknown role &#39;owner&#39;: choose one of"),
    ({"group": "PAYMENTS-DEV", "role": "guest"}, 409, "group &#39;payments-dev&#39; is already a member of project"),
]


@pytest.mark.parametrize("form, status, message", BAD_ADDS, ids=["empty", "control", "long", "role", "twice"])
def test_a_bad_group_to_add_is_the_tab_with_a_clear_error(console, form, status, message):
    add_group(console, "payments-dev", "developer")
    alice = Browser(console, "alice")
    response = alice.post("/projects/priv/groups", form)
    assert response.status_code == status
    text = response.get_data(as_text=True)
    assert '<p class="flash flash-error" role="alert">' in text and message in text, text
    assert '<h2 id="groups">Groups</h2>' in text and "Something went wrong" not in text
    if form["group"] and "\x01" not in form["group"]:
        assert f'value="{form["group"].strip()}"' in text  # what was typed is kept for correcting
    assert groups(console) == [("payments-dev", "developer")]


BAD_CHANGES = [
    ("/projects/priv/groups/role", {"group": "payments-dev", "role": "owner"}, 400, "unknown role"),
    ("/projects/priv/groups/role", {"group": "nobody-here", "role": "guest"}, 404, "is not a member of project"),
    ("/projects/priv/groups/remove", {"group": "nobody-here"}, 404, "is not a member of project"),
    ("/projects/priv/groups/remove", {"group": "bad\x00name"}, 404, "is not a member of project"),
    ("/projects/priv/groups/remove", {}, 404, "is not a member of project"),
]


@pytest.mark.parametrize("path, form, status, message", BAD_CHANGES,
                         ids=["unknown-role", "role-non-member", "remove-non-member", "remove-nul", "remove-none"])
def test_changing_or_removing_a_group_that_is_not_there_is_a_clear_error(console, path, form, status, message):
    add_group(console, "payments-dev", "developer")
    response = Browser(console, "alice").post(path, form)
    assert response.status_code == status
    text = response.get_data(as_text=True)
    assert '<p class="flash flash-error" role="alert">' in text and message in text, text
    assert re.search(ROW.format("payments-dev", "developer"), text)  # the tab, the list unchanged
    assert groups(console) == [("payments-dev", "developer")]


def test_any_group_name_is_shown_as_text_and_managed_through_the_form_body(console):
    """Names are free text: a Keycloak group path with slashes, markup, a colon prefix."""
    alice = Browser(console, "alice")
    for name in ("/team/devs", "<b>x</b>&amp;", "oidc:payments dev"):
        assert alice.post("/projects/priv/groups", {"group": name, "role": "guest"}).status_code == 303
    page = alice.text("/projects/priv/members")
    assert "<b>x</b>" not in page and re.search(ROW.format("&lt;b&gt;x&lt;/b&gt;&amp;amp;", "guest"), page)
    assert 'name="group" value="&lt;b&gt;x&lt;/b&gt;&amp;amp;"' in page
    assert alice.post("/projects/priv/groups/role", {"group": "/team/devs", "role": "developer"}).status_code == 303
    assert alice.post("/projects/priv/groups/remove", {"group": "<b>x</b>&amp;"}).status_code == 303
    assert alice.post("/projects/priv/groups/remove", {"group": "OIDC:Payments Dev"}).status_code == 303
    assert groups(console) == [("/team/devs", "developer")]
    with console.app_context():
        assert db.session.query(GroupMembership).count() == 1
        db.session.remove()
