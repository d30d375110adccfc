"""Signing out ends the console session on the server: a copy of the cookie opens nothing after it.

A cookie copied from a shared machine, a proxy log or a browser extension used to outlive the
sign-out its owner trusted, until the idle or absolute limit (security review, December,
finding 3).  Here a person signs in through the form and the tab's cookies are copied into other
browser contexts, as a thief would carry them: before the sign-out the copy opens the person's
pages, after it every copy is sent to the sign-in page.  authsvc runs under gunicorn with two
sync workers, which take connections as they come: the copy is replayed from several fresh
contexts, so both workers answer it, and neither may still know the session.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

REPLAYS = 8


def replay(open_tab, cookies: list[dict]):
    """A new browser context holding only the copied cookies, on the console's projects page."""
    thief = open_tab()
    thief.context.add_cookies(cookies)
    thief.goto("/projects")
    return thief


def test_a_cookie_copied_before_signing_out_opens_nothing_on_any_worker(stack, open_tab):
    person = stack.user("leaver")
    tab = open_tab(person)
    copied = tab.context.cookies()
    assert copied, "signing in set no cookie"

    before = replay(open_tab, copied)
    assert before.page.url.endswith("/projects"), before.page.url
    assert person.name in before.text(), "the copied cookie did not open the person's pages"

    tab.sign_out()
    for _ in range(REPLAYS):
        after = replay(open_tab, copied)
        assert after.page.url.split("?")[0].endswith("/login"), (
            f"a cookie copied before signing out still opens {after.page.url}")
        assert after.page.get_by_role("button", name="Sign in").is_visible()
