"""The CLI's side of OIDC sign-in, against the real provider process: ``authsvc doctor``'s
provider checks, a client secret file others can read stopping every command in one line, and an
account of the provider listed with its source and never given a password."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from authsvc.cli import main
from authsvc.store.models import User, db
from tests.cli.conftest import one_line_error
from tests.conftest import make_app
from tests.e2e.processes import free_port
from tests.support.oidc_provider import running_provider, secret_file


@pytest.fixture
def provider(oidc_provider):
    return oidc_provider  # the session's provider process (tests/conftest.py)


def _configure(monkeypatch, tmp_path, issuer: str) -> None:
    for key, value in {"oidc_issuer": issuer, "oidc_allow_http": "true", "oidc_client_id": "authsvc",
                       "oidc_client_secret_file": str(secret_file(tmp_path)), "oidc_timeout": "2"}.items():
        monkeypatch.setenv(f"AUTHSVC_{key.upper()}", value)


def doctor_checks() -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["doctor", "--json"], catch_exceptions=False)
    return result.exit_code, {c["name"]: c for c in json.loads(result.output)["checks"]}


def test_doctor_checks_discovery_keys_client_and_redirect_uri(cli, provider, monkeypatch, tmp_path):
    _configure(monkeypatch, tmp_path, provider.issuer)
    code, checks = doctor_checks()
    assert checks["oidc-discovery"]["status"] == "ok", checks["oidc-discovery"]
    assert checks["oidc-keys"]["status"] == "ok" and "RS256" in checks["oidc-keys"]["detail"]
    assert checks["oidc-client"]["status"] == "ok"
    assert checks["oidc-redirect"]["status"] == "ok"
    assert "/login/oidc/callback" in checks["oidc-redirect"]["detail"]


def test_doctor_fails_for_an_issuer_that_names_itself_otherwise(cli, provider, monkeypatch, tmp_path):
    _configure(monkeypatch, tmp_path, provider.issuer + "/")  # a trailing slash the provider does not use
    code, checks = doctor_checks()
    assert code == 1 and checks["oidc-discovery"]["status"] == "fail"
    assert "another issuer" in checks["oidc-discovery"]["detail"]
    assert checks["oidc-redirect"]["status"] == "skip" and "/login/oidc/callback" in checks["oidc-redirect"]["detail"]


def test_doctor_fails_for_a_provider_that_does_not_answer(cli, monkeypatch, tmp_path):
    _configure(monkeypatch, tmp_path, f"http://127.0.0.1:{free_port()}")
    code, checks = doctor_checks()
    assert code == 1 and checks["oidc-discovery"]["status"] == "fail"
    assert "could not be read" in checks["oidc-discovery"]["detail"]


def test_doctor_fails_for_a_client_the_provider_does_not_know(cli, monkeypatch, tmp_path):
    with running_provider(tmp_path, require_registration=True) as strict:
        _configure(monkeypatch, tmp_path, strict.issuer)
        code, checks = doctor_checks()
    assert code == 1
    assert checks["oidc-client"]["status"] == "fail" and "invalid_client" in checks["oidc-client"]["detail"]
    assert checks["oidc-redirect"]["status"] == "fail" and "register exactly" in checks["oidc-redirect"]["fix"]


def test_a_client_secret_file_others_can_read_stops_every_command_with_one_line(cli, provider, monkeypatch,
                                                                                tmp_path):
    _configure(monkeypatch, tmp_path, provider.issuer)
    (tmp_path / "oidc-client-secret").chmod(0o644)
    one_line_error(cli("user", "list", ok=False), "chmod 600")


def _oidc_person(tmp_path, name: str) -> None:
    """An account as the first sign-in through the provider leaves it (services/authn/oidc.py)."""
    app = make_app(tmp_path)  # the CLI's own data dir and database
    with app.app_context():
        db.session.add(User(name=name, password_hash="!oidc", is_admin=False, is_active=True,
                            credential_version=1, source="oidc", oidc_subject=f"https://id.example {name}-sub"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_user_passwd_refuses_an_oidc_account(cli, tmp_path):
    _oidc_person(tmp_path, "olga")
    result = cli("user", "passwd", "olga", "--password-stdin", input="a-new-password-1\n", ok=False)
    one_line_error(result, "signs in through the identity provider")
    assert "oidc" in cli("user", "list").output


def test_user_create_names_why_an_oidc_persons_name_is_taken(cli, tmp_path):
    _oidc_person(tmp_path, "olga")
    result = cli("user", "create", "olga", "--password-stdin", input="a-new-password-1\n", ok=False)
    one_line_error(result, "signs in through the identity provider")
