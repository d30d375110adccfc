"""Console sign-in through a real OpenID provider process (oidc-provider-mock on loopback).

The good path -- provisioning bound to the provider's ``iss`` + ``sub``, groups as project group
members, the admin group -- and the hostile returns to the callback that concern the protocol's
own safeguards: a replayed, missing or foreign ``state``, a code used twice, the provider's
refusal, the provider down or gone between the start and the return.  Each refusal must be the
sign-in page (401, or 503 for an unavailable provider) with a message, audited as
``login.failure``, and never a session that opens ``/projects``.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.access import project_groups, projects
from authsvc.store.models import OidcLogin, User, db
from tests.conftest import seed
from tests.e2e.processes import free_port
from tests.support import oidc_flow as flow
from tests.support.console import sign_in as password_sign_in
from tests.support.oidc_provider import running_provider
from tests.support.units import call


@pytest.fixture
def op(oidc_provider):
    return oidc_provider


@pytest.fixture
def app(tmp_path, op):
    application = flow.oidc_app(tmp_path, op.issuer, oidc_groups_prefix="oidc:",
                                oidc_admin_group="oidc:registry-admins", oidc_provider_name="Example SSO")
    with application.app_context():
        seed()
        yield application
        db.session.remove()
        db.engine.dispose()


def _project_links(client) -> set[str]:
    page = client.get("/projects")
    assert page.status_code == 200
    return set(re.findall(r'href="/projects/([a-z0-9._-]+)"', page.get_data(as_text=True))) - {"new"}


def test_first_sign_in_provisions_an_oidc_account_bound_to_iss_and_sub(app, op):
    sub = op.new_person(preferred_username="Frida", name="Frida Kahlo", email="Frida@Example.COM",
                        groups=["Payments", "Ops-Team"])
    client = app.test_client()
    done = flow.sign_in(client, op, sub)
    assert done.status_code == 303 and done.headers["Location"].endswith("/projects")
    user = flow.user_row("frida")
    assert user.source == "oidc"
    assert user.oidc_subject == f"{op.issuer} {sub}"
    assert user.directory_groups.split("\n") == ["oidc:ops-team", "oidc:payments"]
    assert (user.email, user.display_name) == ("frida@example.com", "Frida Kahlo")
    assert user.oidc_refresh_token and not user.is_admin
    assert user.password_hash == "!oidc"  # no password scheme: no password can ever match
    assert client.get("/projects").status_code == 200
    assert db.session.query(OidcLogin).count() == 0  # the pending sign-in was used up


def test_a_renamed_person_keeps_their_account_found_by_subject(app, op):
    sub = op.new_person(preferred_username="gustav", groups=["payments"])
    assert flow.sign_in(app.test_client(), op, sub).status_code == 303
    op.set_user(sub, preferred_username="gus", email=f"{sub}@example.com", email_verified=True,
                groups=["ops"])
    again = app.test_client()
    assert flow.sign_in(again, op, sub).status_code == 303
    assert flow.user_row("gus") is None
    user = flow.user_row("gustav")
    assert user.directory_groups == "oidc:ops"  # the groups follow the provider; the name stays
    assert db.session.query(User).filter(User.source == "oidc").count() == 1
    assert again.get("/account").status_code == 200


def test_the_person_sees_exactly_the_projects_of_their_groups(app, op):
    for name in ("team-pay", "team-ops"):
        call(projects.create_project, OPERATOR, name, public=False, owner="alice")
    call(project_groups.add_group_member, OPERATOR, "team-pay", "oidc:payments", "developer")
    call(project_groups.add_group_member, OPERATOR, "team-ops", "ops", "developer")  # a directory group's name
    sub = op.new_person(groups=["Payments", "ops"])
    client = app.test_client()
    assert flow.sign_in(client, op, sub).status_code == 303
    # The public project, and the private one their provider group is a member of: nothing else --
    # not 'team-ops', whose member is the unprefixed 'ops' (a directory group, not theirs).
    assert _project_links(client) == {"pub", "team-pay"}
    assert client.get("/projects/team-pay").status_code == 200
    assert client.get("/projects/team-ops").status_code == 404
    assert client.get("/projects/priv").status_code == 404


def test_the_admin_group_makes_a_system_administrator(app, op):
    admin, other = op.new_person(groups=["Registry-Admins"]), op.new_person(groups=["payments"])
    browser = app.test_client()
    assert flow.sign_in(browser, op, admin).status_code == 303
    assert browser.get("/admin/users").status_code == 200
    plain = app.test_client()
    assert flow.sign_in(plain, op, other).status_code == 303
    assert plain.get("/admin/users").status_code == 404  # the console hides what a person may not see
    assert not flow.user_row(admin).is_admin  # held through the group, not stored on the account


def test_the_login_page_offers_the_provider(app):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert 'href="/login/oidc"' in page and "Sign in with Example SSO" in page


def test_next_path_survives_the_round_trip(app, op):
    client = app.test_client()
    url = op.authorize(flow.start(client, "/account/tokens"), op.new_person())
    assert flow.back(client, url).headers["Location"].endswith("/account/tokens")


# -- the protocol's safeguards --------------------------------------------------------------


def test_a_replayed_state_is_refused(app, op):
    client = app.test_client()
    url = op.authorize(flow.start(client), op.new_person())
    assert flow.back(client, url).status_code == 303
    flow.sign_out(client)  # even signed out again, the same return works only once
    flow.assert_refused(client, flow.back(client, url), "expired or was already used")
    assert flow.failures("state")


def test_the_same_callback_twice_in_one_browser_is_refused(app, op):
    client = app.test_client()
    url = op.authorize(flow.start(client), op.new_person())
    fresh = flow.clone(app, client)  # the cookie as it was, pending sign-in and all
    assert flow.back(client, url).status_code == 303
    flow.assert_refused(fresh, flow.back(fresh, url), "expired or was already used")


def test_a_missing_state_is_refused(app, op):
    client = app.test_client()
    url = op.authorize(flow.start(client), op.new_person())
    flow.assert_refused(client, flow.back(client, flow.with_query(url, state=None)), "Sign in again")
    assert len(flow.failures("state")) == 1


def test_a_state_from_another_browser_is_refused(app, op):
    """Login CSRF: a victim's browser brought the attacker's code and state."""
    attacker, victim = app.test_client(), app.test_client()
    url = op.authorize(flow.start(attacker), op.new_person())
    flow.start(victim)  # the victim has a sign-in of their own pending: still not this one
    flow.assert_refused(victim, flow.back(victim, url), "Sign in again")
    assert flow.failures("state")


def test_an_authorization_code_used_twice_is_refused(app, op):
    """The first return signed in; a new sign-in in the same browser then brings the old code
    with the new, valid state: the provider refuses the code, and so do we."""
    client = app.test_client()
    sub = op.new_person()
    first = op.authorize(flow.start(client), sub)
    assert flow.back(client, first).status_code == 303
    flow.sign_out(client)
    fresh = flow.query_of(op.authorize(flow.start(client), sub))
    replay = flow.with_query(first, state=fresh["state"])
    flow.assert_refused(client, flow.back(client, replay), "did not sign you in")
    assert flow.failures("authorization_code")


def test_the_provider_refusing_is_a_clear_page(app, op):
    """The provider's *Deny* button.  oidc-provider-mock leaves ``state`` out of its error
    redirect (RFC 6749 4.1.2.1 says to echo it), so that return is refused as a stateless one;
    with the state a conforming provider echoes, the refusal names the provider."""
    client = app.test_client()
    url = flow.deny(flow.start(client))
    assert "error=access_denied" in url
    flow.assert_refused(client, flow.back(client, url))
    authorization = flow.start(client)
    echoed = flow.with_query(flow.deny(authorization), state=flow.query_of(authorization)["state"])
    flow.assert_refused(client, flow.back(client, echoed), "Example SSO did not sign you in")
    assert flow.failures("access_denied")


# -- the provider down or gone ---------------------------------------------------------------


def test_a_provider_nobody_listens_on_is_a_503_page_and_passwords_still_work(tmp_path):
    app = flow.oidc_app(tmp_path, f"http://127.0.0.1:{free_port()}", oidc_timeout=2.0)
    with app.app_context():
        seed()
        client = app.test_client()
        response = client.get("/login/oidc")
        assert response.status_code == 503
        assert response.headers["Retry-After"].isdigit()
        assert "unavailable" in response.get_data(as_text=True)
        assert client.get("/projects").status_code in (302, 303)
        assert password_sign_in(client, "bob").status_code == 303
        assert client.get("/projects").status_code == 200
        db.session.remove()
        db.engine.dispose()


def test_a_provider_that_stops_before_the_return_is_a_503_page_and_no_session(tmp_path):
    (tmp_path / "op").mkdir()
    with running_provider(tmp_path / "op") as gone:
        app = flow.oidc_app(tmp_path, gone.issuer, oidc_timeout=2.0)
        with app.app_context():
            seed()
            client = app.test_client()
            url = gone.authorize(flow.start(client), gone.new_person())
            gone.process.terminate()
            gone.process.wait(timeout=10)
            response = flow.back(client, url)
            assert response.status_code == 503, response.get_data(as_text=True)[:300]
            assert response.headers["Retry-After"].isdigit()
            assert "unavailable" in response.get_data(as_text=True)
            assert client.get("/projects").status_code in (302, 303)
            assert password_sign_in(client, "alice").status_code == 303
            db.session.remove()
            db.engine.dispose()


def test_a_provider_that_never_answers_is_a_503_page_within_the_timeout(tmp_path):
    """Slow, not down: the port accepts connections (the kernel's backlog) but nothing answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        app = flow.oidc_app(tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}", oidc_timeout=0.5)
        with app.app_context():
            seed()
            began = time.monotonic()
            response = app.test_client().get("/login/oidc")
            assert response.status_code == 503 and "unavailable" in response.get_data(as_text=True)
            assert time.monotonic() - began < 5  # the timeout bounds it, not the OS's
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("query", [{"state": "x" * 5000, "code": "c"}, {"state": "\x00", "code": "\x00"},
                                   {"state": "%ff%fe", "code": "y" * 5000}, {"code": "c", "error": "e" * 500},
                                   {}],
                         ids=["long-state", "nul", "bad-escapes", "long-error", "nothing"])
def test_junk_at_the_callback_is_a_refusal_never_a_500(app, op, query):
    client = app.test_client()
    flow.start(client)
    flow.assert_refused(client, client.get("/login/oidc/callback", query_string=query))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_next_cannot_leave_the_console(app, op, target):
    client = app.test_client()
    url = op.authorize(flow.start(client, target), op.new_person())
    location = flow.back(client, url).headers["Location"]
    assert location == "/projects" or location.startswith("/") and not location.startswith("//")
    assert "evil" not in location

