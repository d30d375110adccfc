"""An identical decision within token_reuse_seconds gets the token already signed for it; any
change -- rights, the caller, the account's state -- is decided anew at the next request."""

from __future__ import annotations

from authsvc.core.policy import OPERATOR
from authsvc.services.access import accounts, projects
from tests.conftest import make_app, seed
from tests.support.http import claims_of, get_token
from tests.support.units import call

SCOPE = "repository:priv/app:pull,push"


def test_the_same_decision_reuses_the_token_with_its_own_expiry(app, client, seeded):
    first, second = get_token(client, SCOPE, user="bob"), get_token(client, SCOPE, user="bob")
    assert first.get_json()["token"] == second.get_json()["token"]
    assert second.get_json()["issued_at"] == first.get_json()["issued_at"]
    claims = claims_of(app, second)
    assert 300 - 5 <= second.get_json()["expires_in"] <= claims["exp"] - claims["iat"] == 300


def test_another_caller_or_another_grant_is_another_token(app, client, seeded):
    bob, dave = get_token(client, SCOPE, user="bob"), get_token(client, SCOPE, user="dave")
    assert bob.get_json()["token"] != dave.get_json()["token"]
    pull_only = get_token(client, "repository:priv/app:pull", user="bob")
    assert pull_only.get_json()["token"] != bob.get_json()["token"]


def test_a_change_of_rights_is_decided_at_the_next_request(app, client, seeded):
    before = get_token(client, SCOPE, user="bob")
    call(projects.set_role, OPERATOR, "priv", "bob", "guest")
    after = get_token(client, SCOPE, user="bob")
    assert after.get_json()["token"] != before.get_json()["token"]
    assert claims_of(app, after)["access"] == [{"type": "repository", "name": "priv/app", "actions": ["pull"]}]


def test_a_deactivated_account_gets_nothing_although_its_token_was_just_signed(app, client, seeded):
    assert get_token(client, SCOPE, user="bob").status_code == 200
    call(accounts.update_user, OPERATOR, "bob", is_active=False)
    assert get_token(client, SCOPE, user="bob").status_code == 401


def test_reuse_can_be_turned_off(tmp_path):
    app = make_app(tmp_path, token_reuse_seconds=0)
    with app.app_context():
        seed()
        client = app.test_client()
        first, second = get_token(client, SCOPE, user="bob"), get_token(client, SCOPE, user="bob")
        assert claims_of(app, first)["jti"] != claims_of(app, second)["jti"]
