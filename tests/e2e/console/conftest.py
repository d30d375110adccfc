"""Fixtures of the console's browser tests: a fresh context per tab on the session's Chromium.

The console is served by the same authsvc as the token endpoint, so the e2e ``stack`` (authsvc
under gunicorn with the real registry and its notifications, one per registry generation per
session) is the console's server too.  Chromium (``browser``, in tests/e2e/conftest.py since the
OIDC tests drive it too) starts once per session (about a second); each test opens as many tabs
as it has people, each a new browser context with its own cookies, so no session leaks from one
test into another.  After every test, no tab may have logged a
Content-Security-Policy violation: every screen a test visits is checked against the CSP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser

from ..stack import Stack
from .browser import ConsoleTab


def console_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.auth_port}"


@pytest.fixture
def open_tab(browser: Browser, stack: Stack) -> Iterator[Callable[..., ConsoleTab]]:
    """``open_tab(user=None, viewport=None)``: a new tab (browser context) on the console, signed
    in as ``user`` through the form when one is given."""
    tabs: list[ConsoleTab] = []

    def opener(user=None, *, viewport: dict | None = None) -> ConsoleTab:
        tab = ConsoleTab.open(browser, console_url(stack), viewport=viewport)
        tabs.append(tab)
        if user is not None:
            tab.sign_in(user.name, user.password)
        return tab

    yield opener
    violations = [(tab.page.url, message) for tab in tabs for message in tab.csp_violations()]
    for tab in tabs:
        tab.close()
    assert not violations, "the browser reported Content-Security-Policy violations:\n" + "\n".join(
        f"{url}: {message}" for url, message in violations)
