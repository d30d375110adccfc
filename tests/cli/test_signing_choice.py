"""``signing_algorithm`` / ``token_x5c`` from the command line: doctor's note while the active key
is of the other type, a rotation that changes it, and bad values as one-line errors."""

from __future__ import annotations

import json

import yaml

from tests.cli.conftest import one_line_error
from tests.cli.test_doctor import _set, data, doctor, only_failure, registry_yaml  # noqa: F401  (data: a fixture)


def key_types(cli) -> tuple[str, str]:
    """The type of the key 'authsvc init' made (the default setting) and the other one."""
    made = json.loads(cli("keys", "show", "--json").output)["algorithm"]
    return made, {"ES256": "RS256", "RS256": "ES256"}[made]


def test_doctor_notes_a_key_of_the_other_type_until_the_rotation_replaces_it(cli, data, monkeypatch):  # noqa: F811
    made, other = key_types(cli)
    monkeypatch.setenv("AUTHSVC_SIGNING_ALGORITHM", other)
    code, checks, _ = doctor()
    assert code == 0  # a warning: tokens are still accepted, just not of the chosen type yet
    note = checks["signing-algorithm"]
    assert note["status"] == "warn"
    assert f"active key is {made} but signing_algorithm is {other}" in note["detail"]
    assert "authsvc keys rotate" in note["fix"]

    cli("keys", "rotate")
    v3 = yaml.safe_load(cli("registry-config", "--registry-version", "3").output)["auth"]["token"]
    assert v3["signingalgorithms"] == [made, other]
    cli("keys", "activate", "--skip-registry-check")
    assert json.loads(cli("keys", "show", "--json").output)["algorithm"] == other
    code, checks, _ = doctor()
    assert "signing-algorithm" not in checks and checks["signing-key"]["detail"].startswith(f"{other} key")


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


def test_doctor_reads_registry_3s_algorithm_allow_list_and_its_jwks_need(cli, data, tmp_path, monkeypatch):  # noqa: F811
    made, other = key_types(cli)
    v3 = ("--registry-version", "3")
    code, checks, _ = doctor("--registry-config", registry_yaml(cli, tmp_path, _set("signingalgorithms", [other]), *v3))
    check = only_failure(checks, "registry-config-algorithms")
    assert code == 1 and f"lacks {made}, our active key's" in check["detail"], check

    monkeypatch.setenv("AUTHSVC_SIGNING_ALGORITHM", other)
    cli("keys", "rotate")  # a next key of the other type, while the registry still allows the first only
    code, checks, _ = doctor("--registry-config", registry_yaml(cli, tmp_path, _set("signingalgorithms", [made]), *v3))
    assert code == 0 and checks["registry-config-algorithms"]["status"] == "warn"
    assert f"lacks {other}, our staged next key's" in checks["registry-config-algorithms"]["detail"]
    code, checks, _ = doctor("--registry-config", registry_yaml(cli, tmp_path, None, *v3))
    assert checks["registry-config-algorithms"]["status"] == "ok"  # as registry-config prints it: both

    monkeypatch.setenv("AUTHSVC_TOKEN_X5C", "false")
    code, checks, _ = doctor("--registry-config", registry_yaml(cli, tmp_path, lambda t: t.pop("jwks"), *v3))
    check = only_failure(checks, "registry-config-algorithms")
    assert "token_x5c is false" in check["detail"] and "auth.token.jwks" in check["fix"], check
