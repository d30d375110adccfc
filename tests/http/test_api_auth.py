"""Who the API's caller is: Basic (password or personal access token), Bearer (an API token from
/token), or anonymous.

A bearer token is the same caller as Basic, with the same rights; wrong credentials of any kind
are a 401 before anything else is looked at; a change to the user (deactivation, deletion, losing
``admin``) counts for a token already issued; robots never administer anything.
"""

from __future__ import annotations

import datetime as dt

import pytest

from authsvc.core.policy import OPERATOR
from tests.conftest import PASSWORDS
from tests.support.api import (
    ADMIN_ONLY,
    ANON,
    CALLER_IDS,
    CALLERS,
    READ_MEMBERS,
    SEEDED_MEMBERS,
    VISIBLE,
    assert_status,
    members_of,
    public_of,
)
from tests.support.http import basic_header, bearer_header
from tests.support.units import call


@pytest.mark.parametrize("who", CALLERS[:-1], ids=CALLER_IDS[:-1])
def test_bearer_token_is_the_same_caller_as_basic(api, client, who):
    bearer = bearer_header(client, who)
    assert api.get("/users/current", bearer).get_json() == api.get("/users/current", who).get_json()
    for project in ("pub", "priv"):
        assert api.get(f"/projects/{project}", bearer).status_code == VISIBLE[who][project == "priv"]
        assert api.get(f"/projects/{project}/members", bearer).status_code == READ_MEMBERS[who][project == "priv"]
    assert api.get("/users", bearer).status_code == ADMIN_ONLY[who]


def test_bearer_token_can_change_things(api, client):
    bearer = bearer_header(client, "alice")
    assert_status(api.post("/projects/priv/members", bearer, json={"user": "erin", "role": "developer"}), 201)
    assert_status(api.get("/projects/priv", bearer_header(client, "erin")), 200)


def test_a_token_for_the_registry_is_refused_by_the_api(api, client):
    registry_token = bearer_header(client, "root", service="registry")
    assert_status(api.get("/users/current", registry_token), 401)
    assert_status(api.get("/projects", registry_token), 401)  # even where anonymous would do


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_a_deactivated_or_deleted_users_api_token_is_refused_at_once(api, client, change):
    bearer = bearer_header(client, "bob")
    assert_status(api.get("/users/current", bearer), 200)
    if change == "deactivate":
        assert_status(api.patch("/users/bob", "root", json={"active": False}), 200)
    else:
        assert_status(api.delete("/users/bob", "root"), 204)
    assert_status(api.get("/users/current", bearer), 401)
    assert_status(api.get("/projects", bearer), 401)


def test_a_demoted_system_admins_token_loses_admin_rights_at_once(api, client):
    assert_status(api.post("/users", "root", json={"name": "ops", "password": "ops-pass-123", "admin": True}), 201)
    bearer = bearer_header(client, "ops", "ops-pass-123")
    assert_status(api.get("/users", bearer), 200)
    assert_status(api.patch("/users/ops", "root", json={"admin": False}), 200)
    assert_status(api.get("/users", bearer), 403)


def test_expired_and_foreign_tokens_are_refused(app, api, client):
    signer = app.extensions["authsvc"].signer
    fresh = bearer_header(client, "alice")
    assert_status(api.get("/users/current", fresh), 200)
    token = fresh["Authorization"].split()[1]
    claims = signer.verify(token, audience="authsvc-api")
    bound = {key: claims[key] for key in ("uid", "cv", "cred")}
    old = signer.issue(subject="alice", audience="authsvc-api", access=[], extra_claims=bound,
                       now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert_status(api.get("/users/current", {"Authorization": f"Bearer {old.token}"}), 401)
    # A token naming the account by name alone (as before user ids were bound) is refused.
    unbound = signer.issue(subject="alice", audience="authsvc-api", access=[])
    assert_status(api.get("/users/current", {"Authorization": f"Bearer {unbound.token}"}), 401)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert_status(api.get("/users/current", {"Authorization": f"Bearer {forged}"}), 401)
    anonymous = signer.issue(subject="", audience="authsvc-api", access=[])
    assert_status(api.get("/projects", {"Authorization": f"Bearer {anonymous.token}"}), 401)


@pytest.mark.parametrize("header", [
    basic_header("bob", "wrong-password"), basic_header("nobody", "whatever-1"), basic_header("BOB", "x"),
    {"Authorization": "Basic !!!"}, {"Authorization": "Basic"}, {"Authorization": "Bearer"},
    {"Authorization": "Bearer not.a.jwt"}, {"Authorization": "Digest username=bob"},
    {"Authorization": "Token abc"},
], ids=["wrong-password", "unknown-user", "wrong-password-upper", "bad-base64", "basic-empty",
        "bearer-empty", "bearer-garbage", "digest", "unknown-scheme"])
@pytest.mark.parametrize("method, path, body", [
    ("GET", "/projects", None),                      # anonymous would be answered: wrong credentials are not
    ("GET", "/projects/pub", None),
    ("GET", "/openapi.json", None),
    ("GET", "/users?page=0", None),                   # 401 before the bad query parameter
    ("POST", "/users", {"name": "Bad Name"}),         # 401 before the bad body
    ("PATCH", "/projects/priv", {"unknown": 1}),
    ("DELETE", "/projects/pub/members/bob", None),
])
def test_wrong_credentials_are_401_before_anything_else(api, header, method, path, body):
    kwargs = {"json": body} if body is not None else {}
    response = api.call(method, path, header, **kwargs)
    assert_status(response, 401)
    assert members_of(api, "pub") == SEEDED_MEMBERS


def test_a_personal_access_token_stands_in_for_the_password(app, api):
    from authsvc.services.credentials import personal_tokens
    created = call(personal_tokens.create, OPERATOR, "bob", "laptop", expires_in=dt.timedelta(days=1))
    pat = basic_header("bob", created.token)
    assert api.get("/users/current", pat).get_json()["name"] == "bob"
    assert_status(api.get("/projects/priv/members", pat), 200)
    assert_status(api.get("/users", pat), 403)  # still only bob's rights
    assert_status(api.get("/users/current", basic_header("alice", created.token)), 401)  # not alice's


def test_a_robot_account_never_administers_anything(app, api):
    from authsvc.services.credentials import robots
    robot = call(robots.create, OPERATOR, "priv", "ci", actions="pull,push", never_expires=True)
    who = basic_header(robot.login, robot.secret)
    assert_status(api.get("/projects/priv", who), 200)
    for method, path, body in [("PATCH", "/projects/priv", {"public": True}), ("DELETE", "/projects/priv", None),
                               ("GET", "/projects/priv/members", None),
                               ("POST", "/projects/priv/members", {"user": "erin", "role": "guest"}),
                               ("DELETE", "/projects/priv/members/bob", None), ("GET", "/users", None),
                               ("POST", "/users", {"name": "evil", "password": "evil-pass-1"}),
                               ("PUT", "/users/alice/password", {"password": "evil-pass-1"})]:
        kwargs = {"json": body} if body is not None else {}
        assert_status(api.call(method, path, who, **kwargs), 403)
    assert_status(api.post("/projects", who, json={"name": "robots-own"}), 403)
    assert api.get("/users/current", who).status_code == 404  # no user record (documented)
    assert members_of(api, "priv") == SEEDED_MEMBERS and public_of(api, "priv") is False


def test_login_names_are_case_insensitive(api):
    assert api.get("/users/current", basic_header("BOB", PASSWORDS["bob"])).get_json()["name"] == "bob"


def test_a_deactivated_user_cannot_use_basic_either(api):
    assert_status(api.patch("/users/carol", "root", json={"active": False}), 200)
    assert_status(api.get("/projects/priv", "carol"), 401)


def test_each_request_is_its_own_caller(api):
    """The caller is not remembered between requests handled in one app context (the fixtures')."""
    assert_status(api.get("/users", "root"), 200)
    assert_status(api.get("/users", ANON), 401)
    assert_status(api.get("/projects/priv", ANON), 404)
