"""An OIDC person's credentials for registry clients, and the bound on what they keep.

docker cannot follow a browser, so a person signed in through the provider makes a personal
access token in the console and uses it as the password of ``docker login``.  Their groups come
from the provider and count for at most ``credential_cache_ttl``: after that the next request
asks the provider again through the refresh token (oidc.py ``standing``).  These tests move the
clock by moving ``groups_read_at`` back in the database -- the same thing the passing of time
does, without sleeping -- and change the person at the real provider (its admin API).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import update

from authsvc.core.policy import OPERATOR, CredentialKind, Principal
from authsvc.services.access import accounts, project_groups, projects
from authsvc.services.authn.passwords import hash_password
from authsvc.services.errors import Conflict
from authsvc.store.models import User, db
from tests.conftest import seed
from tests.support import oidc_flow as flow
from tests.support.console import csrf_token
from tests.support.http import actions, get_token
from tests.support.oidc_provider import running_provider
from tests.support.units import call

REPO = "team-pay/app"
SCOPE = f"repository:{REPO}:pull,push"


def _seeded(tmp_path, issuer: str, **settings):
    app = flow.oidc_app(tmp_path, issuer, **{"credential_cache_ttl": 60, **settings})
    with app.app_context():
        seed()
        call(projects.create_project, OPERATOR, "team-pay", public=False, owner="alice")
        call(project_groups.add_group_member, OPERATOR, "team-pay", "payments", "developer")
        call(project_groups.add_group_member, OPERATOR, "team-pay", "auditors", "guest")
    return app


@pytest.fixture
def app(tmp_path, oidc_provider):
    application = _seeded(tmp_path, oidc_provider.issuer)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


class Person:
    """A person of the provider, signed in to the console, with a personal access token."""

    def __init__(self, app, provider, **claims):
        self.app, self.provider = app, provider
        self.sub = provider.new_person(**claims)
        self.claims = {"preferred_username": self.sub, "email": f"{self.sub}@example.com",
                       "email_verified": True, **claims}
        self.console = app.test_client()
        assert flow.sign_in(self.console, provider, self.sub).status_code == 303
        self.name = self.sub
        with app.app_context():
            form = {"name": "laptop", "expires_in_days": "30",
                    "csrf_token": csrf_token(self.console.get("/account/tokens").get_data(as_text=True))}
            made = self.console.post("/account/tokens", data=form)
        assert made.status_code == 200, made.get_data(as_text=True)[-800:]
        self.token = re.search(r"asvc_pat_[A-Za-z0-9_-]+", made.get_data(as_text=True)).group(0)

    def registry(self, secret: str | None = None):
        """``docker login`` with the token (or ``secret``), then a pull/push token request."""
        with self.app.app_context():
            return get_token(self.app.test_client(), SCOPE, user=self.name,
                             password=self.token if secret is None else secret)

    def granted(self) -> list[str]:
        response = self.registry()
        assert response.status_code == 200, response.get_json()
        return sorted(actions(self.app, response, REPO))

    def regroup(self, groups: list[str]) -> None:
        self.provider.set_user(self.sub, **{**self.claims, "groups": groups})

    def age_groups(self, seconds: int = 61) -> None:
        """Time passes: the groups were read ``seconds`` ago."""
        read_at = flow.user_row(self.name).groups_read_at  # in Python: SQLite has no datetime arithmetic
        db.session.execute(update(User).where(User.name == self.name).values(
            groups_read_at=read_at - dt.timedelta(seconds=seconds)))
        db.session.commit()

    def console_open(self) -> bool:
        with self.app.app_context():
            return self.console.get("/projects").status_code == 200


def test_a_personal_token_gets_the_role_of_the_persons_group(app, oidc_provider):
    developer = Person(app, oidc_provider, groups=["Payments"])
    assert developer.granted() == ["pull", "push"]
    auditor = Person(app, oidc_provider, groups=["auditors"])
    assert auditor.granted() == ["pull"]
    outsider = Person(app, oidc_provider, groups=["ops"])
    assert outsider.granted() == []


def test_leaving_the_group_at_the_provider_loses_push_within_the_bound(app, oidc_provider):
    person = Person(app, oidc_provider, groups=["payments"])
    person.regroup(["auditors"])
    assert person.granted() == ["pull", "push"]  # inside credential_cache_ttl: the groups as read
    person.age_groups()
    assert person.granted() == ["pull"]  # past it: asked again through the refresh token
    row = flow.user_row(person.name)
    assert row.directory_groups == "auditors"
    assert row.groups_read_at > dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=30)
    person.regroup([])
    person.age_groups()
    assert person.granted() == []
    assert person.console_open()  # still a person of the provider, in no group


def test_leaving_the_allowed_groups_ends_every_credential(tmp_path, oidc_provider):
    app = _seeded(tmp_path, oidc_provider.issuer, oidc_allowed_groups="payments,auditors")
    with app.app_context():
        person = Person(app, oidc_provider, groups=["payments"])
        person.regroup(["ops"])
        person.age_groups()
        assert person.registry().status_code == 401
        assert flow.user_row(person.name).oidc_refresh_token is None
        assert not person.console_open()
        db.session.remove()
        db.engine.dispose()


def test_leaving_the_admin_group_ends_system_administration_within_the_bound(tmp_path, oidc_provider):
    app = _seeded(tmp_path, oidc_provider.issuer, oidc_admin_group="registry-admins")
    with app.app_context():
        person = Person(app, oidc_provider, groups=["registry-admins"])
        with app.app_context():
            assert person.console.get("/admin/users").status_code == 200
        person.regroup(["payments"])
        person.age_groups()
        with app.app_context():
            assert person.console.get("/admin/users").status_code == 404
        assert person.granted() == ["pull", "push"]  # what the group left them
        db.session.remove()
        db.engine.dispose()


def test_with_a_zero_bound_every_request_asks_the_provider(tmp_path, oidc_provider):
    app = _seeded(tmp_path, oidc_provider.issuer, credential_cache_ttl=0)
    with app.app_context():
        person = Person(app, oidc_provider, groups=["payments"])
        assert person.granted() == ["pull", "push"]
        person.regroup(["auditors"])
        assert person.granted() == ["pull"]
        db.session.remove()
        db.engine.dispose()


def test_a_person_the_provider_revoked_loses_tokens_and_sessions(app, oidc_provider):
    person = Person(app, oidc_provider, groups=["payments"])
    oidc_provider.revoke(person.sub)
    assert person.granted() == ["pull", "push"]  # within the bound nothing asks yet
    person.age_groups()
    refused = person.registry()
    assert refused.status_code == 401, refused.get_json()
    assert flow.user_row(person.name).oidc_refresh_token is None
    with app.app_context():
        assert person.console.get("/projects").status_code in (302, 303)
        assert "/login" in person.console.get("/projects").headers["Location"]
    assert person.registry().status_code == 401  # and it stays so: nothing left to ask with
    # Signing in through the provider again is the way back.
    with app.app_context():
        assert flow.sign_in(app.test_client(), oidc_provider, person.sub).status_code == 303
    assert flow.user_row(person.name).oidc_refresh_token


def test_deactivated_in_authsvc_everything_is_refused_at_the_next_request(app, oidc_provider):
    person = Person(app, oidc_provider, groups=["payments"])
    assert person.granted() == ["pull", "push"]
    call(accounts.update_user, OPERATOR, person.name, is_active=False)
    assert person.registry().status_code == 401  # groups are fresh: no provider needed to refuse
    assert not person.console_open()
    with app.app_context():
        again = app.test_client()
        flow.assert_refused(again, flow.sign_in(again, oidc_provider, person.sub), "deactivated")


def test_the_provider_down_fresh_groups_work_a_due_recheck_is_503(tmp_path):
    (tmp_path / "op").mkdir()
    with running_provider(tmp_path / "op") as provider:
        app = _seeded(tmp_path, provider.issuer, oidc_timeout=2.0)
        with app.app_context():
            person = Person(app, provider, groups=["payments"])
            provider.process.terminate()
            provider.process.wait(timeout=10)
            assert person.granted() == ["pull", "push"]  # fresh: the provider is not asked
            assert person.console_open()
            person.age_groups()
            down = person.registry()
            assert down.status_code == 503, down.get_json()
            assert down.get_json()["errors"][0]["code"] == "UNAVAILABLE"
            assert flow.user_row(person.name).oidc_refresh_token  # unavailable is not refused
            with app.app_context():
                page = person.console.get("/projects")
            assert page.status_code == 503, page.status_code  # the console says so too: no 500
            with app.app_context():
                assert get_token(app.test_client(), SCOPE, user="bob").status_code == 200
            db.session.remove()
            db.engine.dispose()


# -- no password for a person of the provider ----------------------------------------------------


@pytest.mark.parametrize("secret", ["anything", "!oidc", ""])
def test_an_oidc_person_has_no_password_at_the_token_endpoint(app, oidc_provider, secret):
    person = Person(app, oidc_provider, groups=["payments"])
    response = person.registry(secret)
    assert response.status_code == 401, response.get_json()


def test_no_one_can_give_an_oidc_person_a_password(app, oidc_provider):
    person = Person(app, oidc_provider, groups=["payments"])
    root = Principal("root", True, credential=CredentialKind.PASSWORD)
    for actor in (OPERATOR, root):
        with pytest.raises(Conflict, match="signs in through the identity provider"):
            call(accounts.set_password, actor, person.name, "a-new-password-1")
    assert flow.user_row(person.name).password_hash == "!oidc"
    assert person.registry("a-new-password-1").status_code == 401


def test_a_password_hash_on_an_oidc_row_is_never_checked(app, oidc_provider):
    """Defence in depth: a row written before the refusal above (or restored from a backup) with a
    real hash still takes no password."""
    person = Person(app, oidc_provider, groups=["payments"])
    db.session.execute(update(User).where(User.name == person.name).values(
        password_hash=hash_password("a-new-password-1", 4)))
    db.session.commit()
    assert person.registry("a-new-password-1").status_code == 401


def test_a_local_account_cannot_take_an_oidc_persons_name(app, oidc_provider):
    person = Person(app, oidc_provider)
    with pytest.raises(Conflict, match="signs in through the identity provider"):
        call(accounts.create_user, OPERATOR, person.name, "a-new-password-1")
