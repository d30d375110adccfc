"""Trusted issuers and trust policies over /api/v1: the service's rules, reached as JSON (issue 22)."""

from __future__ import annotations

import datetime as dt

from authsvc.core.policy import OPERATOR
from authsvc.services.credentials import personal_tokens, robots
from tests.support.api import ANON, assert_status, error
from tests.support.http import basic_header
from tests.support.units import call

ISSUER = {"name": "github", "issuer": "https://token.actions.githubusercontent.com", "audience": "registry.test"}
POLICY = {"issuer": "github", "conditions": ["sub=repo:acme/app:ref:refs/heads/main"]}


def _robot():
    call(robots.create, OPERATOR, "priv", "ci", actions="pull,push", never_expires=True)


def test_issuers_are_for_system_administrators_and_in_use_ones_stay(api):
    assert_status(api.post("/issuers", "alice", json=ISSUER), 403)
    assert_status(api.get("/issuers", "alice"), 403)
    assert_status(api.get("/issuers", ANON), 401)
    made = api.post("/issuers", "root", json=ISSUER)
    assert_status(made, 201)
    assert made.headers["Location"].endswith("/api/v1/issuers/github") and made.get_json()["jwks"] is None
    assert_status(api.post("/issuers", "root", json=ISSUER), 409)
    bad = api.post("/issuers", "root", json={**ISSUER, "name": "gl", "issuer": "http://example.com"})
    assert_status(bad, 400)
    assert error(bad)["detail"] == {"field": "issuer"}
    keys = api.put("/issuers/github/keys", "root", json={"jwks": {"keys": []}})
    assert_status(keys, 400)
    assert error(keys)["detail"] == {"field": "jwks"}
    _robot()
    assert_status(api.post("/projects/priv/robots/ci/trust", "alice", json=POLICY), 201)
    assert api.get("/issuers/github", "root").get_json()["policies"] == 1
    assert_status(api.delete("/issuers/github", "root"), 409)
    assert_status(api.get("/issuers/nothing", "root"), 404)


def test_trust_policies_follow_the_robots_rules(api):
    assert_status(api.post("/issuers", "root", json=ISSUER), 201)
    _robot()
    path = "/projects/priv/robots/ci/trust"
    assert_status(api.post(path, "bob", json=POLICY), 403)     # a Developer
    assert_status(api.post(path, "erin", json=POLICY), 404)    # not a member of a private project
    bad = api.post(path, "alice", json={**POLICY, "conditions": ["sub=*"]})
    assert_status(bad, 400)
    assert error(bad)["detail"] == {"field": "conditions"}
    unknown = api.post(path, "alice", json={**POLICY, "issuer": "nobody"})
    assert_status(unknown, 400)
    assert error(unknown)["detail"] == {"field": "issuer"}
    made = api.post(path, "alice", json=POLICY)
    assert_status(made, 201)
    listed = api.get(path, "alice").get_json()
    assert [p["conditions"] for p in listed] == [POLICY["conditions"]] and listed[0]["last_used_at"] is None
    assert_status(api.delete(f"{path}/x", "alice"), 404)
    assert_status(api.delete(f"{path}/{made.get_json()['id']}", "bob"), 403)
    assert_status(api.delete(f"{path}/{made.get_json()['id']}", "alice"), 204)
    assert api.get(path, "alice").get_json() == []


def test_a_token_authenticated_caller_cannot_add_a_policy(api):
    assert_status(api.post("/issuers", "root", json=ISSUER), 201)
    _robot()
    made = call(personal_tokens.create, OPERATOR, "alice", "laptop", expires_in=dt.timedelta(days=1))
    refused = api.post("/projects/priv/robots/ci/trust", basic_header("alice", made.token), json=POLICY)
    assert_status(refused, 403)
    assert "password" in error(refused)["message"]
