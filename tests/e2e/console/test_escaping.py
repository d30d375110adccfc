"""Markup typed into the console comes back as text, in the browser's own DOM.

The server-side tests check the HTML the console sends; this checks what a browser builds from
it.  Every place where the console echoes what someone typed -- the user name of a failed sign-in,
a search, a refused project name -- gets an element with an ``onerror`` handler: escaped, it is
text on the page and no such element exists in the DOM (the CSP would also block the handler,
and the fixture would report that as a violation, but escaping must hold without it).
"""

from __future__ import annotations

import pytest

from . import forms

pytestmark = pytest.mark.e2e

PAYLOAD = '<img src="/nowhere" id="injected" onerror="window.injected = 1">'


def assert_inert(tab) -> None:
    assert tab.page.locator("#injected").count() == 0, "markup from input became an element"
    assert tab.page.evaluate("() => window.injected") is None


def test_what_people_type_is_shown_as_text_never_as_markup(stack, open_tab):
    anonymous = open_tab()
    anonymous.goto("/login")
    anonymous.page.get_by_label("User name").fill(PAYLOAD)
    anonymous.page.get_by_label("Password", exact=True).fill("wrong-password-1")
    forms.follow(anonymous.page, anonymous.page.get_by_role("button", name="Sign in"))
    assert "Invalid user name or password." in anonymous.text()
    assert anonymous.page.get_by_label("User name").input_value() == PAYLOAD  # kept, as a value
    assert_inert(anonymous)

    tab = open_tab(stack.user("admin", admin=True))
    tab.goto("/projects")
    tab.page.get_by_label("Search projects").fill(PAYLOAD)
    forms.follow(tab.page, tab.page.get_by_label("Search projects"), "Enter")
    assert PAYLOAD in tab.text()
    assert_inert(tab)

    tab.goto("/projects/new")
    tab.page.get_by_label("Project name").fill(PAYLOAD)
    forms.follow(tab.page, tab.page.get_by_role("button", name="Create project"))
    assert tab.page.get_by_label("Project name").input_value() == PAYLOAD
    assert_inert(tab)
    names = stack.authsvc("project", "list", "--json").stdout
    assert "injected" not in names, names
