"""``authsvc doctor`` against broken local states: each problem is one failed check with its fix.

The registry side (a live registry's challenge, its verdict on our token) is proven with the real
registry in tests/e2e/test_doctor.py; here only what needs no registry, plus --registry-config,
which reads a file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket

import pytest
import yaml
from click.testing import CliRunner

from authsvc.cli import main
from authsvc.signing import keys
from authsvc.store import schema
from tests.conftest import SERVER_URL, fresh_database_url

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def data(cli, tmp_path):
    """An initialised installation with an administrator and a published trust bundle."""
    cli("user", "create", "root", "--admin", "--password-stdin", input="root-pass-1\n")
    path = tmp_path / "data"
    publish_bundle(path)
    return path


def publish_bundle(data, *extra_pems: bytes) -> None:
    """The trust bundle as key rotation publishes it: the active certificate (and ``extra_pems``)."""
    (data / "trust-bundle.pem").write_bytes((data / "signing.crt").read_bytes() + b"".join(extra_pems))


def doctor(*args: str):
    """Run doctor --json; return (exit code, {name: check}, the whole result)."""
    result = CliRunner().invoke(main, ["doctor", "--json", *args], catch_exceptions=False)
    report = json.loads(result.output)
    assert report["ok"] == (result.exit_code == 0)
    return result.exit_code, {c["name"]: c for c in report["checks"]}, result


def only_failure(checks: dict, name: str) -> dict:
    failed = [n for n, c in checks.items() if c["status"] == "fail"]
    assert failed == [name], checks
    return checks[name]


def test_healthy_installation_is_all_ok(data):
    code, checks, result = doctor()
    assert code == 0
    assert list(checks) == ["config", "database", "administrators", "signing-key", "key-permissions",
                            "certificate", "trust-bundle"]
    assert {c["status"] for c in checks.values()} == {"ok"}
    report = json.loads(result.output)
    assert report["counts"] == {"ok": 7, "warn": 0, "fail": 0, "skip": 0}
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in report["checks"])
    assert f"schema at {schema.head_revision()}" in checks["database"]["detail"]


def test_text_report_and_exit_codes(data):
    ok = CliRunner().invoke(main, ["doctor"])
    assert ok.exit_code == 0 and ok.output.splitlines()[0].startswith("ok   config ")
    assert ok.output.splitlines()[-1] == "0 failed, 0 warnings, 7 ok"
    os.chmod(data / "signing.key", 0o644)
    bad = CliRunner().invoke(main, ["doctor"])
    assert bad.exit_code == 1
    lines = bad.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("FAIL key-permissions"))
    assert lines[at + 1].split() == ["fix:", "chmod", "600", str(data / "signing.key")]
    assert lines[-1] == "1 failed, 0 warnings, 6 ok"
    assert "Traceback" not in bad.output


def test_no_administrator_is_a_warning_not_a_failure(cli, tmp_path):
    publish_bundle(tmp_path / "data")
    code, checks, _ = doctor()
    assert code == 0
    assert checks["administrators"]["status"] == "warn"
    assert checks["administrators"]["fix"] == "authsvc user create NAME --admin"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_readable_by_others_fails(data, mode):
    os.chmod(data / "signing.key", mode)
    code, checks, _ = doctor()
    check = only_failure(checks, "key-permissions")
    assert code == 1 and f"mode {mode:04o}" in check["detail"]
    assert check["fix"] == f"chmod 600 {data / 'signing.key'}"


def regenerate(data, *, now: dt.datetime, days: int) -> None:
    (data / "signing.key").unlink()
    keys.generate(data / "signing.key", data / "signing.crt", common_name="authsvc", validity_days=days, now=now)
    publish_bundle(data)


@pytest.mark.parametrize("now, days, status, words", [
    (NOW - dt.timedelta(days=400), 365, "fail", "expired on"),
    (NOW + dt.timedelta(days=2), 365, "fail", "not valid before"),
    (NOW - dt.timedelta(days=1), 20, "warn", "(18 days left)"),
])
def test_certificate_validity(data, now, days, status, words):
    regenerate(data, now=now, days=days)
    code, checks, _ = doctor()
    check = checks["certificate"]
    assert (check["status"], code) == (status, 1 if status == "fail" else 0)
    assert words in check["detail"]
    assert "authsvc keys rotate" in check["fix"] and "authsvc keys activate" in check["fix"]


def test_missing_key_says_init(cli, tmp_path):
    (tmp_path / "data" / "signing.key").unlink()
    code, checks, _ = doctor()
    assert code == 1 and checks["signing-key"]["status"] == "fail"
    assert "does not exist" in checks["signing-key"]["detail"] and "authsvc init" in checks["signing-key"]["fix"]
    assert checks["trust-bundle"]["status"] == "skip"


def test_mismatched_certificate(data, tmp_path):
    keys.generate(tmp_path / "other.key", data / "signing.crt", common_name="x", validity_days=10)
    code, checks, _ = doctor()
    assert code == 1 and "does not match" in checks["signing-key"]["detail"]


def foreign_pem(tmp_path) -> bytes:
    return keys.generate(tmp_path / "f.key", tmp_path / "f.crt", common_name="foreign",
                         validity_days=10).certificate_pem


def test_trust_bundle_missing_stale_or_without_the_next_certificate(data, tmp_path):
    bundle = data / "trust-bundle.pem"
    bundle.unlink()
    code, checks, _ = doctor()
    check = only_failure(checks, "trust-bundle")
    assert "does not exist" in check["detail"] and "authsvc keys rotate" in check["fix"] and str(bundle) in check["fix"]

    bundle.write_bytes(foreign_pem(tmp_path))
    code, checks, _ = doctor()
    assert code == 1 and "lacks the active certificate" in only_failure(checks, "trust-bundle")["detail"]

    bundle.write_text("not a certificate\n")
    code, checks, _ = doctor()
    assert code == 1 and "cannot read certificates" in only_failure(checks, "trust-bundle")["detail"]

    # a staged rotation: signing.next.key/.crt exist; the bundle must carry the next certificate too
    staged = keys.generate(data / "signing.next.key", data / "signing.next.crt", common_name="authsvc",
                           validity_days=10)
    publish_bundle(data)
    code, checks, _ = doctor()
    assert "lacks the next (staged) certificate" in only_failure(checks, "trust-bundle")["detail"]
    publish_bundle(data, staged.certificate_pem, foreign_pem(tmp_path))
    code, checks, _ = doctor()
    assert code == 0 and checks["trust-bundle"]["detail"].endswith("holds the active and next certificate (3 in all)")

    # after an activation the previous certificate stays trusted until 'keys retire'
    (data / "signing.previous.crt").write_bytes(foreign_pem(tmp_path / "prev"))
    code, checks, _ = doctor()
    assert code == 0 and checks["trust-bundle"]["status"] == "warn"
    assert "lacks the previous certificate" in checks["trust-bundle"]["detail"]


def test_database_without_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(tmp_path / "fresh"))
    if SERVER_URL:
        monkeypatch.setenv("AUTHSVC_DATABASE_URL", fresh_database_url(tmp_path, migrated=False))
    else:
        (tmp_path / "fresh").mkdir()
        (tmp_path / "fresh" / "authsvc.db").touch()
    code, checks, result = doctor()
    assert code == 1
    assert "has no authsvc schema" in checks["database"]["detail"] and "authsvc init" in checks["database"]["fix"]
    if SERVER_URL:
        assert make_password_free(result.output)


def make_password_free(output: str) -> bool:
    from sqlalchemy.engine import make_url
    password = make_url(SERVER_URL).password
    return not password or password not in output


def test_database_file_missing_is_not_created(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTHSVC_DATABASE_URL", raising=False)
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(tmp_path / "nowhere"))
    code, checks, _ = doctor()
    assert code == 1 and "does not exist" in checks["database"]["detail"]
    assert not (tmp_path / "nowhere").exists(), "doctor must not create what it diagnoses"


@pytest.mark.parametrize("revision, detail, fix", [
    ("0004", "schema at 0004, this release needs {head}", "authsvc db upgrade"),
    ("9999", "schema at 9999, newer than this release ({head})", "run the authsvc release that migrated"),
])
def test_schema_of_another_release(cli, tmp_path, revision, detail, fix):
    from sqlalchemy import create_engine, text
    url = (tmp_path / "database-url").read_text() if SERVER_URL else f"sqlite:///{tmp_path / 'data' / 'authsvc.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()
    code, checks, _ = doctor()
    detail = detail.format(head=schema.head_revision())
    assert code == 1 and detail in checks["database"]["detail"] and fix in checks["database"]["fix"]


@pytest.mark.parametrize("content, words", [
    ("token_ttl = 5\n", "setting 'token_ttl': must be between 60 and 3600"),
    ("token_tll = 300\n", "setting 'token_tll'"),
    ("this is = not toml [\n", "is not valid TOML"),
])
def test_bad_config_file_is_one_clean_failure(cli, tmp_path, monkeypatch, content, words):
    config = tmp_path / "authsvc.toml"
    config.write_text(content)
    monkeypatch.setenv("AUTHSVC_CONFIG", str(config))
    code, checks, result = doctor()
    assert code == 1 and list(checks) == ["config"]
    assert words in checks["config"]["detail"] and "AUTHSVC_CONFIG" in checks["config"]["fix"]
    text = CliRunner().invoke(main, ["doctor"])
    assert text.exit_code == 1 and text.output.splitlines()[0].startswith("FAIL config ")
    assert "Traceback" not in text.output + text.stderr


def test_bad_config_still_probes_the_registry(cli, monkeypatch):
    monkeypatch.setenv("AUTHSVC_TOKN_TTL", "300")
    code, checks, _ = doctor("--registry", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert code == 1 and list(checks) == ["config", "registry-challenge"]
    assert "AUTHSVC_TOKN_TTL" in checks["config"]["detail"]
    assert "cannot reach" in checks["registry-challenge"]["detail"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_registry(data):
    code, checks, _ = doctor("--registry", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    check = only_failure(checks, "registry-challenge")
    assert code == 1 and "Connection refused" in check["detail"] and "registry runs" in check["fix"]
    assert checks["registry-token"]["status"] == "skip"


def test_plain_http_to_another_host_is_a_warning(data):
    _, checks, _ = doctor("--registry", "http://registry.invalid:5000", "--timeout", "2")
    assert checks["registry-url"]["status"] == "warn" and "https" in checks["registry-url"]["fix"]
    assert checks["registry-challenge"]["status"] == "fail"
    _, checks, _ = doctor("--registry", f"http://localhost:{free_port()}", "--timeout", "2")
    assert "registry-url" not in checks


# -- --registry-config: the registry's config.yml, read locally --------------------------------


def registry_yaml(cli, tmp_path, change=None, *version: str):
    config = yaml.safe_load(cli("registry-config", "--full", *version).output)
    if change:
        change(config["auth"]["token"])
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_registry_config_that_trusts_us(cli, data, tmp_path):
    code, checks, _ = doctor("--registry-config", registry_yaml(cli, tmp_path, None, "--registry-version", "3"))
    assert code == 0
    assert [n for n in checks if n.startswith("registry-config")] == [
        "registry-config", "registry-config-realm", "registry-config-service", "registry-config-issuer",
        "registry-config-notifications", "registry-config-bundle", "registry-config-jwks",
        "registry-config-algorithms"]
    # without notification_secret the registry sends nothing: a warning (test_doctor_notifications.py)
    assert {n: c["status"] for n, c in checks.items() if c["status"] != "ok"} == {
        "registry-config-notifications": "warn"}


def _set(key, value):
    return lambda token: token.__setitem__(key, value)


@pytest.mark.parametrize("change, name, detail, fix", [
    (_set("realm", "https://elsewhere/token"), "registry-config-realm", "'https://elsewhere/token'",
     "set auth.token.realm to 'http://127.0.0.1:5001/token'"),
    (_set("service", "other"), "registry-config-service", "'other'", "set auth.token.service to 'registry'"),
    (_set("issuer", "someone"), "registry-config-issuer", "ours is 'authsvc'", "set auth.token.issuer to 'authsvc'"),
    (_set("rootcertbundle", "/nonexistent/bundle.pem"), "registry-config-bundle", "cannot read", "trust-bundle.pem"),
    (lambda t: t.pop("rootcertbundle"), "registry-config-bundle", "not set", "trust-bundle.pem"),
])
def test_registry_config_mismatches(cli, data, tmp_path, change, name, detail, fix):
    code, checks, _ = doctor("--registry-config", registry_yaml(cli, tmp_path, change))
    check = only_failure(checks, name)
    assert code == 1 and detail in check["detail"] and fix in check["fix"], check


def test_registry_config_with_a_foreign_bundle_or_stale_jwks(cli, data, tmp_path):
    foreign = tmp_path / "foreign.pem"
    foreign.write_bytes(foreign_pem(tmp_path))
    code, checks, _ = doctor("--registry-config", registry_yaml(cli, tmp_path, _set("rootcertbundle", str(foreign))))
    check = only_failure(checks, "registry-config-bundle")
    assert "does not hold our active certificate" in check["detail"] and str(data / "trust-bundle.pem") in check["fix"]

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kid": "ABCD:EFGH"}]}))
    code, checks, _ = doctor("--registry-config", registry_yaml(cli, tmp_path, _set("jwks", str(jwks))))
    assert "lacks our active" in only_failure(checks, "registry-config-jwks")["detail"]


@pytest.mark.parametrize("content, words", [
    (None, "cannot read"),
    ("auth: [unclosed\n", "not valid YAML"),
    ("version: 0.1\nauth:\n  htpasswd:\n    realm: x\n", "no auth.token section (auth: htpasswd)"),
    ("- a list\n", "no auth.token section"),
])
def test_unusable_registry_config(data, tmp_path, content, words):
    path = tmp_path / "config.yml"
    if content is not None:
        path.write_text(content)
    code, checks, _ = doctor("--registry-config", str(path))
    assert code == 1 and words in only_failure(checks, "registry-config")["detail"]


def test_database_server_down_is_a_failure_without_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("AUTHSVC_DATABASE_URL", f"postgresql+psycopg://authsvc:pw-s3cret@127.0.0.1:{free_port()}/x")
    code, checks, result = doctor()
    assert code == 1 and checks["database"]["detail"].startswith("cannot use postgresql+psycopg://authsvc:***@")
    assert "database server runs" in checks["database"]["fix"] and "pw-s3cret" not in result.output


def test_half_a_key_pair_is_not_sent_to_init(data):
    (data / "signing.crt").unlink()
    code, checks, _ = doctor()
    check = only_failure(checks, "signing-key")
    assert "does not exist" in check["detail"] and check["fix"].startswith("restore the missing file from backup")


@pytest.mark.parametrize("status, header, words", [
    (200, None, "without credentials: it has no authentication"),
    (401, 'Basic realm="Registry Realm"', "answered HTTP 401, Basic auth, not a 401 Bearer challenge"),
])
def test_registry_without_token_auth(data, status, header, words):
    """No real registry needed to answer like one without token auth: a stdlib server does."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(status)
            if header:
                self.send_header("WWW-Authenticate", header)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, checks, _ = doctor("--registry", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    check = only_failure(checks, "registry-challenge")
    assert code == 1 and words in check["detail"] and "authsvc registry-config" in check["fix"]
    assert checks["registry-token"]["status"] == "skip"
