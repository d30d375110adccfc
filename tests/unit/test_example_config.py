"""The example configuration stays loadable and documents every setting; so does the settings
table of docs/operations.md."""

import dataclasses
import re
import tomllib
from pathlib import Path

from authsvc.settings import Settings, load
from tests.support.docs import section

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "authsvc.example.toml"


def test_example_names_every_setting_and_loads():
    documented = set(tomllib.loads(EXAMPLE.read_text()))
    assert documented == {f.name for f in dataclasses.fields(Settings)}
    assert load(environ={"AUTHSVC_CONFIG": str(EXAMPLE)}).realm.startswith("https://")


OPERATIONS = EXAMPLE.parents[1] / "docs" / "operations.md"


def test_the_operations_settings_table_names_every_setting():
    """docs/operations.md's table under "## Settings" is where operators look a key up: it must
    name every field of Settings (a row may name several keys) and nothing that is not one."""
    rows = [line for line in section(OPERATIONS, "## Settings").splitlines() if line.startswith("| `")]
    named = {key for row in rows for key in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1])}
    assert named == {f.name for f in dataclasses.fields(Settings)}
