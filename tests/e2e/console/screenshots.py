"""Screenshots of every console screen: ``.venv/bin/python -m tests.e2e.console.screenshots docs/console/``.

Starts its own stack (authsvc under gunicorn and Debian's docker-registry 2.8.2, in a scratch
directory under /tmp, removed at the end), fills it with :func:`tour.seed` using plain names
(admin, alice, webshop ...), and photographs every screen of :data:`tour.SCREENS` at desktop
width with Debian's Chromium, plus a few at 375 px (``*-375.png``).  Needs what the e2e tests
need (``deploy/local/install.sh``); about half a minute.  docs/console.md shows the pictures.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from ..processes import require_binaries
from ..registries import REGISTRY2
from ..stack import Stack
from . import tour as tour_module
from .browser import DESKTOP, PHONE, ConsoleTab, launch
from .conftest import console_url

#: Screens also shown at 375 px wide.
PHONE_SCREENS = ("projects", "project-push", "project-repositories")
#: Pixels of screen per CSS pixel: 1 keeps the files small and the text still sharp enough.
SCALE = 1


def shoot(stack: Stack, tour: tour_module.Tour, out: Path) -> list[Path]:
    written = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for viewport, suffix, names in ((DESKTOP, "", None), (PHONE, "-375", PHONE_SCREENS)):
                tabs: dict[str, ConsoleTab] = {}
                for screen in tour_module.SCREENS:
                    if names is not None and screen.name not in names:
                        continue
                    if screen.viewer not in tabs:
                        tab = ConsoleTab.open(browser, console_url(stack), viewport=viewport)
                        user = tour_module.viewer(tour, screen)
                        if user is not None:
                            tab.sign_in(user.name, user.password)
                        tabs[screen.viewer] = tab
                    tab = tabs[screen.viewer]
                    screen.show(tab, tour)
                    path = out / f"{screen.name}{suffix}.png"
                    tab.page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
                    written.append(path)
                for tab in tabs.values():
                    if tab.csp_violations():
                        raise SystemExit(f"CSP violations on {tab.page.url}: {tab.csp_violations()}")
                    tab.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.console.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="directory for the PNG files (e.g. docs/console/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="ashot", dir="/tmp"))  # short: unix socket paths
    try:
        binaries = {**require_binaries("authsvc", "gunicorn", "skopeo"), "registry": REGISTRY2.binary()}
        stack = Stack(root / "stack", binaries)
        stack.root.mkdir()
        try:
            stack.start()
            tour = tour_module.seed(stack, unique=lambda base: base)
            written = shoot(stack, tour, args.out)
        finally:
            stack.stop()
    except BaseException as exc:  # pytest's skip/fail outcomes of require_binaries are BaseExceptions
        if isinstance(exc, KeyboardInterrupt):
            raise
        print(f"screenshots failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    total = sum(path.stat().st_size for path in written)
    print(f"{len(written)} screenshots in {args.out} ({total / 1024:.0f} KiB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
