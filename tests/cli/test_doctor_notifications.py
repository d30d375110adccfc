"""``authsvc doctor --registry-config``: does the registry feed the repository inventory?

A registry that sends no notifications, or sends them with a secret authsvc does not share (or to
an authsvc without one), leaves ``authsvc repo list`` empty while every push and pull works: the
doctor warns, with the fix.  When the file agrees with our settings, the endpoint it names is
asked (the real authsvc app, served on a free port here) whether the *running* authsvc agrees too.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator

import pytest
import yaml
from click.testing import CliRunner
from werkzeug.serving import make_server

from authsvc import create_app
from authsvc.cli import main
from tests.cli.test_doctor import free_port

SECRET = "s3cret-notifications-0123456789"


@pytest.fixture
def port(cli, monkeypatch) -> int:
    """A realm on a free port, so the events URL doctor derives is ours alone (not a stack that
    someone runs on 5001), and an administrator so that nothing else warns."""
    chosen = free_port()
    monkeypatch.setenv("AUTHSVC_REALM", f"http://127.0.0.1:{chosen}/token")
    cli("user", "create", "root", "--admin", "--password-stdin", input="root-pass-1\n")
    return chosen


def doctor(config_path) -> tuple[int, dict, str]:
    result = CliRunner().invoke(main, ["doctor", "--json", "--timeout", "3", "--registry-config", str(config_path)],
                                catch_exceptions=False)
    report = json.loads(result.output)
    checks = {c["name"]: c for c in report["checks"]}
    return result.exit_code, checks["registry-config-notifications"], result.output


def registry_config(cli, tmp_path, monkeypatch, secret: str | None, change=None):
    """The registry's config as 'authsvc registry-config --full' prints it with ``secret`` set
    (None: without notifications), optionally changed, written to a file."""
    if secret:
        monkeypatch.setenv("AUTHSVC_NOTIFICATION_SECRET", secret)
    config = yaml.safe_load(cli("registry-config", "--full").output)
    monkeypatch.delenv("AUTHSVC_NOTIFICATION_SECRET", raising=False)
    if change:
        change(config)
    path = tmp_path / "registry.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def authsvc_serving(port: int, secret: str) -> Iterator[None]:
    """The real authsvc app on ``port``, with ``secret`` ('' for none) as its notification_secret."""
    app = create_app({"notification_secret": secret}, serving=False)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(10)


@pytest.mark.parametrize("ours", ["", SECRET])
def test_a_registry_that_sends_no_notifications_is_a_warning(cli, tmp_path, monkeypatch, port, ours):
    path = registry_config(cli, tmp_path, monkeypatch, None)
    if ours:
        monkeypatch.setenv("AUTHSVC_NOTIFICATION_SECRET", ours)
    code, check, output = doctor(path)
    assert code == 0 and check["status"] == "warn"
    assert "sends no notifications" in check["detail"] and "inventory" in check["detail"]
    assert f"http://127.0.0.1:{port}/registry/events" in check["detail"]
    if ours:
        assert "although our notification_secret is set" in check["detail"]
        assert check["fix"].startswith("regenerate the registry's config")
    else:
        assert check["fix"].startswith("set notification_secret")
    assert SECRET not in output


def test_a_registry_posting_to_an_authsvc_without_the_secret(cli, tmp_path, monkeypatch, port):
    code, check, output = doctor(registry_config(cli, tmp_path, monkeypatch, SECRET))
    assert code == 0 and check["status"] == "warn"
    assert "our notification_secret is not set, so authsvc refuses them (404)" in check["detail"]
    assert "retries every event for ever" in check["detail"] and SECRET not in output


@pytest.mark.parametrize("headers, words", [
    ({"Authorization": ["Bearer another-secret-0123456789"]}, "with another secret than our"),
    ({}, "with no Authorization header"),
])
def test_a_registry_with_another_secret(cli, tmp_path, monkeypatch, port, headers, words):
    def change(config):
        config["notifications"]["endpoints"][0]["headers"] = headers
    path = registry_config(cli, tmp_path, monkeypatch, SECRET, change)
    monkeypatch.setenv("AUTHSVC_NOTIFICATION_SECRET", SECRET)
    code, check, output = doctor(path)
    assert code == 0 and check["status"] == "warn"
    assert words in check["detail"] and "(401)" in check["detail"]
    assert "another-secret-0123456789" not in output and SECRET not in output


def test_a_disabled_endpoint(cli, tmp_path, monkeypatch, port):
    def change(config):
        config["notifications"]["endpoints"][0]["disabled"] = True
    path = registry_config(cli, tmp_path, monkeypatch, SECRET, change)
    monkeypatch.setenv("AUTHSVC_NOTIFICATION_SECRET", SECRET)
    code, check, _ = doctor(path)
    assert code == 0 and check["status"] == "warn" and "is disabled" in check["detail"]


@pytest.mark.parametrize("running, status, words", [
    (SECRET, "ok", "with our secret, and authsvc there accepts them"),
    ("", "warn", "the authsvc answering there has no notification_secret"),
    ("yet-another-secret-0123456789", "warn", "the authsvc answering there has another notification_secret"),
    (None, "ok", "does not answer from here, so the running authsvc was not asked"),
])
def test_the_running_authsvc_is_asked(cli, tmp_path, monkeypatch, port, running, status, words):
    """Issue 15's half-applied setting: the file and our settings agree, the running server does not."""
    path = registry_config(cli, tmp_path, monkeypatch, SECRET)
    monkeypatch.setenv("AUTHSVC_NOTIFICATION_SECRET", SECRET)
    with authsvc_serving(port, running) if running is not None else contextlib.nullcontext():
        code, check, output = doctor(path)
    assert code == 0 and check["status"] == status and words in check["detail"], check
    if status == "warn":
        assert "restart authsvc" in check["fix"]
    assert SECRET not in output
