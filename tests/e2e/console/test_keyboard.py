"""Keyboard only: sign in and create a project with Tab, typing, Space and Enter -- and see where you are.

The only step that is not a key press in the page is opening ``/login`` by its URL, as typing it
into the address bar would.  From there every step is a key press; at every stop on the way the focused element must
match ``:focus-visible`` and draw an indicator (an outline or a box-shadow), so a person who cannot
use a mouse can follow the focus.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from .browser import focus_is_visible

pytestmark = pytest.mark.e2e

#: More Tab presses than any console screen has controls before the one sought.
MAX_TABS = 40


def tab_to(page, what: str, matches: Callable[[dict], bool]) -> dict:
    """Press Tab until the focused element ``matches`` (it may already be: ``autofocus``); every
    element the focus stops on must show it."""
    seen = []
    for presses in range(MAX_TABS + 1):
        if presses:
            page.keyboard.press("Tab")
        focused = focus_is_visible(page)
        if presses == 0 and focused["tag"] == "BODY":
            continue  # nothing focused yet
        seen.append(focused)
        assert focused["focusVisible"] and focused["drawn"], f"focus not visible on {focused} (path: {seen})"
        if matches(focused):
            return focused
    raise AssertionError(f"{what} not reached in {MAX_TABS} Tab presses; focus went through {seen}")


def labelled(label: str) -> Callable[[dict], bool]:
    return lambda f: f["label"].strip().rstrip("*").strip() == label


def named(text: str) -> Callable[[dict], bool]:
    return lambda f: f["text"].strip() == text


def test_sign_in_and_create_a_project_with_the_keyboard_only(stack, open_tab):
    admin = stack.user("kbadmin", admin=True)  # project_creation = "admins" by default
    project = stack.unique("keys")
    tab = open_tab()
    page = tab.page
    tab.goto("/login")

    tab_to(page, "the User name field", labelled("User name"))
    page.keyboard.type(admin.name)
    tab_to(page, "the Password field", labelled("Password"))
    page.keyboard.type(admin.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    tab_to(page, "the Projects link", named("Projects"))
    with page.expect_navigation(url="**/projects"):
        page.keyboard.press("Enter")
    tab_to(page, "the New project link", named("New project"))
    with page.expect_navigation(url="**/projects/new"):
        page.keyboard.press("Enter")
    tab_to(page, "the Project name field", labelled("Project name"))
    page.keyboard.type(project)
    tab_to(page, "the Public check box", labelled("Public"))
    page.keyboard.press("Space")
    assert page.get_by_label("Public").is_checked()
    tab_to(page, "the Create project button", named("Create project"))
    with page.expect_navigation(url=f"**/projects/{project}/push"):
        page.keyboard.press("Enter")

    created = {p["name"]: p for p in json.loads(stack.authsvc("project", "list", "--json").stdout)}
    assert created[project]["public"] is True, created.get(project)
