"""The CLI's side of directory accounts, against the real slapd: group members, the source
column, refused local passwords for directory users, and ``authsvc doctor``'s directory checks."""

from __future__ import annotations

import json
import socket

import pytest
from click.testing import CliRunner

from authsvc.cli import main
from tests.cli.conftest import one_line_error
from tests.support.slapd import PASSWORDS


@pytest.fixture
def directory_cli(cli, slapd, monkeypatch):
    for key, value in slapd.settings().items():
        monkeypatch.setenv(f"AUTHSVC_{key.upper()}", str(value))
    return cli


def sign_in(name: str) -> None:
    """A real first sign-in through the token service, as /token would do it."""
    from authsvc import create_app
    from authsvc.services.grants import TokenRequest, issue_token
    from authsvc.web.unit import unit

    app = create_app(serving=False)
    with app.test_request_context("/token"):
        issue_token(unit(), TokenRequest(service="registry", username=name, password=PASSWORDS[name]))
        unit().commit()


def test_group_members_and_sources(directory_cli):
    cli = directory_cli
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("project", "create", "payments", "--owner", "alice")
    assert "group payments-dev is now developer of payments" in cli(
        "member", "add-group", "payments", "Payments-Dev", "--role", "developer").output
    one_line_error(cli("member", "add-group", "payments", "payments-dev", "--role", "guest", ok=False),
                   "already a member")
    listed = json.loads(cli("member", "list", "payments", "--json").output)
    assert listed == [{"user": "alice", "role": "admin"}, {"group": "payments-dev", "role": "developer"}]
    table = cli("member", "list", "payments").output.splitlines()
    assert table[0].split() == ["USER", "GROUP", "ROLE"] and table[2].split() == ["-", "payments-dev", "developer"]
    cli("member", "set-role", "payments", "payments-dev", "maintainer", "--group")
    assert json.loads(cli("member", "list", "payments", "--json").output)[1]["role"] == "maintainer"
    one_line_error(cli("member", "set-role", "payments", "ops", "guest", "--group", ok=False), "not a member")

    sign_in("dana")
    users = {u["name"]: u["source"] for u in json.loads(cli("user", "list", "--json").output)}
    assert users == {"alice": "local", "dana": "ldap"}
    rows = {line.split()[0]: line.split() for line in cli("user", "list").output.splitlines()[1:]}
    assert rows["dana"][3] == "ldap" and rows["alice"][3] == "local"
    one_line_error(cli("user", "passwd", "dana", "--password-stdin", input="new-pass-123\n", ok=False),
                   "set in the directory")
    one_line_error(cli("user", "create", "dana", "--password-stdin", input="new-pass-123\n", ok=False),
                   "directory account")
    assert "removed group payments-dev" in cli("member", "remove", "payments", "payments-dev", "--group").output
    assert json.loads(cli("member", "list", "payments", "--json").output) == [{"user": "alice", "role": "admin"}]


def doctor_checks() -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["doctor", "--json"], catch_exceptions=False)
    return result.exit_code, {c["name"]: c for c in json.loads(result.output)["checks"]}


def test_doctor_checks_the_directory(directory_cli, slapd, monkeypatch, tmp_path):
    directory_cli_url = slapd.url
    _, checks = doctor_checks()
    assert checks["directory"]["status"] == "ok" and "bound as cn=reader" in checks["directory"]["detail"]
    assert checks["directory-search"]["status"] == "ok"
    monkeypatch.setenv("AUTHSVC_LDAP_USER_BASE_DN", "ou=nobody,dc=example,dc=org")
    assert doctor_checks()[1]["directory-search"]["status"] in ("warn", "fail")
    monkeypatch.setenv("AUTHSVC_LDAP_BIND_PASSWORD", "not-the-password")
    code, checks = doctor_checks()
    assert code == 1 and checks["directory"]["status"] == "fail"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AUTHSVC_LDAP_URL", f"ldap://127.0.0.1:{sock.getsockname()[1]}")
    code, checks = doctor_checks()
    assert code == 1 and checks["directory"]["status"] == "fail" and checks["directory-search"]["status"] == "skip"
    # A password file others can read is refused, as a key file would be.
    secret = tmp_path / "bind-password"
    secret.write_text("reader-secret-1\n")
    secret.chmod(0o644)
    monkeypatch.delenv("AUTHSVC_LDAP_BIND_PASSWORD")
    monkeypatch.setenv("AUTHSVC_LDAP_BIND_PASSWORD_FILE", str(secret))
    code, checks = doctor_checks()
    assert code == 1 and "chmod 600" in checks["directory"]["detail"]
    secret.chmod(0o600)
    monkeypatch.setenv("AUTHSVC_LDAP_URL", directory_cli_url)
    assert doctor_checks()[1]["directory"]["status"] == "ok"


def test_a_bind_password_file_others_can_read_stops_every_command_with_one_line(directory_cli, monkeypatch, tmp_path):
    secret = tmp_path / "bind-password"
    secret.write_text("reader-secret-1\n")
    secret.chmod(0o640)
    monkeypatch.delenv("AUTHSVC_LDAP_BIND_PASSWORD")
    monkeypatch.setenv("AUTHSVC_LDAP_BIND_PASSWORD_FILE", str(secret))
    one_line_error(directory_cli("user", "list", ok=False), "chmod 600")
    secret.chmod(0o600)
    assert directory_cli("user", "list").exit_code == 0
    monkeypatch.setenv("AUTHSVC_LDAP_URL", "ldap://127.0.0.1:1")
    monkeypatch.setenv("AUTHSVC_LDAP_ALLOW_PLAIN", "false")
    one_line_error(directory_cli("user", "list", ok=False), "ldap_url")  # clear text refused at start


@pytest.mark.parametrize("service_account", [True, False])
def test_doctor_names_a_certificate_that_does_not_verify(directory_cli, slapd, monkeypatch, service_account):
    """Issue 20: not "the directory is unavailable", as for one that is down (the TLS handshake is
    real: slapd's certificate is from the test run's CA, which is not configured here)."""
    settings = slapd.settings(ldap_url=slapd.ldaps_url, ldap_allow_plain=False)
    if not service_account:
        settings.update(ldap_bind_dn="", ldap_bind_password="",
                        ldap_user_dn_template="uid={name},ou=people,dc=example,dc=org")
    for key, value in settings.items():
        monkeypatch.setenv(f"AUTHSVC_{key.upper()}", str(value))
    code, checks = doctor_checks()
    assert code == 1 and checks["directory"]["status"] == "fail"
    assert "certificate verify failed" in checks["directory"]["detail"], checks["directory"]
    assert "directory is unavailable" not in checks["directory"]["detail"]


def test_add_group_warns_of_a_group_the_directory_lacks(directory_cli, monkeypatch):
    """Issue 20: added (a group made later must be addable), but never silently."""
    cli = directory_cli
    cli("project", "create", "payments")
    known = cli("member", "add-group", "payments", "payments-dev", "--role", "developer")
    assert "warning" not in known.output
    typo = cli("member", "add-group", "payments", "payments-devs", "--role", "guest")
    assert "group payments-devs is now guest of payments" in typo.stdout
    assert typo.stderr.startswith("warning: the directory has no group 'payments-devs'") and "added anyway" in typo.stderr
    monkeypatch.setenv("AUTHSVC_LDAP_BIND_DN", "")
    monkeypatch.setenv("AUTHSVC_LDAP_USER_DN_TEMPLATE", "uid={name},ou=people,dc=example,dc=org")
    unchecked = cli("member", "add-group", "payments", "ops", "--role", "guest")
    assert "warning: not checked: without a service account" in unchecked.stderr


def test_user_create_refuses_a_directory_persons_name_without_yes(directory_cli, monkeypatch):
    """Issue 20: a local account of a directory person's name locks them out."""
    cli = directory_cli
    refused = cli("user", "create", "grace", "--password-stdin", input="local-grace-pass-1\n", ok=False)
    one_line_error(refused, "'grace' is a directory person who has not signed in here yet")
    assert "--yes" in refused.stderr
    made = cli("user", "create", "grace", "--yes", "--password-stdin", input="local-grace-pass-1\n")
    assert "created user grace" in made.stdout and "warning: 'grace' is also a directory person" in made.stderr
    assert "warning" not in cli("user", "create", "henry", "--password-stdin", input="local-henry-pass-1\n").output
    monkeypatch.setenv("AUTHSVC_LDAP_BIND_DN", "")
    monkeypatch.setenv("AUTHSVC_LDAP_USER_DN_TEMPLATE", "uid={name},ou=people,dc=example,dc=org")
    unchecked = cli("user", "create", "frank", "--password-stdin", input="local-frank-pass-1\n")
    assert "warning: not checked against the directory" in unchecked.stderr
