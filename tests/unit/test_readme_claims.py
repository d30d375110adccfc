"""What README.md says about the test suite stays true of the code that decides it.

The README tells a new user what ``tests/run``'s PostgreSQL pass repeats; the selection itself
is ``tests/postgres_pass.py``.  A path added to (or dropped from) the selection must be said in
the README too, or this fails.  (The walkthrough's truth is tests/e2e/test_readme_walkthrough.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

from tests import postgres_pass

README = Path(__file__).resolve().parents[2] / "README.md"


def _postgres_paragraph() -> str:
    text = README.read_text()
    start = text.index("**PostgreSQL, what depends on the database**")
    return text[start:text.index("\n\n", start)]


def test_the_readme_names_what_the_postgresql_pass_repeats():
    paragraph = _postgres_paragraph()
    assert "tests/postgres_pass.py" in paragraph
    paragraph = " ".join(paragraph.split())
    for path in postgres_pass.DATABASE_PATHS:
        named = f"`{path.rstrip('/')}`"
        assert named in paragraph, f"{path} is repeated on PostgreSQL but README.md does not say so"
    assert "marked `database`" in paragraph


#: CI's budget for a clean run is 90 minutes; the suite is kept to a third of it (issue 19).
BUDGET_MINUTES = 30
RUN = README.parent / "tests" / "run"
CI_RUN = README.parent / ".ci" / "run"


def test_the_readme_gives_the_passes_durations_within_the_budget():
    """The durations a fresh-clone run measured: three passes that add up to the total stated,
    and a total within the budget (a slower run must be fixed, or its truth told here)."""
    text = " ".join(README.read_text().split())
    found = re.search(r"SQLite pass (\d+) min, PostgreSQL pass (\d+) min, Flask token path pass (\d+) min "
                      r"\((\d+) min in all\)", text)
    assert found, "README.md gives no durations"
    passes, total = [int(n) for n in found.groups()[:3]], int(found.group(4))
    assert abs(sum(passes) - total) <= 2, f"the passes ({passes}) do not add up to the {total} min stated"
    assert total <= BUDGET_MINUTES, f"README.md states a {total}-minute run: over the {BUDGET_MINUTES}-minute budget"


def test_the_readme_says_what_tests_run_runs():
    """The test command CI runs is the README's, on as many workers as the README says."""
    assert "exec tests/run" in CI_RUN.read_text()
    text = " ".join(README.read_text().split())
    assert "```sh tests/run ```" in text
    workers = re.search(r'-n "\$\{TEST_WORKERS:-(\d+)\}"', RUN.read_text())
    assert workers, "tests/run no longer runs its passes with pytest-xdist"
    assert f"`TEST_WORKERS`, default {workers.group(1)}" in text
