"""The CLI as administrators script it: output, exit codes, one-line errors, nothing lost."""

from __future__ import annotations

import json
import stat

import pytest
import yaml
from click.testing import CliRunner

from authsvc.cli import main
from tests.cli.conftest import one_line_error
from tests.conftest import SERVER_URL, app_settings, fresh_database_url
from tests.support.units import call


def test_init_is_idempotent_and_keys_are_private(cli, tmp_path):
    data = tmp_path / "data"
    key_before = (data / "signing.key").read_bytes()
    again = cli("init")
    assert "kept" in again.output
    assert (data / "signing.key").read_bytes() == key_before
    for name in ("signing.key",) if SERVER_URL else ("signing.key", "authsvc.db"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_users_projects_members_round_trip(cli):
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("user", "create", "root", "--admin", "--password-stdin", input="root-pass-12\n")
    users = json.loads(cli("user", "list", "--json").output)
    assert [(u["name"], u["admin"], u["active"]) for u in users] == [("alice", False, True), ("root", True, True)]
    cli("project", "create", "web", "--owner", "alice")
    cli("project", "create", "pub", "--public")
    projects = json.loads(cli("project", "list", "--json").output)
    assert [(p["name"], p["public"]) for p in projects] == [("pub", True), ("web", False)]
    cli("user", "create", "bob", "--password-stdin", input="bob-pass-12\n")
    cli("member", "add", "web", "bob", "--role", "developer")
    cli("member", "set-role", "web", "bob", "maintainer")
    members = json.loads(cli("member", "list", "web", "--json").output)
    assert members == [{"user": "alice", "role": "admin"}, {"user": "bob", "role": "maintainer"}]
    cli("member", "remove", "web", "bob")
    assert json.loads(cli("member", "list", "web", "--json").output) == [{"user": "alice", "role": "admin"}]
    cli("project", "set-visibility", "web", "public")
    assert json.loads(cli("project", "list", "--json").output)[1]["public"] is True
    table = cli("user", "list").output.splitlines()
    assert table[0].split() == ["NAME", "ADMIN", "ACTIVE", "SOURCE", "CREATED_AT"] and len(table) == 4


def test_deleting_a_user_or_project_removes_memberships(cli):
    for name in ("alice", "bob"):
        cli("user", "create", name, "--password-stdin", input=f"{name}-pass-12\n")
    cli("project", "create", "web", "--owner", "alice")
    cli("member", "add", "web", "bob", "--role", "guest")
    cli("user", "delete", "bob", "--yes")
    assert [m["user"] for m in json.loads(cli("member", "list", "web", "--json").output)] == ["alice"]
    cli("project", "delete", "web", "--yes")
    one_line_error(cli("member", "list", "web", ok=False), "does not exist")
    # The name stays reserved: a new "web" would inherit the old project's images in the registry.
    one_line_error(cli("project", "create", "web", "--owner", "alice", ok=False), "deleted project")
    one_line_error(cli("project", "release-name", "nothing", "--yes", ok=False), "not the name of a deleted")
    cli("project", "release-name", "web", "--yes")
    cli("project", "create", "web")  # released: free again, with no members left over
    assert json.loads(cli("member", "list", "web", "--json").output) == []
    actions = [e["action"] for e in json.loads(cli("audit", "list", "--json").output)]
    assert actions[:3] == ["project.create", "project.release_name", "project.delete"]


@pytest.mark.parametrize("args, stdin, fragment", [
    (("user", "create", "Bad Name", "--password-stdin"), "long-enough-1\n", "invalid user name"),
    (("user", "create", "shorty", "--password-stdin"), "short\n", "at least 8"),
    (("user", "create", "empty", "--password-stdin"), "", "stdin is empty"),
    (("user", "passwd", "ghost", "--password-stdin"), "long-enough-1\n", "does not exist"),
    (("user", "delete", "ghost", "--yes"), None, "does not exist"),
    (("project", "create", "Bad_Project"), None, "invalid project name"),
    (("project", "create", "web", "--owner", "ghost"), None, "does not exist"),
    (("project", "delete", "ghost", "--yes"), None, "does not exist"),
    (("member", "add", "ghost", "alice", "--role", "guest"), None, "does not exist"),
    (("member", "remove", "web", "ghost"), None, "does not exist"),
    (("token", "revoke", "999"), None, "does not exist"),
    (("token", "revoke"), None, "either a token id or --user"),
    (("registry-config", "--service", "other"), None, "not among the configured services"),
])
def test_bad_input_is_one_line_and_nonzero(cli, args, stdin, fragment):
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("project", "create", "web", "--owner", "alice")
    one_line_error(cli(*args, input=stdin, ok=False), fragment)


def test_duplicates_conflict_and_nothing_is_lost(cli):
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    one_line_error(cli("user", "create", "alice", "--password-stdin", input="other-pass-1\n", ok=False),
                   "already exists")
    cli("project", "create", "web", "--owner", "alice")
    one_line_error(cli("project", "create", "web", ok=False), "already exists")
    one_line_error(cli("member", "add", "web", "alice", "--role", "guest", ok=False), "already a member")
    assert json.loads(cli("member", "list", "web", "--json").output) == [{"user": "alice", "role": "admin"}]


def test_the_last_project_admin_cannot_be_removed_or_demoted(cli):
    for name in ("alice", "bob"):
        cli("user", "create", name, "--password-stdin", input=f"{name}-pass-12\n")
    cli("project", "create", "web", "--owner", "alice")
    one_line_error(cli("member", "remove", "web", "alice", ok=False), "at least one Project Admin")
    one_line_error(cli("member", "set-role", "web", "alice", "guest", ok=False), "at least one Project Admin")
    cli("member", "add", "web", "bob", "--role", "admin")
    cli("member", "set-role", "web", "alice", "guest")
    one_line_error(cli("member", "remove", "web", "bob", ok=False), "at least one Project Admin")


def test_password_is_never_taken_from_argv(cli):
    result = cli("user", "create", "alice", "--password", "x", ok=False)
    assert result.exit_code == 2 and "No such option" in result.stderr


def test_bad_settings_fail_naming_the_key(cli, monkeypatch):
    monkeypatch.setenv("AUTHSVC_TOKEN_TTL", "5")
    one_line_error(cli("user", "list", ok=False), "'token_ttl'")
    monkeypatch.setenv("AUTHSVC_TOKEN_TTL", "300")
    monkeypatch.setenv("AUTHSVC_TOKN_TTL", "300")
    one_line_error(cli("user", "list", ok=False), "AUTHSVC_TOKN_TTL")


def test_commands_before_init_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(tmp_path / "fresh"))
    if SERVER_URL:
        monkeypatch.setenv("AUTHSVC_DATABASE_URL", fresh_database_url(tmp_path, migrated=False))
    result = CliRunner().invoke(main, ["user", "list"])
    one_line_error(result, "authsvc init")


def test_registry_config_matches_settings(cli, tmp_path):
    config = yaml.safe_load(cli("registry-config", "--full", "--addr", "127.0.0.1:5999",
                                "--storage", str(tmp_path / "reg")).output)
    token = config["auth"]["token"]
    assert token == {"realm": "http://127.0.0.1:5001/token", "service": "registry", "issuer": "authsvc",
                     "rootcertbundle": str(tmp_path / "data" / "trust-bundle.pem")}
    assert config["http"]["addr"] == "127.0.0.1:5999"
    again = yaml.safe_load(cli("registry-config", "--full").output)
    assert len(config["http"]["secret"]) >= 32 and again["http"]["secret"] == config["http"]["secret"]
    assert stat.S_IMODE((tmp_path / "data" / "registry-http-secret").stat().st_mode) == 0o600
    v3 = yaml.safe_load(cli("registry-config", "--registry-version", "3").output)["auth"]["token"]
    jwks = json.loads((tmp_path / "data" / "jwks.json").read_text())
    assert v3["jwks"] == str(tmp_path / "data" / "jwks.json") and v3["signingalgorithms"] == ["ES256"]
    kid = json.loads(cli("keys", "show", "--json").output)["kid"]
    assert jwks["keys"][0]["kid"] == kid
    assert cli("keys", "bundle").output == (tmp_path / "data" / "signing.crt").read_text()


def test_token_list_and_revoke(cli, tmp_path):
    from authsvc import create_app
    from authsvc.core.policy import CredentialKind, Principal
    from authsvc.services.access import accounts
    from authsvc.services.authn import Identity
    from authsvc.services.credentials import refresh_tokens
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    app = create_app(app_settings(tmp_path), environ={})
    with app.app_context():
        user = call(accounts.get_user, "alice")
        login = Identity(Principal("alice", credential=CredentialKind.PASSWORD), "password", user.id,
                         user.credential_version)
        call(refresh_tokens.issue, login, "docker")
        call(refresh_tokens.issue, login, "docker")
    tokens = json.loads(cli("token", "list", "--json").output)
    assert [(t["user"], t["client_id"]) for t in tokens] == [("alice", "docker")] * 2
    cli("token", "revoke", str(tokens[0]["id"]))
    assert len(json.loads(cli("token", "list", "--user", "alice", "--json").output)) == 1
    assert "revoked 1" in cli("token", "revoke", "--user", "alice").output


def test_audit_list_filters_and_purge(cli):
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("project", "create", "web", "--owner", "alice")
    events = json.loads(cli("audit", "list", "--json").output)
    assert [e["action"] for e in events] == ["project.create", "user.create"]
    assert all(e["source"].startswith("cli:") and e["actor"] == "(operator)" for e in events)
    assert "alice-pass-1" not in json.dumps(events)
    only = json.loads(cli("audit", "list", "--json", "--action", "user.").output)
    assert [e["target"] for e in only] == ["alice"]
    assert json.loads(cli("audit", "list", "--json", "--actor", "nobody").output) == []
    assert all(e["request_id"] is None for e in events)  # the CLI is not an HTTP request
    assert json.loads(cli("audit", "list", "--json", "--request-id", "abc").output) == []
    assert "purged 0" in cli("audit", "purge", "--older-than", "1d").output
    assert "purged 3" in cli("audit", "purge", "--older-than", "0m").output  # the first purge is an event too
    assert [e["action"] for e in json.loads(cli("audit", "list", "--json").output)] == ["audit.purge"]
    bad = cli("audit", "purge", "--older-than", "soon", ok=False)
    assert bad.exit_code == 2 and "not a duration" in bad.stderr
