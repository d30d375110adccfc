"""The ``cli`` fixture: the real click command, in-process, with a fresh data dir and database."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from authsvc.cli import main
from tests.conftest import SERVER_URL, fresh_database_url


@pytest.fixture
def cli(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("AUTHSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AUTHSVC_BCRYPT_ROUNDS", "4")
    if SERVER_URL:
        monkeypatch.setenv("AUTHSVC_DATABASE_URL", fresh_database_url(tmp_path))
    runner = CliRunner()

    def run(*args, input=None, ok=True):
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result

    run("init")
    return run


def one_line_error(result, fragment):
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("authsvc: error:") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output + result.stderr
