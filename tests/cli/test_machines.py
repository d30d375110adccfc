"""The robot, pat and pull-secret commands."""

from __future__ import annotations

import base64
import json

import yaml

from tests.cli.conftest import one_line_error


def _setup(cli):
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("project", "create", "web", "--owner", "alice")


def test_robot_lifecycle(cli):
    _setup(cli)
    created = json.loads(cli("robot", "create", "web", "ci", "--actions", "pull,push", "--expires-in", "30d",
                             "--json").output)
    assert created["login"] == "robot.web.ci" and len(created["secret"]) >= 40
    listed = json.loads(cli("robot", "list", "web", "--json").output)
    assert [(r["login"], r["actions"], r["disabled"]) for r in listed] == [("robot.web.ci", ["pull", "push"], False)]
    assert listed[0]["expires_at"] is not None
    cli("robot", "disable", "web", "ci")
    assert json.loads(cli("robot", "list", "web", "--json").output)[0]["disabled"] is True
    rekeyed = json.loads(cli("robot", "rekey", "web", "ci", "--json").output)
    assert rekeyed["secret"] != created["secret"]
    cli("robot", "delete", "web", "ci")
    assert json.loads(cli("robot", "list", "web", "--json").output) == []
    audit = [e["action"] for e in json.loads(cli("audit", "list", "--json").output)]
    assert audit[:4] == ["robot.delete", "robot.rekey", "robot.disable", "robot.create"]
    assert created["secret"] not in json.dumps(json.loads(cli("audit", "list", "--json").output))


def test_robot_errors_are_one_line(cli):
    _setup(cli)
    one_line_error(cli("robot", "create", "web", "ci", ok=False), "ask explicitly for a robot that never expires")
    one_line_error(cli("robot", "create", "web", "ci", "--no-expiry", "--actions", "admin", ok=False),
                   "robot actions must be")
    one_line_error(cli("robot", "create", "ghost", "ci", "--no-expiry", ok=False), "does not exist")
    one_line_error(cli("robot", "create", "web", "Bad.Name", "--no-expiry", ok=False), "invalid robot name")
    one_line_error(cli("robot", "rekey", "web", "nobody", ok=False), "does not exist")


def test_personal_tokens(cli):
    _setup(cli)
    token = json.loads(cli("pat", "create", "alice", "laptop", "--expires-in", "7d", "--json").output)["secret"]
    assert token.startswith("asvc_pat_")
    listed = json.loads(cli("pat", "list", "alice", "--json").output)
    assert [t["name"] for t in listed] == ["laptop"] and listed[0]["last_used_at"] is None
    one_line_error(cli("pat", "create", "alice", "laptop", ok=False), "already has a token")
    one_line_error(cli("pat", "create", "alice", "year", "--expires-in", "400d", ok=False), "one year")
    cli("pat", "revoke", "alice", "laptop")
    assert json.loads(cli("pat", "list", "alice", "--json").output) == []


def test_pull_secret_is_a_kubernetes_manifest(cli):
    _setup(cli)
    manifest = yaml.safe_load(cli("pull-secret", "web", "--namespace", "prod", "--create-robot",
                                  "--expires-in", "365d", "--registry", "reg.example.com").output)
    assert manifest["kind"] == "Secret" and manifest["type"] == "kubernetes.io/dockerconfigjson"
    assert manifest["metadata"] == {"name": "web-pull", "namespace": "prod"}
    config = json.loads(base64.b64decode(manifest["data"][".dockerconfigjson"]))
    entry = config["auths"]["reg.example.com"]
    assert entry["username"] == "robot.web.pull-prod" and entry["password"]
    # The same robot again: re-keyed, so the new manifest holds the only working secret.
    again = yaml.safe_load(cli("pull-secret", "web", "--namespace", "prod", "--robot", "pull-prod",
                               "--name", "other", "--registry", "reg.example.com").output)
    new_entry = json.loads(base64.b64decode(again["data"][".dockerconfigjson"]))["auths"]["reg.example.com"]
    assert new_entry["username"] == entry["username"] and new_entry["password"] != entry["password"]
    one_line_error(cli("pull-secret", "web", "--namespace", "prod", "--robot", "pull-prod", ok=False),
                   "registry host")
    one_line_error(cli("pull-secret", "web", "--namespace", "prod", "--registry", "r", ok=False),
                   "existing robot")
