"""Which database a command uses, and what it says when that is not the one the user meant.

A new user who runs ``.venv/bin/authsvc user list`` outside the stack's environment must not get
an empty database created for them and then advice ("run authsvc init") that makes a second,
unrelated one: the settings file is found in a documented place (``AUTHSVC_CONFIG``, else
``$XDG_CONFIG_HOME/authsvc/authsvc.toml``), only init/db upgrade/restore create a database, and
every database error names the database.  (These tests bring their own settings, without
TEST_DATABASE_URL: they are about files and messages, the same on the PostgreSQL pass.)
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from authsvc.cli import main
from tests.cli.conftest import one_line_error


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """No AUTHSVC_* variable, a home and a config directory of the test's own, nothing in them."""
    for name in list(os.environ):
        if name.startswith("AUTHSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    (tmp_path / "home").mkdir()
    return tmp_path


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def write_config(path, data_dir) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'data_dir = "{data_dir}"\nbcrypt_rounds = 4\n')


READ_ONLY = [("user", "list"), ("project", "list"), ("member", "list", "web"), ("audit",), ("audit", "list"),
             ("repo", "list", "web"), ("tag", "list", "web/app"), ("token", "list"), ("robot", "list", "web"),
             ("pat", "list", "alice"), ("keys", "show"), ("db", "current"), ("db", "check")]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_never_creates_a_database(bare, command):
    default = bare / "home" / ".local" / "share" / "authsvc" / "authsvc.db"
    result = run(*command)
    one_line_error(result, f"no authsvc database at {default}")
    assert f"no {bare / 'config' / 'authsvc' / 'authsvc.toml'}" in result.stderr  # where it looked
    assert "run 'authsvc init' to create one there" in result.stderr
    assert not (bare / "home" / ".local").exists()  # not the file, not even its directory


def test_a_write_command_does_not_create_one_either_but_init_does(bare, monkeypatch):
    data = bare / "data"
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(data))
    one_line_error(run("user", "create", "alice", "--password-stdin", input="alice-pass-1\n"),
                   f"no authsvc database at {data / 'authsvc.db'}")
    assert not data.exists()
    assert run("init").exit_code == 0 and (data / "authsvc.db").exists()
    assert run("user", "create", "alice", "--password-stdin", input="alice-pass-1\n").exit_code == 0


def test_the_users_config_file_is_found_without_any_environment(bare):
    """What deploy/local/up.sh relies on: it writes ~/.config/authsvc/authsvc.toml for its stack."""
    write_config(bare / "config" / "authsvc" / "authsvc.toml", bare / "stack")
    assert run("init").exit_code == 0
    assert (bare / "stack" / "authsvc.db").exists()
    assert run("user", "create", "alice", "--password-stdin", input="alice-pass-1\n").exit_code == 0
    listed = run("user", "list")
    assert listed.exit_code == 0 and "alice" in listed.output
    doctor = run("doctor", "--json")
    assert str(bare / "config" / "authsvc" / "authsvc.toml") in doctor.output  # doctor names the file


def test_authsvc_config_wins_and_empty_turns_the_search_off(bare, monkeypatch):
    write_config(bare / "config" / "authsvc" / "authsvc.toml", bare / "found")
    write_config(bare / "named.toml", bare / "named")
    monkeypatch.setenv("AUTHSVC_CONFIG", str(bare / "named.toml"))
    assert run("init").exit_code == 0
    assert (bare / "named").is_dir() and not (bare / "found").exists()
    monkeypatch.setenv("AUTHSVC_CONFIG", "")
    one_line_error(run("user", "list"), "AUTHSVC_CONFIG is empty")
    assert not (bare / "found").exists()


def test_a_broken_config_file_in_the_search_path_is_named(bare):
    path = bare / "config" / "authsvc" / "authsvc.toml"
    path.parent.mkdir(parents=True)
    path.write_text("token_tll = 3600\n")
    one_line_error(run("user", "list"), f"setting 'token_tll' in {path} is not a known setting")


def test_a_database_without_schema_is_named(bare, monkeypatch):
    data = bare / "data"
    data.mkdir()
    (data / "authsvc.db").touch()
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(data))
    one_line_error(run("project", "list"), f"the database {data / 'authsvc.db'} has no authsvc schema")


def test_a_database_server_error_names_the_url_but_not_its_password(bare, monkeypatch):
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(bare / "data"))
    monkeypatch.setenv("AUTHSVC_DATABASE_URL", "postgresql+psycopg://authsvc:s3cret-pw@127.0.0.1:1/authsvc")
    result = run("user", "list")
    one_line_error(result, "database error at postgresql+psycopg://authsvc:***@127.0.0.1:1/authsvc")
    assert "s3cret-pw" not in result.output + result.stderr


def test_empty_lists_print_their_header(cli):
    cli("project", "create", "web")
    assert cli("repo", "list", "web").output == "NAME  TAGS  UPDATED_AT\n"
    assert cli("robot", "list", "web").output.split() == ["LOGIN", "ACTIONS", "EXPIRES_AT", "DISABLED",
                                                          "DESCRIPTION"]
    assert cli("token", "list").output.split() == ["ID", "USER", "CLIENT_ID", "CREATED_AT", "LAST_USED_AT"]
    assert cli("repo", "list", "web", "--json").output.strip() == "[]"


def test_audit_alone_lists_the_latest_events(cli):
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("project", "create", "web", "--owner", "alice")
    alone, listed = cli("audit"), cli("audit", "list")
    assert alone.output == listed.output
    lines = alone.output.splitlines()
    assert lines[0].split()[:5] == ["ID", "AT", "ACTOR", "SOURCE", "ACTION"]
    assert "project.create" in lines[1] and "user.create" in lines[2]  # newest first
    assert "Usage:" not in alone.output


def test_the_server_names_the_database_it_refuses_to_start_on(bare, monkeypatch):
    data = bare / "data"
    data.mkdir()
    (data / "authsvc.db").touch()
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(data))
    one_line_error(run("serve", "--port", "1"), f"database sqlite:///{data / 'authsvc.db'}: schema is at nothing")
