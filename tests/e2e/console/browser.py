"""Debian's Chromium driven by Playwright, and a thin handle on one signed-in console tab.

The browser is the machine's own ``/usr/bin/chromium`` (``apt-get install chromium``), launched
through ``executable_path``: Playwright never downloads a browser, and nothing here reaches the
network beyond 127.0.0.1.  The flags keep Chromium from phoning home on a closed network (no
component updates, sync, background fetches or QUIC probes), and ``--no-sandbox`` is what lets it
run as root, as CI does.

:class:`ConsoleTab` is one browser context (its own cookies: one signed-in person) with one page.
It records every message the page logs; a Content-Security-Policy violation is logged by Chromium
as a console error, so :meth:`ConsoleTab.csp_violations` is what the browser refused -- the
fixtures check it after every test, so every screen any test visits is checked against the CSP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Response, expect

from ..processes import require_binaries

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
#: How long a page element may take to appear; the server answers in milliseconds.
TIMEOUT_MS = 10_000
#: What Chromium logs when the CSP blocks something (script, style, frame, connection, eval).
CSP_MARKERS = ("Content Security Policy", "Content-Security-Policy")


def launch(playwright: Playwright) -> Browser:
    """Headless Chromium from Debian; a missing binary skips (or, under CI=true, fails) the caller."""
    path = require_binaries(CHROMIUM)[CHROMIUM]
    return playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)


@dataclass
class ConsoleTab:
    """One person's tab on the console: a fresh browser context (cookies, storage) and its page."""

    context: BrowserContext
    page: Page
    base_url: str
    messages: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Browser, base_url: str, *, viewport: dict | None = None,
             storage_state: dict | None = None) -> ConsoleTab:
        """``storage_state``: cookies another context saved (``context.storage_state()``), for a
        browser that replays what an earlier one held."""
        context = browser.new_context(base_url=base_url, viewport=viewport or DESKTOP, accept_downloads=True,
                                      storage_state=storage_state)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        tab = cls(context, page, base_url)
        page.on("console", lambda message: tab.messages.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: tab.messages.append(f"pageerror: {error}"))
        return tab

    def goto(self, path: str) -> Response:
        response = self.page.goto(path)
        assert response is not None, f"no response for {path}"
        return response

    def sign_in(self, name: str, password: str) -> None:
        """Through the sign-in form, as a person would; checks that it worked."""
        self.goto("/login")
        self.page.get_by_label("User name").fill(name)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        expect(self.page.get_by_role("button", name="Sign in")).to_be_visible()

    def text(self) -> str:
        return self.page.locator("body").inner_text()

    def codes(self) -> list[str]:
        """The text of every ``<code>`` on the page (the console's commands)."""
        return [text.strip() for text in self.page.locator("code").all_inner_texts()]

    def reload_until(self, what: str, probe: Callable[[], object], deadline_s: float = 30) -> object:
        """Reload until ``probe()`` is true (e.g. a tag the registry's notification brings), or fail."""
        deadline = time.monotonic() + deadline_s
        delay = 0.1
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {deadline_s:.0f}s: {what}\n--- page {self.page.url} ---\n"
                                     f"{self.text()[:3000]}")
            time.sleep(delay)  # polling interval between reloads, not a wait for delivery
            delay = min(delay * 2, 1.0)
            self.page.reload()

    def poll(self, what: str, expression: str, expected: object, deadline_s: float = 5) -> bool:
        """Evaluate ``expression`` (awaiting a promise) until it equals ``expected``, or fail.
        (``wait_for_function`` would take a returned promise as a true value without awaiting it.)"""
        deadline = time.monotonic() + deadline_s
        while (value := self.page.evaluate(expression)) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {deadline_s:.0f}s: {what}: {value!r} != {expected!r}")
            self.page.wait_for_timeout(50)  # polling interval
        return True

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if any(marker in m for marker in CSP_MARKERS)]

    def close(self) -> None:
        self.context.close()


def page_scrolls_sideways(page: Page) -> tuple[int, int] | None:
    """(scrollWidth, clientWidth) of the document when it is wider than the viewport, else None."""
    width, client = page.evaluate(
        "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
    return (width, client) if width > client else None


def focus_is_visible(page: Page) -> dict:
    """What the focused element is and whether a focus indicator is drawn (outline or box-shadow)."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
        const shadow = style.boxShadow && style.boxShadow !== 'none';
        return {tag: el.tagName, text: (el.innerText || el.value || el.name || '').slice(0, 60),
                label: el.labels && el.labels.length ? el.labels[0].innerText : '',
                focusVisible: el.matches(':focus-visible'), drawn: outline || !!shadow};
    }""")
