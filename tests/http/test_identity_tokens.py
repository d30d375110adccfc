"""Identity tokens acting as robots at /token: what a matching token gets, and every mismatch refused.

The tokens are signed by the real issuer process (tests/support/token_issuer.py), its keys
fetched over HTTP by the app; the registry token is verified as a registry would (claims_of).
"""

from __future__ import annotations

import datetime as dt

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.access import projects
from authsvc.services.credentials import robots
from authsvc.services.credentials import trust as trust_service
from authsvc.store.models import RobotTrustPolicy, db, utcnow
from tests.support.http import actions, claims_of
from tests.support.keyless import (
    ALICE,
    AUDIENCE,
    PULL_PUSH,
    basic_login,
    exchange,
    issuer_fixture,
    keyless_robot,
    later,
    robot,
    trust,
    trust_issuer,
)
from tests.support.units import call

issuer = issuer_fixture("module")
MAIN = "sub=repo:acme/app:ref:refs/heads/main"


def _granted(app, response, name="priv/app"):
    assert response.status_code == 200, response.get_json()
    return actions(app, response, name)


@pytest.mark.parametrize("how", ["basic", "exchange"])
def test_matching_github_token_gets_pull_push_capped_by_its_exp_and_no_refresh_token(app, client, seeded, issuer,
                                                                                       how):
    login = keyless_robot(issuer, MAIN)
    token = issuer.github(AUDIENCE, lifetime=120)
    exp = issuer.claims(AUDIENCE, lifetime=120)["exp"]
    if how == "basic":
        response = basic_login(client, login, token, PULL_PUSH, offline_token="true", client_id="docker")
    else:
        response = exchange(client, token, login, PULL_PUSH, access_type="offline")
    claims = claims_of(app, response)
    assert claims["sub"] == login
    assert claims["access"] == [{"type": "repository", "name": "priv/app", "actions": ["pull", "push"]}]
    assert claims["exp"] <= exp and claims["exp"] - claims["iat"] <= 120
    body = response.get_json()
    assert "refresh_token" not in body, "no refresh token ever outlives an identity token"
    assert body["expires_in"] <= 120
    if how == "exchange":
        assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
        assert body["token_type"] == "Bearer"


@pytest.mark.parametrize(("token_of", "why"), [
    (lambda i: i.github(AUDIENCE, repository="acme/other"), "another repository"),
    (lambda i: i.github(AUDIENCE, repository="evil/app"), "another owner"),
    (lambda i: i.github(AUDIENCE, ref="refs/heads/dev"), "another branch"),
    (lambda i: i.github(AUDIENCE, ref="refs/tags/v1"), "a tag"),
    (lambda i: i.github("https://elsewhere.example"), "another audience"),
    (lambda i: i.github(AUDIENCE, lifetime=-1), "expired"),
    (lambda i: i.github(AUDIENCE, lifetime=-120), "expired beyond the leeway"),
])
@pytest.mark.parametrize("how", ["basic", "exchange"])
def test_mismatching_tokens_are_refused(app, client, seeded, issuer, token_of, why, how):
    login = keyless_robot(issuer, MAIN)
    assert _granted(app, basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH)) == ["pull", "push"]
    token = token_of(issuer)
    response = basic_login(client, login, token, PULL_PUSH) if how == "basic" else exchange(client, token, login)
    assert response.status_code == 401, why
    assert response.get_json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_environment_condition(app, client, seeded, issuer):
    login = keyless_robot(issuer, "repository=acme/app", "environment=prod")
    assert _granted(app, basic_login(client, login, issuer.github(AUDIENCE, environment="prod"), PULL_PUSH)) == [
        "pull", "push"]
    assert basic_login(client, login, issuer.github(AUDIENCE, environment="staging"), PULL_PUSH).status_code == 401
    assert basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH).status_code == 401, "no environment"


def test_release_branch_glob(app, client, seeded, issuer):
    login = keyless_robot(issuer, "repository=acme/app", "ref=refs/heads/release-*")
    assert _granted(app, basic_login(client, login, issuer.github(AUDIENCE, ref="refs/heads/release-2"),
                                     PULL_PUSH)) == ["pull", "push"]
    assert basic_login(client, login, issuer.github(AUDIENCE, ref="refs/heads/main"), PULL_PUSH).status_code == 401


def test_times_and_their_leeway(app, client, seeded, issuer):
    login = keyless_robot(issuer, MAIN)
    base = issuer.claims(AUDIENCE, sub="repo:acme/app:ref:refs/heads/main")
    ok = issuer.sign({**base, "nbf": base["iat"] + 30, "iat": base["iat"] + 30})  # a clock 30 s ahead: leeway
    assert basic_login(client, login, ok, PULL_PUSH).status_code == 200
    for bad in ({"nbf": base["iat"] + 300}, {"iat": base["iat"] + 300}, {"exp": None}, {"sub": None},
                {"exp": str(base["exp"])}, {"sub": 7}, {"iss": None}):
        claims = {k: v for k, v in {**base, **bad}.items() if v is not None}
        assert basic_login(client, login, issuer.sign(claims), PULL_PUSH).status_code == 401, bad


def test_only_the_robots_project_and_never_more_than_its_actions(app, client, seeded, issuer):
    call(projects.create_project, OPERATOR, "other", public=False, owner="alice")
    trust_issuer(issuer)
    login = robot("priv", "puller", acts="pull").login
    trust("priv", "puller", "ci", MAIN)
    response = basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH, "repository:other/app:pull,push",
                           "repository:pub/app:pull,push")
    assert _granted(app, response) == ["pull"], "a pull-only robot never gets push"
    assert actions(app, response, "other/app") == [], "another private project: nothing"
    assert actions(app, response, "pub/app") == ["pull"], "a public one: what anyone gets"


def test_a_token_trusted_by_one_projects_robot_cannot_name_another_projects_robot(app, client, seeded, issuer):
    login = keyless_robot(issuer, MAIN)
    call(projects.create_project, OPERATOR, "other", public=False, owner="alice")
    other = robot("other", "ci").login  # no policy
    token = issuer.github(AUDIENCE)
    assert basic_login(client, login, token, PULL_PUSH).status_code == 200
    assert basic_login(client, other, token, "repository:other/app:pull").status_code == 401
    assert exchange(client, token, other, "repository:other/app:pull").status_code == 401


def _expire(name: str) -> None:
    row = call(robots.get, ALICE, "priv", name)
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()


def test_robot_disabled_expired_or_deleted_is_refused(app, client, seeded, issuer):
    trust_issuer(issuer)
    login = robot("priv", "ci", expires_at=later(days=1)).login
    trust("priv", "ci", "ci", MAIN)
    token = issuer.github(AUDIENCE)
    assert basic_login(client, login, token, PULL_PUSH).status_code == 200
    call(robots.set_disabled, ALICE, "priv", "ci", True)
    assert basic_login(client, login, token, PULL_PUSH).status_code == 401
    assert exchange(client, token, login).status_code == 401
    call(robots.set_disabled, ALICE, "priv", "ci", False)
    assert basic_login(client, login, token, PULL_PUSH).status_code == 200
    _expire("ci")
    assert basic_login(client, login, token, PULL_PUSH).status_code == 401
    call(robots.delete, ALICE, "priv", "ci")
    assert basic_login(client, login, token, PULL_PUSH).status_code == 401
    assert db.session.query(RobotTrustPolicy).count() == 0, "its policies went with it"


def test_policy_removed_the_next_request_is_refused(app, client, seeded, issuer):
    login = keyless_robot(issuer, MAIN)
    token = issuer.github(AUDIENCE)
    assert basic_login(client, login, token, PULL_PUSH).status_code == 200
    (policy,) = call(trust_service.list_policies, ALICE, "priv", "ci")
    call(trust_service.remove_policy, ALICE, "priv", "ci", policy.id)
    assert basic_login(client, login, token, PULL_PUSH).status_code == 401
    assert exchange(client, token, login, PULL_PUSH).status_code == 401


def test_any_one_of_several_policies_lets_in(app, client, seeded, issuer):
    login = keyless_robot(issuer, MAIN)
    trust("priv", "ci", "ci", "repository=acme/app", "ref=refs/heads/release-*")
    assert basic_login(client, login, issuer.github(AUDIENCE, ref="refs/heads/release-1"), PULL_PUSH).status_code \
        == 200
    assert basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH).status_code == 200
    assert basic_login(client, login, issuer.github(AUDIENCE, ref="refs/heads/dev"), PULL_PUSH).status_code == 401


def test_a_policy_for_another_issuer_does_not_let_this_one_in(app, client, seeded, issuer, tmp_path_factory):
    from tests.support.token_issuer import running_issuer

    with running_issuer(tmp_path_factory.mktemp("second")) as second:
        trust_issuer(issuer, "first")
        trust_issuer(second, "second")
        login = robot().login
        trust("priv", "ci", "second", MAIN)
        assert basic_login(client, login, second.github(AUDIENCE), PULL_PUSH).status_code == 200
        assert basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH).status_code == 401


def test_gitlab_token_with_project_path_and_ref(app, client, seeded, issuer):
    login = keyless_robot(issuer, "project_path=acme/*", "ref=main")
    assert _granted(app, basic_login(client, login, issuer.gitlab(AUDIENCE, project_path="acme/app"),
                                     PULL_PUSH)) == ["pull", "push"]
    assert _granted(app, exchange(client, issuer.gitlab(AUDIENCE, project_path="acme/sub/tool"), login,
                                  PULL_PUSH)) == ["pull", "push"]
    assert basic_login(client, login, issuer.gitlab(AUDIENCE, project_path="evil/app"), PULL_PUSH).status_code == 401
    assert basic_login(client, login, issuer.gitlab(AUDIENCE, ref="dev"), PULL_PUSH).status_code == 401


def test_kubernetes_token_with_nested_claims(app, client, seeded, issuer):
    login = keyless_robot(issuer, "kubernetes.io/namespace=ci", "kubernetes.io/serviceaccount/name=builder",
                          acts="pull")
    assert _granted(app, exchange(client, issuer.kubernetes(AUDIENCE), login, PULL_PUSH)) == ["pull"]
    assert exchange(client, issuer.kubernetes(AUDIENCE, namespace="prod"), login, PULL_PUSH).status_code == 401
    assert exchange(client, issuer.kubernetes(AUDIENCE, service_account="other"), login).status_code == 401
    # the same name at the top level is not the nested claim
    flat = issuer.sign(issuer.claims(AUDIENCE, sub="x", namespace="ci", serviceaccount={"name": "builder"}))
    assert exchange(client, flat, login).status_code == 401


def test_last_use_of_a_policy_is_kept(app, client, seeded, issuer):
    login = keyless_robot(issuer, MAIN)
    (before,) = call(trust_service.list_policies, ALICE, "priv", "ci")
    assert before.last_used_at is None
    assert basic_login(client, login, issuer.github(AUDIENCE), PULL_PUSH).status_code == 200
    (after,) = call(trust_service.list_policies, ALICE, "priv", "ci")
    assert after.last_used_at is not None
