"""The shell blocks of a Markdown document, as tests that run the docs' commands as written read them.

A test that copies a command into its own code proves the copy; one that reads the block from
the document proves what operators paste.  A block is found by the heading of its section and
its position there, and a test that needs to change a line for the machine it runs on (a port,
a database URL) does so with :func:`replace_once`, which fails when the line is gone, so the
test cannot silently stop matching the document.
"""

from __future__ import annotations

import re
from pathlib import Path

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def section(path: Path, heading: str) -> str:
    """The text under ``heading`` (a whole heading line, e.g. ``## Install on Kubernetes``), up to
    the next heading of the same or a higher level."""
    text = path.read_text()
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip("\n") == heading)
    except StopIteration:
        raise AssertionError(f"{path}: no heading {heading!r}") from None
    end = next((i for i in range(start + 1, len(lines))
                if re.match(rf"^#{{1,{level}}} ", lines[i])), len(lines))
    return "".join(lines[start + 1:end])


def shell_blocks(path: Path, heading: str) -> list[str]:
    """The ```sh blocks of that section, in order."""
    return [body for lang, body in _FENCE.findall(section(path, heading)) if lang in ("sh", "bash", "shell")]


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines dropped."""
    out, current = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        stripped = current.strip()
        if stripped and not stripped.startswith("#"):
            out.append(stripped)
        current = ""
    return out


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with the one occurrence of ``old`` replaced; fails if there is not exactly one."""
    count = text.count(old)
    assert count == 1, f"expected {old!r} once in the documented block, found it {count} times:\n{text}"
    return text.replace(old, new)
