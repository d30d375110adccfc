"""The token endpoint through the Flask test client, verifying every JWT it returns."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.access import accounts
from authsvc.services.credentials import refresh_tokens
from tests.conftest import PASSWORDS
from tests.support.http import actions, basic, claims_of, get_token
from tests.support.units import call


def test_response_shape_and_claims(app, client, seeded):
    response = get_token(client, "repository:priv/app:pull,push", user="bob")
    body = response.get_json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300 and isinstance(body["expires_in"], int)
    issued = dt.datetime.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - issued).total_seconds()) < 30
    assert "refresh_token" not in body
    assert response.headers["Cache-Control"] == "no-store"
    claims = claims_of(app, response)
    assert claims["sub"] == "bob" and claims["aud"] == "registry" and claims["iss"] == "authsvc"
    assert all(isinstance(claims[k], int) for k in ("iat", "nbf", "exp"))
    assert claims["nbf"] < claims["iat"] and claims["exp"] - claims["iat"] == 300
    assert claims["access"] == [{"type": "repository", "name": "priv/app", "actions": ["pull", "push"]}]
    assert len(claims["jti"]) >= 16
    assert claims["jti"] != claims_of(app, get_token(client, user="bob"))["jti"]


@pytest.mark.parametrize("user, pub, priv", [
    (None, ["pull"], []),
    ("erin", ["pull"], []),
    ("carol", ["pull"], ["pull"]),
    ("bob", ["pull", "push"], ["pull", "push"]),
    ("dave", ["pull", "push", "delete"], ["pull", "push", "delete"]),
    ("alice", ["pull", "push", "delete"], ["pull", "push", "delete"]),
    ("root", ["pull", "push", "delete"], ["pull", "push", "delete"]),
])
def test_seed_table_over_http(app, client, seeded, user, pub, priv):
    response = get_token(client, "repository:pub/x:pull,push,delete", "repository:priv/x:pull,push,delete",
                         user=user)
    assert actions(app, response, "pub/x") == pub
    assert actions(app, response, "priv/x") == priv


def test_anonymous_sub_is_empty_and_access_a_list(app, client, seeded):
    claims = claims_of(app, get_token(client, "repository:priv/x:pull"))
    assert claims["sub"] == "" and claims["access"] == []


def test_sub_is_the_authenticated_name_not_account(app, client, seeded):
    claims = claims_of(app, get_token(client, user="bob", account="root"))
    assert claims["sub"] == "bob"


def test_login_names_are_case_insensitive(app, client, seeded):
    assert claims_of(app, get_token(client, user="BOB", password=PASSWORDS["bob"]))["sub"] == "bob"


@pytest.mark.parametrize("user, password", [("bob", "wrong-password"), ("nobody", "whatever-1"),
                                            ("bob", ""), ("not a name", "x")])
def test_bad_credentials_are_401_with_the_same_json(client, seeded, user, password):
    response = get_token(client, "repository:pub/x:pull", user=user, password=password)
    assert response.status_code == 401
    # No challenge: clients send credentials to the realm unasked, and a Basic one would make a
    # browser prompt (tests/http/test_api_cross_site.py).
    assert "WWW-Authenticate" not in response.headers
    assert response.get_json() == {"errors": [{
        "code": "UNAUTHORIZED", "message": "authentication required: invalid username, password or token"}]}


@pytest.mark.parametrize("header", ["Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode(),
                                    "Basic " + base64.b64encode(b":pw").decode(), "Bearer abc", "Basic",
                                    "Basic " + base64.b64encode(b"\xff\xfe:x").decode()])
def test_malformed_authorization_is_401_json(client, seeded, header):
    response = client.get("/token?service=registry", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_inactive_user_is_refused(client, seeded):
    call(accounts.update_user, OPERATOR, "bob", is_active=False)
    assert get_token(client, user="bob").status_code == 401


def test_unknown_service_is_400_and_missing_service_uses_default(app, client, seeded):
    response = get_token(client, user="bob", service="other")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["code"] == "INVALID"
    response = client.get("/token", headers=basic("bob", PASSWORDS["bob"]))
    assert claims_of(app, response)["aud"] == "registry"


@pytest.mark.parametrize("scope", ["repository:pub/x", "repository:pub/X:pull", "garbage", "a:b:c:d/../e:f"])
def test_malformed_scope_is_400(client, seeded, scope):
    response = get_token(client, scope)
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["detail"] == {"field": "scope"}


def test_space_separated_and_repeated_scopes(app, client, seeded):
    response = get_token(client, "repository:pub/a:pull repository:priv/b:pull", "repository:priv/c:push",
                         user="bob")
    assert [a["name"] for a in claims_of(app, response)["access"]] == ["pub/a", "priv/b", "priv/c"]


def test_catalog_for_system_admin_only(app, client, seeded):
    assert actions(app, get_token(client, "registry:catalog:*", user="root"), "catalog") == ["*"]
    assert actions(app, get_token(client, "registry:catalog:*", user="alice"), "catalog") == []


def test_docker_login_gets_refresh_token_usable_by_post(app, client, seeded):
    login = get_token(client, user="bob", offline_token="true", client_id="docker", account="bob")
    refresh = login.get_json()["refresh_token"]
    response = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                           "client_id": "docker", "service": "registry",
                                           "scope": "repository:priv/app:pull,push"})
    claims = claims_of(app, response)
    assert claims["sub"] == "bob"
    assert claims["access"][0]["actions"] == ["pull", "push"]
    assert "refresh_token" not in response.get_json()  # not rotated: docker keeps the one it stored
    stored = call(refresh_tokens.list_tokens, OPERATOR, "bob")
    assert len(stored) == 1 and stored[0][0].token_hash != refresh and refresh not in stored[0][0].token_hash


@pytest.mark.parametrize("kill", ["password", "deactivate", "delete", "revoke"])
def test_refresh_token_dies_with_credentials(client, seeded, kill):
    refresh = get_token(client, user="bob", offline_token="true").get_json()["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": "registry"}
    assert client.post("/token", data=form).status_code == 200
    {"password": lambda: call(accounts.set_password, OPERATOR, "bob", "new-pass-123"),
     "deactivate": lambda: call(accounts.update_user, OPERATOR, "bob", is_active=False),
     "delete": lambda: call(accounts.delete_user, OPERATOR, "bob"),
     "revoke": lambda: call(refresh_tokens.revoke_all, OPERATOR, "bob")}[kill]()
    assert client.post("/token", data=form).status_code == 401


def test_forged_refresh_token_is_401(client, seeded):
    response = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x" * 43,
                                           "service": "registry"})
    assert response.status_code == 401


def test_password_grant_as_containerd_sends_it(app, client, seeded):
    form = {"grant_type": "password", "username": "carol", "password": PASSWORDS["carol"],
            "client_id": "containerd-client", "scope": "repository:priv/app:pull", "service": "registry"}
    response = client.post("/token", data=form)
    assert actions(app, response, "priv/app") == ["pull"]
    assert "refresh_token" not in response.get_json()
    form["access_type"] = "offline"
    assert "refresh_token" in client.post("/token", data=form).get_json()
    form["password"] = "wrong-password"
    assert client.post("/token", data=form).status_code == 401


@pytest.mark.parametrize("form", [{"grant_type": "client_credentials"}, {}, {"grant_type": "password"},
                                  {"grant_type": "refresh_token"}])
def test_bad_post_forms_are_400(client, seeded, form):
    response = client.post("/token", data={"service": "registry", **form})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["code"] == "INVALID"


def test_post_must_be_a_form(client, seeded):
    response = client.post("/token", json={"grant_type": "password"})
    assert response.status_code == 400


def test_password_cache_skips_bcrypt_but_not_a_password_change(app, client, seeded):
    cache = app.extensions["authsvc"].authenticator.cache
    assert get_token(client, user="bob").status_code == 200
    hits = cache.hits
    assert get_token(client, user="bob").status_code == 200
    assert cache.hits == hits + 1
    call(accounts.set_password, OPERATOR, "bob", "changed-pass-1")
    assert get_token(client, user="bob").status_code == 401
    assert get_token(client, user="bob", password="changed-pass-1").status_code == 200


def test_wrong_password_never_enters_the_cache(app, client, seeded):
    cache = app.extensions["authsvc"].authenticator.cache
    for _ in range(3):
        assert get_token(client, user="bob", password="wrong-one").status_code == 401
    assert cache.hits == 0


def test_errors_elsewhere_are_json(client):
    assert client.get("/nope").get_json()["errors"][0]["code"] == "NOT_FOUND"
    assert client.put("/token").status_code == 405
    assert client.put("/token").get_json()["errors"][0]["code"] == "UNSUPPORTED"


def test_probes(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_refresh_tokens_expire_and_failures_are_audited(app, client, seeded):
    from authsvc.services import audit
    from authsvc.store.models import RefreshToken, db
    refresh = get_token(client, user="bob", offline_token="true").get_json()["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": "registry"}
    assert client.post("/token", data=form).status_code == 200
    row = db.session.query(RefreshToken).one()
    row.created_at = row.created_at - dt.timedelta(days=91)  # the default lifetime is 90 days
    db.session.commit()
    assert client.post("/token", data=form).status_code == 401
    failures = [e for e in call(audit.list_events, OPERATOR) if e.action == "login.failure"]
    assert [e.actor for e in failures] == ["bob"]
