"""axe-core on every console screen, at 375 px wide and at desktop width, in the real browser.

Every screen of :data:`tour.SCREENS` (with data behind it: members, tags, robots, tokens) is
loaded as its viewer sees it and checked with axe-core (the ``axe-playwright-python`` package
injects the axe-core release it ships): no violation of serious or critical impact.  At 375 px
the page must not scroll sideways (``document.scrollingElement.scrollWidth <= clientWidth``): wide
tables and long commands scroll inside their own box, never the page.  The fixture's CSP check
covers every one of these screens too.  Every problem of every screen is collected before the
test fails, so one run names them all.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from . import tour as tour_module
from .browser import DESKTOP, PHONE, page_scrolls_sideways

pytestmark = pytest.mark.e2e

BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def tour(stack) -> tour_module.Tour:
    return tour_module.seed(stack)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375px", "desktop"])
def test_every_screen_has_no_serious_accessibility_violation(tour, open_tab, viewport):
    axe = Axe()
    tabs: dict[str, object] = {}
    problems: list[str] = []
    checked = 0
    for screen in tour_module.SCREENS:
        if screen.viewer not in tabs:
            tabs[screen.viewer] = open_tab(tour_module.viewer(tour, screen), viewport=viewport)
        tab = tabs[screen.viewer]
        screen.show(tab, tour)
        result = axe.run(tab.page).response
        assert "violations" in result and result.get("testEngine", {}).get("name") == "axe-core", result.keys()
        checked += 1
        for violation in result["violations"]:
            if violation["impact"] in BLOCKING:
                targets = [node["target"] for node in violation["nodes"]][:5]
                problems.append(f"{screen.name}: {violation['id']} ({violation['impact']}): {violation['help']} "
                                f"-- {targets}")
        if viewport is PHONE and (overflow := page_scrolls_sideways(tab.page)):
            problems.append(f"{screen.name}: the page scrolls sideways at 375 px (scrollWidth {overflow[0]} > "
                            f"clientWidth {overflow[1]})")
    assert checked == len(tour_module.SCREENS)
    assert not problems, f"{len(problems)} problem(s) at {viewport['width']} px:\n" + "\n".join(problems)
