"""``authsvc repo list`` / ``authsvc tag list``, and the notifications section of ``registry-config``.

The inventory is filled the way production fills it: envelopes POSTed to /registry/events of an
app built from the same environment the commands read.
"""

from __future__ import annotations

import json

import pytest
import yaml

from authsvc import create_app
from authsvc.store.models import db
from tests.cli.conftest import one_line_error

SECRET = "cli-registry-secret-0123456789"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def stocked(cli, monkeypatch):
    monkeypatch.setenv("AUTHSVC_NOTIFICATION_SECRET", SECRET)
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("project", "create", "web", "--owner", "alice")
    cli("project", "create", "empty")
    events = [{"id": f"e{i}", "timestamp": "2026-03-01T09:30:00.5Z", "action": "push",
               "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST,
                          "size": 418, "repository": repository, "tag": tag,
                          "url": f"http://registry/v2/{repository}/manifests/{DIGEST}"},
               "actor": {"name": "alice"}}
              for i, (repository, tag) in enumerate([("web/app", "v1"), ("web/app", "v2"), ("web/team/api", "v1")])]
    app = create_app(serving=False)
    response = app.test_client().post("/registry/events", data=json.dumps({"events": events}),
                                      headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 200 and response.get_json()["applied"] == 3, response.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()
    return cli


def test_repo_list(stocked):
    rows = json.loads(stocked("repo", "list", "web", "--json").output)
    assert rows == [{"name": "web/app", "tags": 2, "updated_at": "2026-03-01T09:30:00Z"},
                    {"name": "web/team/api", "tags": 1, "updated_at": "2026-03-01T09:30:00Z"}]
    table = stocked("repo", "list", "web").output.splitlines()
    assert table[0].split() == ["NAME", "TAGS", "UPDATED_AT"]
    assert table[1].split() == ["web/app", "2", "2026-03-01T09:30:00Z"]
    assert stocked("repo", "list", "empty", "--json").output.strip() == "[]"


def test_tag_list(stocked):
    rows = json.loads(stocked("tag", "list", "web/app", "--json").output)
    assert [(t["name"], t["digest"], t["size"], t["pushed_by"]) for t in rows] == [
        ("v1", DIGEST, 418, "alice"), ("v2", DIGEST, 418, "alice")]
    assert rows[0]["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert rows[0]["pushed_at"] == "2026-03-01T09:30:00Z"
    nested = stocked("tag", "list", "web/team/api").output.splitlines()
    assert nested[0].split() == ["NAME", "DIGEST", "MEDIA_TYPE", "SIZE", "PUSHED_BY", "PUSHED_AT"]
    assert nested[1].split()[:2] == ["v1", DIGEST]


def test_inventory_errors_are_one_line(stocked):
    one_line_error(stocked("repo", "list", "ghost", ok=False), "project 'ghost' does not exist")
    one_line_error(stocked("tag", "list", "web", ok=False), "is not PROJECT/REPO")
    one_line_error(stocked("tag", "list", "web/", ok=False), "is not PROJECT/REPO")
    one_line_error(stocked("tag", "list", "web/nope", ok=False), "repository 'web/nope' does not exist")
    one_line_error(stocked("tag", "list", "ghost/app", ok=False), "project 'ghost' does not exist")


def test_registry_config_has_notifications_only_with_a_secret(cli, monkeypatch):
    assert "notifications" not in yaml.safe_load(cli("registry-config", "--full").output)
    one_line_error(cli("registry-config", "--events-url", "http://x/registry/events", ok=False),
                   "needs notification_secret")

    monkeypatch.setenv("AUTHSVC_NOTIFICATION_SECRET", SECRET)
    monkeypatch.setenv("AUTHSVC_REALM", "https://auth.example.com/authsvc/token")
    for args in ([], ["--full"], ["--registry-version", "3"]):
        config = yaml.safe_load(cli("registry-config", *args).output)
        [endpoint] = config["notifications"]["endpoints"]
        assert endpoint["url"] == "https://auth.example.com/authsvc/registry/events"
        assert endpoint["headers"] == {"Authorization": [f"Bearer {SECRET}"]}
        assert endpoint["ignoredmediatypes"] == ["application/octet-stream"]
        assert endpoint["ignore"]["actions"] == ["pull"]
        assert endpoint["timeout"] == "5s" and endpoint["backoff"] == "1s"
        assert config["auth"]["token"]["realm"] == "https://auth.example.com/authsvc/token"

    internal = yaml.safe_load(cli("registry-config", "--events-url", "http://10.0.0.5:5001/registry/events").output)
    assert internal["notifications"]["endpoints"][0]["url"] == "http://10.0.0.5:5001/registry/events"
    one_line_error(cli("registry-config", "--events-url", "10.0.0.5/registry/events", ok=False), "http://")

    monkeypatch.setenv("AUTHSVC_REALM", "http://127.0.0.1:5001/custom-token")
    monkeypatch.setenv("AUTHSVC_TOKEN_PATH", "/custom-token")
    config = yaml.safe_load(cli("registry-config").output)
    assert config["notifications"]["endpoints"][0]["url"] == "http://127.0.0.1:5001/registry/events"


@pytest.mark.parametrize("secret", ["short", "has a space in it ok", "tab\there-0123456789"])
def test_a_weak_or_unprintable_secret_stops_every_command(cli, monkeypatch, secret):
    monkeypatch.setenv("AUTHSVC_NOTIFICATION_SECRET", secret)
    result = cli("repo", "list", "web", ok=False)
    one_line_error(result, "notification_secret")
    assert secret not in result.stderr
