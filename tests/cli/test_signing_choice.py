"""``signing_algorithm`` / ``token_x5c`` from the command line: doctor's note while the active key
is of the other type, a rotation that changes it, and bad values as one-line errors."""

from __future__ import annotations

import json

import yaml

from tests.cli.conftest import one_line_error
from tests.cli.test_doctor import data, doctor  # noqa: F401  (data is a fixture)


def test_doctor_notes_a_key_of_the_other_type_until_the_rotation_replaces_it(cli, data, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AUTHSVC_SIGNING_ALGORITHM", "RS256")
    code, checks, _ = doctor()
    assert code == 0  # a warning: tokens are still accepted, just not of the chosen type yet
    note = checks["signing-algorithm"]
    assert note["status"] == "warn"
    assert "active key is ES256 but signing_algorithm is RS256" in note["detail"]
    assert "authsvc keys rotate" in note["fix"]

    cli("keys", "rotate")
    v3 = yaml.safe_load(cli("registry-config", "--registry-version", "3").output)["auth"]["token"]
    assert v3["signingalgorithms"] == ["ES256", "RS256"]
    cli("keys", "activate", "--skip-registry-check")
    assert json.loads(cli("keys", "show", "--json").output)["algorithm"] == "RS256"
    code, checks, _ = doctor()
    assert "signing-algorithm" not in checks and checks["signing-key"]["detail"].startswith("RS256 key")


def test_without_x5c_registry_config_gives_each_generation_what_finds_the_key(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_TOKEN_X5C", "false")
    v2 = yaml.safe_load(cli("registry-config").output)["auth"]["token"]
    assert v2["rootcertbundle"] == str(tmp_path / "data" / "trust-bundle.pem") and "jwks" not in v2
    v3 = yaml.safe_load(cli("registry-config", "--registry-version", "3").output)["auth"]["token"]
    kid = json.loads(cli("keys", "show", "--json").output)["kid"]
    jwks = json.loads((tmp_path / "data" / "jwks.json").read_text())
    assert v3["jwks"] == str(tmp_path / "data" / "jwks.json") and [k["kid"] for k in jwks["keys"]] == [kid]


def test_bad_choices_stop_every_command_with_one_line(cli, monkeypatch):
    monkeypatch.setenv("AUTHSVC_SIGNING_ALGORITHM", "EdDSA")
    one_line_error(cli("user", "list", ok=False), "signing_algorithm")
    monkeypatch.setenv("AUTHSVC_SIGNING_ALGORITHM", "RS256")
    monkeypatch.setenv("AUTHSVC_TOKEN_X5C", "false")
    monkeypatch.setenv("AUTHSVC_KID_FORMAT", "thumbprint")
    one_line_error(cli("registry-config", ok=False), "false needs kid_format = 'libtrust'")
