"""A pass's figures for tests/run's closing table: its duration, its test count and its slowest tests.

tests/run loads this plugin (``-p tests.suite_report``) in each pass with ``SUITE_REPORT`` naming
a JSON file; :func:`main` (``python -m tests.suite_report FILE...``) prints one table over the
passes' files at the end of the run, so that a slow test shows in every CI log, where the
per-pass ``--durations`` lists scroll away.  A test's time is its setup, call and teardown
together: a slow fixture is the test's cost.  Under pytest-xdist only the controller writes
(workers forward every report to it); the duration is the controller's wall clock.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict

import pytest

SLOWEST = 10


class SuiteReport:
    def __init__(self, path: str, name: str):
        self.path = path
        self.name = name
        self.started = time.monotonic()
        self.seconds: dict[str, float] = defaultdict(float)
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A test's outcome is its worst phase's: failed over skipped over passed (its call)."""
        self.seconds[report.nodeid] += report.duration
        outcome = "failed" if report.failed else "skipped" if report.skipped else None
        if outcome is None and report.when == "call":
            outcome = "passed"
        rank = {None: 0, "passed": 1, "skipped": 2, "failed": 3}
        if rank[outcome] > rank[self.outcomes.get(report.nodeid)]:
            self.outcomes[report.nodeid] = outcome

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        counts: dict[str, int] = defaultdict(int)
        for outcome in self.outcomes.values():
            counts[outcome] += 1
        slowest = sorted(self.seconds.items(), key=lambda kv: kv[1], reverse=True)[:SLOWEST]
        with open(self.path, "w") as fh:
            json.dump({"name": self.name, "seconds": time.monotonic() - self.started, "counts": dict(counts),
                       "exitstatus": int(exitstatus), "slowest": slowest}, fh)


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get("SUITE_REPORT")
    if path and not hasattr(config, "workerinput"):  # the xdist controller, or a run without xdist
        config.pluginmanager.register(SuiteReport(path, os.environ.get("SUITE_REPORT_NAME", "pass")),
                                      "suite-report")


def minutes(seconds: float) -> str:
    return f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"


def table(reports: list[dict]) -> str:
    lines = ["== tests/run: summary", f"  {'pass':<22} {'time':>8} {'passed':>7} {'failed':>7} {'skipped':>8}"]
    for r in reports:
        c = r["counts"]
        lines.append(f"  {r['name']:<22} {minutes(r['seconds']):>8} {c.get('passed', 0):>7} "
                     f"{c.get('failed', 0):>7} {c.get('skipped', 0):>8}")
    lines.append(f"  {'total':<22} {minutes(sum(r['seconds'] for r in reports)):>8} "
                 f"{sum(r['counts'].get('passed', 0) for r in reports):>7}")
    for r in reports:
        lines.append(f"  slowest in the {r['name']} (setup + call + teardown):")
        lines.extend(f"    {seconds:7.1f}s  {nodeid}" for nodeid, seconds in r["slowest"])
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    reports = []
    for path in paths:
        try:
            with open(path) as fh:
                reports.append(json.load(fh))
        except (OSError, ValueError):
            continue  # a pass that did not run (or died before writing) has no row
    print(table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
