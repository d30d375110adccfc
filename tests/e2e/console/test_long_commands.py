"""At 375 px a long command stays on one line and scrolls sideways inside its own box.

A command broken across lines inside a host or image name reads (and, by hand, copies) wrong, and
on a plain-HTTP console reached by a LAN address there is no Copy button to fall back on (the
browser gives no clipboard outside a secure context).  So every command box of the Push image tab
and the pull command of a tag must be one line high, wider inside than its box (it scrolls), and
never make the page itself scroll sideways.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from . import forms
from .browser import PHONE, page_scrolls_sideways

pytestmark = pytest.mark.e2e

#: Each command box on the page: its text, inner and outer width, and its height in lines.
MEASURE = """() => [...document.querySelectorAll('.command code')].map(box => {
    const style = getComputedStyle(box);
    const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    return {id: box.id, text: box.textContent, scrollWidth: box.scrollWidth, clientWidth: box.clientWidth,
            lines: Math.round((box.clientHeight - padding) / parseFloat(style.lineHeight))};
})"""


def command_boxes(page: Page) -> dict[str, dict]:
    return {box["id"]: box for box in page.evaluate(MEASURE)}


def assert_scrolls_on_one_line(page: Page, long: list[str]) -> None:
    """Every command box on the page is one line; those named in ``long`` scroll."""
    boxes = command_boxes(page)
    assert set(long) <= set(boxes), (long, boxes)
    for name, box in boxes.items():
        assert box["lines"] == 1, f"{name} wraps onto {box['lines']} lines at 375 px: {box}"
    for name in long:
        assert boxes[name]["scrollWidth"] > boxes[name]["clientWidth"], f"{name} does not scroll in its box: {boxes}"
    assert page_scrolls_sideways(page) is None, "the page itself scrolls sideways"


def test_long_commands_scroll_in_their_box_at_375_px(stack, open_tab):
    owner = stack.user("owner")
    project = stack.project("a-project-with-a-rather-long-name-for-a-phone", owner=owner)
    repository = "team-payments/frontend-service"
    stack.push_image(project, repository, owner, "release-2026.01.01-rc1")

    tab = open_tab(owner, viewport=PHONE)
    forms.project_tab(tab, project, "Push image")
    assert_scrolls_on_one_line(tab.page, ["cmd-tag", "cmd-push", "cmd-pull"])

    tab.goto(f"/projects/{project}/repositories/{repository}")
    tab.reload_until("the pushed tag on the repository page", lambda: "pull-1" in command_boxes(tab.page))
    assert_scrolls_on_one_line(tab.page, ["pull-1"])
