"""Issue 20: a PostgreSQL ``database_url`` on an install without the ``postgres`` extra.

psycopg is installed in the test environment, so each run is a subprocess in which it cannot
be imported (``sys.modules['psycopg'] = None`` makes ``import psycopg`` fail exactly as on an
install without it).  The subprocess runs this checkout's authsvc (the repository root is its
working directory, first on ``sys.path`` for ``-c``).  Nothing connects: the URL names a socket
directory that does not exist, so a run that got past the driver check would fail differently.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
URL = "postgresql+psycopg://authsvc@/authsvc?host=/nonexistent-authsvc-test"
FIX = "pip install 'authsvc[postgres]'"
BLOCKED = "import sys; sys.modules['psycopg'] = None; "


def _run(tmp_path, code: str, *args: str, url: str = URL) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env.update(AUTHSVC_DATA_DIR=str(tmp_path / "data"), AUTHSVC_DATABASE_URL=url)
    return subprocess.run([sys.executable, "-c", BLOCKED + code, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


CLI = "from authsvc.cli import main; main()"


@pytest.mark.parametrize("args", [("init",), ("user", "list"), ("db", "upgrade")])
def test_commands_say_in_one_line_what_to_install(tmp_path, args):
    done = _run(tmp_path, CLI, *args)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("authsvc: error:") and FIX in lines[0], done.stderr
    assert "psycopg" in lines[0] and "Traceback" not in done.stdout + done.stderr


def test_a_plain_postgresql_url_is_told_to_name_psycopg(tmp_path):
    done = _run(tmp_path, CLI, "init", url=URL.replace("+psycopg", ""))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert FIX in done.stderr  # SQLAlchemy 2.1's default PostgreSQL driver is psycopg too


def test_doctor_fails_the_database_check_with_the_fix(tmp_path):
    done = _run(tmp_path, CLI, "doctor")
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    database = [line for line in done.stdout.splitlines() if line.split()[:2] == ["FAIL", "database"]]
    assert database and "psycopg" in database[0], done.stdout
    assert f"fix:          {FIX}" in done.stdout


def test_the_server_logs_one_line_and_exits_as_gunicorn_expects(tmp_path):
    """What a gunicorn worker runs: create_app() in serving mode.  Exit status 4 is gunicorn's
    "App failed to load", which stops the master instead of re-booting workers in a loop."""
    done = _run(tmp_path, "from authsvc import create_app; create_app()")
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ERROR" in lines[0] and FIX in lines[0], done.stderr
