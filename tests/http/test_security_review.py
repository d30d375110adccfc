"""Regression tests for the security review of issue 11 (findings 1, 2, 3, 5 and 6).

Each test attacks a fresh install the way the review did, through HTTP only, so
it states the promise in the terms an attacker meets it.  Findings 4, 7, 8 and 9
have their own tests (test_metrics.py, test_api_cross_site.py,
test_input_findings.py, tests/unit/test_names.py).
"""

from __future__ import annotations

import base64

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from authsvc.services.authn.passwords import hash_password
from authsvc.store.models import db
from tests.conftest import PASSWORDS, make_app
from tests.http import conftest as http_fixtures

API = "/api/v1"


def basic(user: str, password: str | None = None) -> dict[str, str]:
    password = PASSWORDS[user] if password is None else password
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def registry_token(client: FlaskClient, user: str, password: str | None = None, **params):
    return client.get("/token", query_string={"service": "registry", "scope": "repository:priv/app:pull",
                                              **params}, headers=basic(user, password))


def api_token(client: FlaskClient, headers: dict[str, str]) -> dict[str, str]:
    response = client.get("/token", query_string={"service": "authsvc-api"}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": "Bearer " + response.get_json()["token"]}


@pytest.fixture
def review_app(tmp_path):
    """A seeded app with a long first throttle block (so a test is never racing its end), served
    as under gunicorn: no app context stays pushed around the requests."""
    with http_fixtures.served(tmp_path, throttle_base_delay=120) as application:
        yield application


# -- finding 1: the throttle stands in front of the verified-credential cache -----------------

def test_a_blocked_pair_is_refused_even_with_the_cached_right_password(review_app):
    client = review_app.test_client()
    assert registry_token(client, "bob").status_code == 200  # bob's password is now in the cache
    threshold = 5
    answers = [registry_token(client, "bob", f"guess-{n}").status_code for n in range(threshold)]
    assert answers == [401] * threshold
    # Blocked now: guesses are refused before any check, and so is the right password,
    # although the cache would have accepted it without bcrypt.
    assert registry_token(client, "bob", "guess-more").status_code == 429
    blocked = registry_token(client, "bob")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    # The same holds for the REST API's Basic credentials, which use the same verifier.
    assert client.get(f"{API}/users/current", headers=basic("bob")).status_code == 429
    # Another pair (another account from this address) is not affected.
    assert registry_token(client, "carol").status_code == 200


def test_a_cached_login_clears_the_failures_of_its_pair(review_app):
    client = review_app.test_client()
    assert registry_token(client, "bob").status_code == 200
    for n in range(4):  # one short of the threshold
        assert registry_token(client, "bob", f"guess-{n}").status_code == 401
    assert registry_token(client, "bob").status_code == 200  # a cache hit, and a success
    for n in range(4):  # counting starts again: four more failures do not block
        assert registry_token(client, "bob", f"again-{n}").status_code == 401
    assert registry_token(client, "bob").status_code == 200


# -- finding 2: a deleted and re-created account inherits nothing ------------------------------

def test_a_recreated_account_accepts_none_of_the_old_accounts_credentials(review_app):
    client = review_app.test_client()
    root = basic("root")
    old_password = PASSWORDS["erin"]  # erin has the highest id: SQLite would hand it out again
    assert registry_token(client, "erin").status_code == 200  # cached
    old_bearer = api_token(client, basic("erin"))
    assert client.get(f"{API}/users/current", headers=old_bearer).status_code == 200

    assert client.delete(f"{API}/users/erin", headers=root).status_code == 204
    created = client.post(f"{API}/users", headers=root, json={"name": "erin", "password": "new-erin-pass-1"})
    assert created.status_code == 201

    assert registry_token(client, "erin", old_password).status_code == 401
    assert client.get(f"{API}/users/current", headers=old_bearer).status_code == 401
    assert registry_token(client, "erin", "new-erin-pass-1").status_code == 200


def test_user_ids_are_never_reused(review_app):
    client = review_app.test_client()
    root = basic("root")
    with review_app.app_context():
        highest = db.session.execute(text("SELECT max(id) FROM users")).scalar()
    assert client.delete(f"{API}/users/erin", headers=root).status_code == 204
    assert client.post(f"{API}/users", headers=root, json={"name": "frank", "password": "frank-pass-1"}).status_code == 201
    with review_app.app_context():
        frank = db.session.execute(text("SELECT id FROM users WHERE name = 'frank'")).scalar()
    assert frank > highest


# -- finding 3: a stand-in credential never mints a credential ---------------------------------

def _personal_token(client: FlaskClient, user: str) -> str:
    response = client.post(f"{API}/users/{user}/tokens", headers=basic(user),
                           json={"name": "script", "expires_in_days": 7})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["token"]


def test_a_personal_token_cannot_make_a_personal_token_or_change_the_password(review_app):
    client = review_app.test_client()
    token = _personal_token(client, "bob")
    with_token = basic("bob", token)
    assert client.get(f"{API}/users/current", headers=with_token).status_code == 200  # it does log in
    longer = client.post(f"{API}/users/bob/tokens", headers=with_token, json={"name": "forever", "expires_in_days": 366})
    assert longer.status_code == 403
    via_bearer = client.post(f"{API}/users/bob/tokens", headers=api_token(client, with_token),
                             json={"name": "forever", "expires_in_days": 366})
    assert via_bearer.status_code == 403
    changed = client.put(f"{API}/users/bob/password", headers=with_token,
                         json={"password": "taken-over-1", "old_password": PASSWORDS["bob"]})
    assert changed.status_code == 403
    assert registry_token(client, "bob").status_code == 200  # the password still works
    assert [t["name"] for t in client.get(f"{API}/users/bob/tokens", headers=basic("bob")).get_json()] == ["script"]


def test_a_refresh_token_cannot_make_a_personal_token(review_app):
    client = review_app.test_client()
    refresh = registry_token(client, "bob", offline_token="true").get_json()["refresh_token"]
    answer = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                         "service": "authsvc-api"})
    assert answer.status_code == 200
    bearer = {"Authorization": "Bearer " + answer.get_json()["token"]}
    made = client.post(f"{API}/users/bob/tokens", headers=bearer, json={"name": "x", "expires_in_days": 1})
    assert made.status_code == 403


def test_an_administrator_with_a_personal_token_cannot_create_accounts_or_robots(review_app):
    client = review_app.test_client()
    admin_token = basic("root", _personal_token(client, "root"))
    assert client.get(f"{API}/users", headers=admin_token).status_code == 200  # reading is fine
    assert client.post(f"{API}/users", headers=admin_token,
                       json={"name": "mallory", "password": "mallory-pass-1"}).status_code == 403
    robot = client.post(f"{API}/projects/priv/robots", headers=admin_token,
                        json={"name": "ci", "actions": ["pull"], "expires_at": None})
    assert robot.status_code == 403
    with_password = client.post(f"{API}/projects/priv/robots", headers=basic("root"),
                                json={"name": "ci", "actions": ["pull"], "expires_at": None})
    assert with_password.status_code == 201


def test_a_password_login_still_makes_tokens_through_a_bearer_token(review_app):
    client = review_app.test_client()
    bearer = api_token(client, basic("bob"))
    made = client.post(f"{API}/users/bob/tokens", headers=bearer, json={"name": "laptop", "expires_in_days": 30})
    assert made.status_code == 201


# -- finding 5: no timing difference after a bcrypt_rounds change ------------------------------

def _stored_cost(app, user: str) -> int:
    with app.app_context():
        stored = db.session.execute(text("SELECT password_hash FROM users WHERE name = :n"), {"n": user}).scalar()
        db.session.remove()
    return int(stored.split("$")[3])


def test_a_login_upgrades_a_hash_made_at_an_older_cost(tmp_path, review_app):
    assert _stored_cost(review_app, "bob") == 4
    raised = make_app(tmp_path, bcrypt_rounds=5)  # the same database, a higher configured cost
    client = raised.test_client()
    assert registry_token(client, "bob").status_code == 200
    assert _stored_cost(raised, "bob") == 5
    assert _stored_cost(raised, "carol") == 4  # untouched until carol logs in
    assert registry_token(client, "bob").status_code == 200  # and the new hash verifies


def test_refusals_cost_the_highest_cost_in_use(tmp_path, review_app):
    """Issue 20 replaced "the cost most stored hashes have" by the highest one (configured or
    stored): the timing itself is measured in tests/services/test_refusal_timing.py."""
    raised = make_app(tmp_path, bcrypt_rounds=6)  # every stored hash still has cost 4
    client = raised.test_client()
    assert registry_token(client, "nobody-here", "whatever-1").status_code == 401
    assert registry_token(client, "bob", "whatever-1").status_code == 401
    refusal = raised.extensions["authsvc"].authenticator.password.refusal
    assert sorted(refusal._dummies) == [4, 5, 6]  # unknown: one check at 6; bob's: 4 + 4 + 5
    lowered = make_app(tmp_path, bcrypt_rounds=4)  # a cost-6 hash would keep the ceiling at 6
    with lowered.app_context():
        db.session.execute(text("UPDATE users SET password_hash = :h WHERE name = 'carol'"),
                           {"h": hash_password("carol-pass-1", 6)})
        db.session.commit()
        db.session.remove()
    assert registry_token(lowered.test_client(), "nobody-here", "whatever-1").status_code == 401
    assert sorted(lowered.extensions["authsvc"].authenticator.password.refusal._dummies) == [6]


# -- finding 6: the old password of a self-service change is throttled and audited -------------

def test_wrong_old_passwords_are_throttled_and_audited(review_app):
    client = review_app.test_client()
    token = basic("bob", _personal_token(client, "bob"))  # what a thief of bob's token would hold
    bearer = api_token(client, basic("bob"))
    answers = [client.put(f"{API}/users/bob/password", headers=bearer,
                          json={"password": "new-pass-123", "old_password": f"guess-{n}"}).status_code
               for n in range(5)]
    assert answers == [403] * 5
    blocked = client.put(f"{API}/users/bob/password", headers=bearer,
                         json={"password": "new-pass-123", "old_password": PASSWORDS["bob"]})
    assert blocked.status_code == 429 and blocked.headers["Retry-After"]
    events = client.get(f"{API}/users/current", headers=token)
    assert events.status_code == 200
    with review_app.app_context():
        failures = db.session.execute(text(
            "SELECT count(*) FROM audit_events WHERE action = 'login.failure' AND actor = 'bob'")).scalar()
    assert failures == 5
