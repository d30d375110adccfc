"""The CLI's side of OIDC sign-in, against the real provider process: ``authsvc doctor``'s
provider checks, and a client secret file others can read stopping every command in one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from authsvc.cli import main
from tests.cli.conftest import one_line_error
from tests.e2e.processes import free_port
from tests.support.oidc_provider import running_provider, secret_file


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    with running_provider(tmp_path_factory.mktemp("provider")) as running:
        yield running


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
