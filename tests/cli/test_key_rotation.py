"""``authsvc keys rotate / activate / retire / show`` as an operator drives them (no registry here:
tests/e2e/test_key_rotation.py runs the same with the real one)."""

from __future__ import annotations

import json

from cryptography import x509

from tests.cli.conftest import one_line_error


def bundle_size(tmp_path) -> int:
    return len(x509.load_pem_x509_certificates((tmp_path / "data" / "trust-bundle.pem").read_bytes()))


def show(cli) -> dict:
    return json.loads(cli("keys", "show", "--json").stdout)


def test_init_publishes_the_bundle_the_registry_config_names(cli, tmp_path):
    assert bundle_size(tmp_path) == 1
    assert str(tmp_path / "data" / "trust-bundle.pem") in cli("registry-config").stdout
    (tmp_path / "data" / "trust-bundle.pem").unlink()
    cli("init")
    assert bundle_size(tmp_path) == 1


def test_rotation_from_start_to_end(cli, tmp_path):
    first = show(cli)["kid"]
    staged = cli("keys", "rotate")
    assert "restart every registry" in staged.stdout and bundle_size(tmp_path) == 2
    state = show(cli)
    assert state["kid"] == first and [k["role"] for k in state["trusted"]] == ["active", "next"]
    assert "keys activate" in state["next_step"]
    new_kid = state["trusted"][1]["kid"]
    assert len(json.loads(cli("keys", "jwks").stdout)["keys"]) == 2
    assert cli("keys", "bundle").stdout.count("BEGIN CERTIFICATE") == 2

    one_line_error(cli("keys", "activate", ok=False), "--registry URL")
    assert show(cli)["kid"] == first
    activated = cli("keys", "activate", "--skip-registry-check")
    assert new_kid in activated.stdout
    state = show(cli)
    assert state["kid"] == new_kid and [k["role"] for k in state["trusted"]] == ["active", "previous"]
    assert "keys retire" in state["next_step"]

    one_line_error(cli("keys", "retire", ok=False), "valid for another")
    assert bundle_size(tmp_path) == 2
    assert first in cli("keys", "retire", "--force").stdout
    assert bundle_size(tmp_path) == 1 and show(cli)["next_step"] is None

    actions = [e["action"] for e in json.loads(cli("audit", "list", "--json").stdout)]
    assert {"key.staged", "key.activated", "key.retired"} <= set(actions)


def test_activate_asks_the_registry_and_refuses_when_it_does_not_answer(cli, tmp_path):
    cli("keys", "rotate")
    before = show(cli)["kid"]
    result = cli("keys", "activate", "--registry", "http://127.0.0.1:9/", ok=False)
    assert "does NOT accept" in result.stdout and "unreachable" in result.stdout
    one_line_error(result, "not switching")
    assert show(cli)["kid"] == before


def test_rotate_with_an_unreachable_registry_stages_but_does_not_switch(cli, tmp_path):
    before = show(cli)["kid"]
    result = cli("keys", "rotate", "--registry", "http://127.0.0.1:9/", "--wait", "0", ok=False)
    assert result.exit_code == 1 and "not switching" in result.stderr
    assert show(cli)["kid"] == before and bundle_size(tmp_path) == 2


def test_activate_and_retire_with_nothing_to_do(cli):
    one_line_error(cli("keys", "activate", "--skip-registry-check", ok=False), "no next key is staged")
    one_line_error(cli("keys", "retire", ok=False), "no previous key")


def test_expiry_warning(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_CERT_VALIDITY_DAYS", "10")
    cli("keys", "rotate")
    cli("keys", "activate", "--skip-registry-check")
    result = cli("keys", "show")
    assert "expires in 9 days" in result.stderr and "keys rotate" in result.stderr
