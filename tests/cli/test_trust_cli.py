"""``authsvc issuer`` and ``authsvc robot trust``: trusted issuers and robots' trust policies."""

from __future__ import annotations

import json

import pytest
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests.cli.conftest import one_line_error

ISSUER = "https://token.actions.githubusercontent.com"


def _jwks(tmp_path, name="jwks.json", key=None) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(KeySet([key or ECKey.generate_key("P-256")]).as_dict(private=False)))
    return str(path)


def _setup(cli):
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("project", "create", "web", "--owner", "alice")
    cli("robot", "create", "web", "ci", "--actions", "pull,push", "--no-expiry")


def test_issuer_lifecycle(cli, tmp_path):
    added = json.loads(cli("issuer", "add", "github", "--issuer", ISSUER, "--audience", "https://reg.example",
                           "--json").output)
    assert added == [{"name": "github", "issuer": ISSUER, "audience": "https://reg.example", "keys": "discovery",
                      "policies": 0}]
    cli("issuer", "add", "cluster", "--issuer", "https://kubernetes.default.svc", "--audience", "reg",
        "--jwks-file", _jwks(tmp_path))
    listed = json.loads(cli("issuer", "list", "--json").output)
    assert [(i["name"], i["keys"]) for i in listed] == [("cluster", "stored"), ("github", "discovery")]
    assert "cluster" in cli("issuer", "list").output
    assert "stored" in cli("issuer", "set-keys", "cluster", "--jwks-file", _jwks(tmp_path, "new.json")).output
    cli("issuer", "set-keys", "cluster", "--discovery")
    assert {i["name"]: i["keys"] for i in json.loads(cli("issuer", "list", "--json").output)}["cluster"] == \
        "discovery"
    cli("issuer", "remove", "cluster")
    assert [i["name"] for i in json.loads(cli("issuer", "list", "--json").output)] == ["github"]
    audit = [e["action"] for e in json.loads(cli("audit", "list", "--json").output)]
    assert audit[:5] == ["issuer.remove", "issuer.keys", "issuer.keys", "issuer.add", "issuer.add"]


def test_robot_trust_lifecycle_and_remove_refused_while_used(cli):
    _setup(cli)
    cli("issuer", "add", "github", "--issuer", ISSUER, "--audience", "reg")
    added = json.loads(cli("robot", "trust", "add", "web", "ci", "--issuer", "github",
                           "--claim", "sub=repo:acme/app:ref:refs/heads/main", "--claim", "repository=acme/*",
                           "--json").output)
    assert added[0]["robot"] == "robot.web.ci" and added[0]["issuer"] == "github"
    assert added[0]["conditions"] == ["repository=acme/*", "sub=repo:acme/app:ref:refs/heads/main"]
    listed = json.loads(cli("robot", "trust", "list", "web", "ci", "--json").output)
    assert [(p["id"], p["last_used_at"]) for p in listed] == [(added[0]["id"], None)]
    assert "repository=acme/* sub=" in cli("robot", "trust", "list", "web", "ci").output
    assert json.loads(cli("issuer", "list", "--json").output)[0]["policies"] == 1
    one_line_error(cli("issuer", "remove", "github", ok=False), "used by 1 trust policy")
    cli("robot", "trust", "remove", "web", "ci", str(added[0]["id"]))
    assert json.loads(cli("robot", "trust", "list", "web", "ci", "--json").output) == []
    one_line_error(cli("robot", "trust", "remove", "web", "ci", str(added[0]["id"]), ok=False), "no trust policy")
    cli("issuer", "remove", "github")
    audit = [e["action"] for e in json.loads(cli("audit", "list", "--json").output)]
    assert audit[:3] == ["issuer.remove", "robot.trust.remove", "robot.trust.add"]


@pytest.mark.filterwarnings("ignore:Key size should be")  # the weak key is made on purpose
def test_issuer_errors_are_one_line(cli, tmp_path):
    for url, fragment in (("not a url", "must be a URL"), ("ftp://ci.example", "https://"),
                          ("http://ci.example", "loopback"), ("https://ci.example/?a=1", "must be a URL")):
        one_line_error(cli("issuer", "add", "x", "--issuer", url, "--audience", "reg", ok=False), fragment)
    cli("issuer", "add", "local", "--issuer", "http://127.0.0.1:8999", "--audience", "reg")  # loopback: tests
    one_line_error(cli("issuer", "add", "local", "--issuer", ISSUER, "--audience", "reg", ok=False),
                   "already exists")
    one_line_error(cli("issuer", "add", "Bad Name", "--issuer", ISSUER, "--audience", "reg", ok=False), "issuer")
    one_line_error(cli("issuer", "add", "gh", "--issuer", ISSUER, "--audience", "", ok=False), "audience")
    one_line_error(cli("issuer", "add", "gh", "--issuer", ISSUER, "--audience", "reg", "--jwks-file",
                       str(tmp_path / "missing.json"), ok=False), "cannot read")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    one_line_error(cli("issuer", "add", "gh", "--issuer", ISSUER, "--audience", "reg", "--jwks-file",
                       str(tmp_path / "binary"), ok=False), "not a text")
    (tmp_path / "bad.json").write_text("{nope")
    one_line_error(cli("issuer", "add", "gh", "--issuer", ISSUER, "--audience", "reg", "--jwks-file",
                       str(tmp_path / "bad.json"), ok=False), "not JSON")
    weak = _jwks(tmp_path, "weak.json", RSAKey.generate_key(1024, auto_kid=True))
    one_line_error(cli("issuer", "add", "gh", "--issuer", ISSUER, "--audience", "reg", "--jwks-file", weak,
                       ok=False), "no usable public key")
    one_line_error(cli("issuer", "set-keys", "nobody", "--discovery", ok=False), "no trusted issuer")
    one_line_error(cli("issuer", "set-keys", "local", "--jwks-file", weak, ok=False), "no usable public key")
    one_line_error(cli("issuer", "remove", "nobody", ok=False), "no trusted issuer")
    assert cli("issuer", "set-keys", "local", ok=False).exit_code == 2  # a usage error: neither option


def test_trust_errors_are_one_line(cli):
    _setup(cli)
    cli("issuer", "add", "github", "--issuer", ISSUER, "--audience", "reg")
    add = ("robot", "trust", "add", "web", "ci")
    one_line_error(cli(*add, "--issuer", "nobody", "--claim", "sub=x", ok=False), "no trusted issuer")
    one_line_error(cli(*add, "--issuer", "github", "--claim", "sub=*", ok=False), "matches anything")
    one_line_error(cli(*add, "--issuer", "github", "--claim", "sub", ok=False), "CLAIM=PATTERN")
    one_line_error(cli(*add, "--issuer", "github", "--claim", "a b=x", ok=False), "invalid claim name")
    one_line_error(cli(*add, "--issuer", "github", "--claim", "sub=a", "--claim", "sub=b", ok=False), "once")
    one_line_error(cli("robot", "trust", "add", "web", "nobody", "--issuer", "github", "--claim", "sub=x",
                       ok=False), "does not exist")
    one_line_error(cli("robot", "trust", "list", "ghost", "ci", ok=False), "does not exist")
    assert json.loads(cli("robot", "trust", "list", "web", "ci", "--json").output) == []
