"""The example configuration stays loadable and documents every setting."""

import dataclasses
import tomllib
from pathlib import Path

from authsvc.settings import Settings, load

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "authsvc.example.toml"


def test_example_names_every_setting_and_loads():
    documented = set(tomllib.loads(EXAMPLE.read_text()))
    assert documented == {f.name for f in dataclasses.fields(Settings)}
    assert load(environ={"AUTHSVC_CONFIG": str(EXAMPLE)}).realm.startswith("https://")
