"""The RFC 8693 exchange's bad input (400 JSON, no verifier reached), the audit of identity-token
uses and refusals (never throttled), and the token endpoint's fast path with identity tokens."""

from __future__ import annotations

import json

import pytest

from authsvc.services.authn import passwords
from authsvc.services.credentials import robots
from authsvc.store.models import AuditEvent, LoginFailure, db
from authsvc.web.fast_token import FastTokenPath
from tests.conftest import make_app, seed
from tests.support.http import basic
from tests.support.keyless import (
    ALICE,
    AUDIENCE,
    JWT_TYPE,
    PULL_PUSH,
    TOKEN_EXCHANGE,
    basic_login,
    error_code,
    exchange,
    issuer_fixture,
    keyless_robot,
)
from tests.support.units import call, flush_grants

issuer = issuer_fixture("module")
MAIN = "sub=repo:acme/app:ref:refs/heads/main"


@pytest.fixture
def no_bcrypt(monkeypatch):
    """Fail the test if any password is checked."""
    def refuse(*args):
        raise AssertionError("the password verifier was reached")
    monkeypatch.setattr(passwords, "verify_password", refuse)
    monkeypatch.setattr(passwords.bcrypt, "checkpw", refuse)


def _failures() -> int:
    db.session.expire_all()
    return db.session.query(LoginFailure).count()


def _events(action: str) -> list[dict]:
    flush_grants()
    db.session.expire_all()
    rows = db.session.query(AuditEvent).filter_by(action=action).order_by(AuditEvent.id).all()
    return [{"actor": r.actor, "target": r.target, **json.loads(r.details)} for r in rows]


@pytest.mark.parametrize(("change", "field"), [
    ({"subject_token": None}, "subject_token"),
    ({"subject_token": ""}, "subject_token"),
    ({"subject_token": "not-a-jwt"}, "subject_token"),
    ({"subject_token": "eyJhbGciOiJub25lIn0.e30"}, "subject_token"),  # two parts only
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:access_token"}, "subject_token_type"),
    ({"subject_token_type": None}, "subject_token_type"),
    ({"requested_subject": "bob"}, "requested_subject"),  # a user: never a password check
    ({"requested_subject": "root"}, "requested_subject"),
    ({"requested_subject": "robot.priv"}, "requested_subject"),
    ({"requested_subject": None}, "requested_subject"),
    ({"grant_type": TOKEN_EXCHANGE + "x"}, "grant_type"),
])
def test_bad_exchange_input_is_a_400_with_code_and_message(app, client, seeded, issuer, no_bcrypt, change, field):
    keyless_robot(issuer, MAIN)
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": issuer.github(AUDIENCE), "subject_token_type": JWT_TYPE,
            "requested_subject": "robot.priv.ci", "service": "registry", **change}
    response = client.post("/token", data={k: v for k, v in form.items() if v is not None})
    assert response.status_code == 400
    assert error_code(response) == "INVALID"
    assert response.get_json()["errors"][0]["detail"]["field"] == field
    assert _failures() == 0 and _events("login.failure") == []


def test_a_use_is_audited_with_issuer_subject_policy_and_matched_conditions(app, client, seeded, issuer):
    login = keyless_robot(issuer, MAIN, "repository=acme/*")
    assert basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH).status_code == 200
    (used,) = _events("robot.identity_token")
    assert used["actor"] == used["target"] == login
    assert used["issuer"] == "ci" and used["subject"] == "repo:acme/app:ref:refs/heads/main"
    assert isinstance(used["policy"], int)
    assert used["matched"] == ["repository=acme/*", "sub=repo:acme/app:ref:refs/heads/main"]


def test_a_refusal_is_audited_as_a_failed_login_and_never_throttled(app, client, seeded, issuer, no_bcrypt):
    login = keyless_robot(issuer, MAIN)
    for _ in range(12):  # more than any throttle allows
        assert basic_login(client, login, issuer.github(AUDIENCE, ref="refs/heads/dev"), PULL_PUSH).status_code == 401
        assert exchange(client, issuer.github("other"), login, PULL_PUSH).status_code == 401
    assert _failures() == 0, "a signed token is not guessable: no throttle count"
    failures = _events("login.failure")
    assert len(failures) == 24 and {f["actor"] for f in failures} == {login}
    assert basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH).status_code == 200, "not blocked"
    assert _events("robot.identity_token")


@pytest.fixture
def fast_app(tmp_path):
    application = make_app(tmp_path, token_fast_path=True)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


def test_fast_path_robot_secret_and_identity_token_for_one_robot(fast_app, issuer, monkeypatch):
    seed()
    fast = fast_app.wsgi_app
    assert isinstance(fast, FastTokenPath)
    reached = []
    full = fast.full_path

    def counted(environ, start_response):
        reached.append(environ.get("PATH_INFO"))
        return full(environ, start_response)

    monkeypatch.setattr(fast, "full_path", counted)
    client = fast_app.test_client()
    login = keyless_robot(issuer, MAIN)
    secret = call(robots.rekey, ALICE, "priv", "ci").secret
    query = [("service", "registry"), ("scope", PULL_PUSH)]
    for _ in range(2):  # the first is a cache miss: the full path
        assert client.get("/token", query_string=query, headers=basic(login, secret)).status_code == 200
    reached.clear()
    assert client.get("/token", query_string=query, headers=basic(login, secret)).status_code == 200
    assert reached == [], "the robot secret: the fast path answered"
    for _ in range(3):
        assert basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH).status_code == 200
    assert reached == ["/token"] * 3, "identity tokens always go to the full path"
    assert len(_events("robot.identity_token")) == 3, "and every use is audited"
    assert exchange(client, issuer.github(AUDIENCE), login, PULL_PUSH).status_code == 200
    assert basic_login(client, login, issuer.github(AUDIENCE, ref="x"), PULL_PUSH).status_code == 401
