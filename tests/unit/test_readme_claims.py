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


def test_the_readme_gives_the_passes_durations():
    text = " ".join(README.read_text().split())
    assert re.search(r"SQLite pass \d+ min, PostgreSQL pass \d+ min, Flask token path pass \d+ min", text), \
        "README.md gives no durations"
