"""The Content-Security-Policy, as the browser enforces it: our script runs, nothing inline does.

Every console test fails if a tab logged a CSP violation (``conftest.open_tab``); this test shows
that the check can see one.  An inline script and an inline style put into a console page are
refused by Chromium and the refusals are logged, while the console's own script (``copy.js``,
served from the console's origin) runs: it reveals the Copy buttons, which are ``hidden`` in the
HTML so that a browser without JavaScript shows no button that cannot work.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

INJECT = """() => {
    const script = document.createElement('script');
    script.textContent = 'window.inlineScriptRan = true';
    document.head.appendChild(script);
    const style = document.createElement('style');
    style.textContent = 'body { background: rgb(255, 0, 0) !important; }';
    document.head.appendChild(style);
}"""


def test_the_browser_refuses_inline_code_and_runs_the_consoles_own_script(stack, open_tab):
    owner = stack.user("owner")
    project = stack.project("csp", owner=owner)
    tab = open_tab(owner)
    response = tab.goto(f"/projects/{project}/push")
    policy = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy, policy

    copy = tab.page.get_by_role("button", name="Copy").first
    copy.wait_for(state="visible")  # un-hidden by copy.js: the console's own script ran

    assert tab.csp_violations() == [], tab.messages
    def refusal(kind: str):
        return lambda message: "Content Security Policy" in message.text and kind in message.text

    with tab.page.expect_console_message(refusal("script")), tab.page.expect_console_message(refusal("style")):
        tab.page.evaluate(INJECT)
    assert tab.page.evaluate("() => window.inlineScriptRan") is None, "an inline script ran"
    background = tab.page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 0, 0)", "an inline style was applied"
    refused = tab.csp_violations()
    assert any("script" in m for m in refused) and any("style" in m for m in refused), tab.messages
    tab.messages.clear()  # seen and expected: the fixture's check is for the console's own pages
