"""``authsvc backup`` / ``restore``: everything an installation cannot rebuild, and back."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.cli.conftest import one_line_error
from tests.conftest import SERVER_URL


@pytest.fixture
def on_sqlite(cli, monkeypatch):
    """The SQLite copy is what these tests are about, so they use SQLite on both passes of the
    suite (on PostgreSQL, backup copies only the keys: pg_dump's job)."""
    monkeypatch.delenv("AUTHSVC_DATABASE_URL", raising=False)
    cli("init")
    return cli


def users(cli) -> list[str]:
    return sorted(u["name"] for u in json.loads(cli("user", "list", "--json").stdout))


def test_backup_holds_database_and_keys_privately(cli, tmp_path):
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("keys", "rotate")  # a staged key must be in the backup too
    out = tmp_path / "backup"
    result = cli("backup", str(out))
    manifest = json.loads((out / "backup.json").read_text())
    assert {"key", "cert", "next_key", "next_cert", "bundle", "jwks"} <= set(manifest["files"])
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (out / "key").read_bytes() == (tmp_path / "data" / "signing.key").read_bytes()
    if SERVER_URL:
        assert "pg_dump" in manifest["database"] and not (out / "authsvc.db").exists()
    else:
        assert manifest["database"] == "authsvc.db" and "schema" in result.stdout


def test_backup_refuses_a_non_empty_destination(cli, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "something").write_text("keep me")
    one_line_error(cli("backup", str(out), ok=False), "not an empty directory")
    assert (out / "something").read_text() == "keep me"


def test_restore_into_a_new_data_dir_brings_back_users_and_the_same_key(on_sqlite, tmp_path, monkeypatch):
    cli = on_sqlite
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    kid = json.loads(cli("keys", "show", "--json").stdout)["kid"]
    cli("backup", str(tmp_path / "backup"))
    cli("user", "create", "bob", "--password-stdin", input="bob-pass-1\n")  # after the backup

    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(tmp_path / "restored"))
    result = cli("restore", str(tmp_path / "backup"))
    assert "restored the backup" in result.stdout
    assert users(cli) == ["alice"]
    assert json.loads(cli("keys", "show", "--json").stdout)["kid"] == kid
    assert stat.S_IMODE((tmp_path / "restored" / "signing.key").stat().st_mode) == 0o600
    # A second restore over a working installation is refused, then allowed explicitly.
    one_line_error(cli("restore", str(tmp_path / "backup"), ok=False), "--overwrite")
    cli("user", "create", "carol", "--password-stdin", input="carol-pass-1\n")
    cli("restore", str(tmp_path / "backup"), "--overwrite")
    assert users(cli) == ["alice"]


def test_restore_refuses_what_is_not_a_backup(cli, tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    one_line_error(cli("restore", str(empty), ok=False), "is not an authsvc backup")


def test_backup_while_another_connection_writes(on_sqlite, tmp_path):
    cli = on_sqlite
    """The online backup API gives a consistent snapshot even with a write transaction open."""
    import sqlite3
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")  # an audit event
    writer = sqlite3.connect(tmp_path / "data" / "authsvc.db")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM audit_events")
    try:
        cli("backup", str(tmp_path / "b"))
    finally:
        writer.rollback()
        writer.close()
    copy = sqlite3.connect(tmp_path / "b" / "authsvc.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM audit_events").fetchone()[0] > 0  # the uncommitted delete is not in it
    copy.close()
    assert os.path.getsize(tmp_path / "b" / "authsvc.db") > 0
