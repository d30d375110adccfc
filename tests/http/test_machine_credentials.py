"""Robot accounts and personal access tokens at the token endpoint and in the service layer."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from authsvc.core.policy import OPERATOR, CredentialKind, Principal
from authsvc.services.access import accounts, projects
from authsvc.services.credentials import personal_tokens, pull_secrets, robots
from authsvc.services.errors import Conflict, Forbidden, Invalid, NotFound
from authsvc.store.models import utcnow
from tests.support.http import actions, basic, claims_of, get_token
from tests.support.units import call, flush_grants

# As they are after logging in with their passwords (what may create credentials).
ALICE = Principal("alice", credential=CredentialKind.PASSWORD)  # Project Admin of pub and priv (seeded)
BOB = Principal("bob", credential=CredentialKind.PASSWORD)      # developer


def robot(project="priv", name="ci", acts="pull,push", expires_at=None, actor=ALICE):
    return call(robots.create, actor, project, name, actions=acts, expires_at=expires_at,
                never_expires=expires_at is None)


def test_robot_login_gets_its_scope_and_names_itself(app, client, seeded):
    created = robot()
    response = get_token(client, "repository:priv/app:pull,push,delete", "repository:pub/x:pull,push",
                         user=created.login, password=created.secret)
    claims = claims_of(app, response)
    assert claims["sub"] == "robot.priv.ci"
    assert actions(app, response, "priv/app") == ["pull", "push"]
    assert actions(app, response, "pub/x") == ["pull"]  # public: what anyone gets, no push


def test_robot_refused_when_wrong_disabled_expired_rekeyed_or_deleted(app, client, seeded):
    created = robot(expires_at=utcnow() + dt.timedelta(days=1))
    assert get_token(client, user=created.login, password=created.secret).status_code == 200
    assert get_token(client, user=created.login, password=created.secret + "x").status_code == 401
    assert get_token(client, user="robot.priv.nobody", password=created.secret).status_code == 401
    call(robots.set_disabled, ALICE, "priv", "ci", True)
    assert get_token(client, user=created.login, password=created.secret).status_code == 401
    call(robots.set_disabled, ALICE, "priv", "ci", False)
    rekeyed = call(robots.rekey, ALICE, "priv", "ci")
    assert get_token(client, user=created.login, password=created.secret).status_code == 401
    assert get_token(client, user=created.login, password=rekeyed.secret).status_code == 200
    row = call(robots.get, ALICE, "priv", "ci")
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    from authsvc.store.models import db
    db.session.commit()
    assert get_token(client, user=created.login, password=rekeyed.secret).status_code == 401
    call(robots.delete, ALICE, "priv", "ci")
    assert get_token(client, user=created.login, password=rekeyed.secret).status_code == 401


def test_robots_get_no_refresh_token_and_via_password_grant(app, client, seeded):
    created = robot(acts="pull")
    login = get_token(client, user=created.login, password=created.secret, offline_token="true")
    assert "refresh_token" not in login.get_json()
    form = {"grant_type": "password", "username": created.login, "password": created.secret,
            "client_id": "containerd-client", "scope": "repository:priv/app:pull,push", "service": "registry"}
    assert actions(app, client.post("/token", data=form), "priv/app") == ["pull"]


def test_only_project_admins_manage_robots(seeded):
    with pytest.raises(Forbidden):
        robot(actor=BOB)
    with pytest.raises(NotFound):  # a private project stays invisible to non-members
        robot(actor=Principal("erin"))
    robot(actor=OPERATOR)
    with pytest.raises(Conflict):
        robot(actor=OPERATOR)
    for bad in ("Bad", "a.b", "x" * 41):
        with pytest.raises(Invalid):
            robot(name=bad)
    for bad in ("admin", "", "pull,manage_members"):
        with pytest.raises(Invalid):
            robot(name="other", acts=bad)
    with pytest.raises(Invalid):
        robot(name="past", expires_at=utcnow() - dt.timedelta(days=1))


def test_personal_token_is_a_password_until_revoked_expired_or_password_change(app, client, seeded):
    created = call(personal_tokens.create, BOB, "bob", "laptop", expires_in=dt.timedelta(days=30))
    assert created.token.startswith("asvc_pat_")
    response = get_token(client, "repository:priv/app:pull,push", user="bob", password=created.token,
                         offline_token="true")
    assert claims_of(app, response)["sub"] == "bob" and actions(app, response, "priv/app") == ["pull", "push"]
    assert "refresh_token" not in response.get_json()
    assert personal_tokens.token_summary(call(personal_tokens.list_tokens, BOB, "bob")[0])["last_used_at"]
    assert get_token(client, user="carol", password=created.token).status_code == 401  # not carol's
    call(personal_tokens.revoke, BOB, "bob", "laptop")
    assert get_token(client, user="bob", password=created.token).status_code == 401
    again = call(personal_tokens.create, BOB, "bob", "laptop", expires_in=dt.timedelta(days=30))
    call(accounts.set_password, OPERATOR, "bob", "brand-new-pass-1")
    assert get_token(client, user="bob", password=again.token).status_code == 401


def test_personal_tokens_belong_to_their_user(seeded):
    with pytest.raises(Forbidden):
        call(personal_tokens.create, BOB, "carol", "x", expires_in=dt.timedelta(days=1))
    with pytest.raises(Invalid):
        call(personal_tokens.create, BOB, "bob", "forever", expires_in=dt.timedelta(days=400))
    call(personal_tokens.create, OPERATOR, "carol", "ci", expires_in=dt.timedelta(days=1))
    with pytest.raises(Conflict):
        call(personal_tokens.create, Principal("carol", credential=CredentialKind.PASSWORD), "carol", "ci", expires_in=dt.timedelta(days=1))


def test_api_accepts_personal_tokens(client, seeded):
    created = call(personal_tokens.create, BOB, "bob", "api", expires_in=dt.timedelta(days=1))
    response = client.get("/api/v1/users/current", headers=basic("bob", created.token))
    assert response.status_code == 200 and response.get_json()["name"] == "bob"


def test_pull_secret_manifest_holds_a_working_robot(app, client, seeded):
    secret = call(pull_secrets.issue, ALICE, "priv", namespace="prod", registry_host="reg.example:5000", never_expires=True,
                                create_robot=True)
    assert secret.login == "robot.priv.pull-prod"
    auth = secret.dockerconfigjson["auths"]["reg.example:5000"]
    assert base64.b64decode(auth["auth"]).decode() == f"{auth['username']}:{auth['password']}"
    lines = secret.manifest.splitlines()
    assert "type: kubernetes.io/dockerconfigjson" in lines and "  namespace: prod" in lines
    encoded = next(line for line in lines if ".dockerconfigjson:" in line).split(": ", 1)[1]
    assert json.loads(base64.b64decode(encoded)) == secret.dockerconfigjson
    response = get_token(client, "repository:priv/app:pull,push", user=auth["username"], password=auth["password"])
    assert actions(app, response, "priv/app") == ["pull"]
    with pytest.raises(Invalid):
        call(pull_secrets.issue, ALICE, "priv", namespace="Prod!", registry_host="r", create_robot=True)
    with pytest.raises(Invalid):
        call(pull_secrets.issue, ALICE, "priv", namespace="prod", registry_host="", robot="pull-prod")


@pytest.mark.parametrize("namespace, robot_name", [
    ("prod", "pull-prod"), ("team--a", "pull-team-a"),
    ("team-alpha-production-eu-west-1-cluster-a", None), ("team-alpha-production-eu-west-1-cluster-b", None),
])
def test_default_pull_robot_names_are_valid_and_distinct(namespace, robot_name):
    from authsvc.core.names import check_robot_name
    name = pull_secrets.default_robot_name(namespace)
    assert check_robot_name(name) == name
    if robot_name:
        assert name == robot_name
    other = pull_secrets.default_robot_name(namespace[:-1] + "z")
    assert other != name


def test_long_project_names_get_a_valid_default_secret_name(app, seeded):
    long_name = "a" * 62
    call(projects.create_project, OPERATOR, long_name, public=False, owner="alice")
    secret = call(pull_secrets.issue, ALICE, long_name, namespace="prod", registry_host="r:5000", create_robot=True,
                  never_expires=True)
    assert f"  name: {long_name}-pull" in secret.manifest.splitlines()


def test_passwords_cannot_look_like_personal_tokens(seeded):
    with pytest.raises(Invalid, match="asvc_pat_"):
        call(accounts.set_password, OPERATOR, "bob", "asvc_pat_my-long-password")


def test_the_longest_robot_login_is_recorded_whole(app, client, seeded):
    from authsvc.services import audit
    project = "p" * 64
    call(projects.create_project, OPERATOR, project, public=False, owner="alice")
    created = robot(project=project, name="r" * 40, acts="pull")
    assert len(created.login) == 111
    assert get_token(client, f"repository:{project}/app:pull", user=created.login,
                     password=created.secret).status_code == 200
    flush_grants()
    grant = next(e for e in call(audit.list_events, OPERATOR) if e.action == "token.grant")
    assert grant.actor == created.login
