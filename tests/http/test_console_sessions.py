"""Console sessions: signing in and out, the one answer to every failed sign-in, the throttle shared
with /token, sessions ended by the account's changes and by time (an injected clock), the
cookie's flags, and ``next`` never leaving the site."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.access import accounts
from authsvc.services.credentials import personal_tokens, robots
from authsvc.store.models import AuditEvent, db
from tests.http.conftest import served
from tests.support.console import Browser, advance, csrf_token, sign_in
from tests.support.http import basic
from tests.support.units import call


@pytest.fixture
def console(tmp_path):
    with served(tmp_path, throttle_base_delay=120) as application:
        yield application


def test_the_start_page_sends_people_where_they_belong(console):
    anonymous = console.test_client()
    assert anonymous.get("/").headers["Location"] == "/login"
    assert anonymous.get("/projects/pub/members").headers["Location"] == "/login?next=/projects/pub/members"
    assert Browser(console, "bob").get("/").headers["Location"] == "/projects"


def test_signing_in_and_out(console):
    client = console.test_client()
    response = sign_in(client, "bob", next="/projects/priv")
    assert response.status_code == 303 and response.headers["Location"] == "/projects/priv"
    page = client.get("/projects").get_data(as_text=True)
    assert "Sign out" in page and ">bob<" in page
    token = csrf_token(page)
    assert client.post("/logout", data={"csrf_token": token}).headers["Location"] == "/login"
    assert client.get("/projects").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "http:/evil", "/ok\r\nSet-Cookie: x=y", "evil.example"])
def test_next_never_leaves_the_site(console, target):
    client = console.test_client()
    response = sign_in(client, "bob", next=target)
    assert response.status_code == 303 and response.headers["Location"] == "/projects"


def _failure_page(response) -> str:
    """The page without what legitimately differs per request (the CSRF token, the typed name)."""
    text = re.sub(r'value="[^"]*"', 'value=""', response.get_data(as_text=True))
    return text


def test_unknown_user_and_wrong_password_get_the_same_answer(console):
    wrong = sign_in(console.test_client(), "bob", "not-bobs-password")
    unknown = sign_in(console.test_client(), "nobody-here", "not-bobs-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Invalid user name or password." in wrong.get_data(as_text=True)
    assert _failure_page(wrong) == _failure_page(unknown)
    with console.app_context():
        actors = {e.actor for e in db.session.query(AuditEvent).filter_by(action="login.failure")}
    assert actors == {"bob", "nobody-here"}


def test_a_personal_token_or_robot_secret_cannot_open_a_session(console):
    with console.app_context():
        token = call(personal_tokens.create, OPERATOR, "bob", "ci", expires_in=dt.timedelta(days=1)).token
        robot = call(robots.create, OPERATOR, "priv", "ci", actions="pull", never_expires=True).secret
    for user, secret in (("bob", token), ("robot.priv.ci", robot)):
        client = console.test_client()
        response = sign_in(client, user, secret)
        assert response.status_code == 401 and "Invalid user name or password." in response.get_data(as_text=True)
        assert client.get("/projects").status_code == 302
        # ... while the same credential works where it belongs
        assert client.get("/token", query_string={"service": "registry"}, headers=basic(user, secret)).status_code == 200


def test_failed_sign_ins_and_token_requests_share_one_throttle(console):
    client = console.test_client()
    for _ in range(3):
        assert client.get("/token", query_string={"service": "registry"}, headers=basic("bob", "x")).status_code == 401
    for _ in range(2):
        assert sign_in(client, "bob", "wrong-password").status_code == 401
    blocked = sign_in(client, "bob")  # the right password, while blocked
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins. Try again later." in blocked.get_data(as_text=True)
    assert client.get("/token", query_string={"service": "registry"},
                      headers=basic("bob", "bob-pass-1")).status_code == 429
    assert client.get("/projects").status_code == 302


@pytest.mark.parametrize("change", ["password", "deactivate", "delete"])
def test_account_changes_end_every_session(console, change):
    first, second = Browser(console, "bob"), Browser(console, "bob")
    assert first.get("/projects").status_code == 200
    with console.app_context():
        if change == "password":
            call(accounts.set_password, OPERATOR, "bob", "bob-new-pass-1")
        elif change == "deactivate":
            call(accounts.update_user, OPERATOR, "bob", is_active=False)
        else:
            call(accounts.delete_user, OPERATOR, "bob")
    for browser in (first, second):
        response = browser.get("/projects")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_changing_ones_own_password_keeps_this_browser_and_ends_the_others(console):
    here, elsewhere = Browser(console, "bob"), Browser(console, "bob")
    response = here.post("/account/password", {"current": "bob-pass-1", "password": "bob-new-pass-1",
                                               "repeat": "bob-new-pass-1"})
    assert response.status_code == 303
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302
    assert sign_in(console.test_client(), "bob", "bob-new-pass-1").status_code == 303


def test_idle_sessions_end(console):
    browser = Browser(console, "bob")
    advance(console, 29 * 60)
    assert browser.get("/projects").status_code == 200  # seen now: the idle clock restarts
    advance(console, 29 * 60)
    assert browser.get("/projects").status_code == 200
    advance(console, 30 * 60)  # console_idle_minutes (30) without a request
    assert browser.get("/projects").status_code == 302


def test_sessions_end_after_the_absolute_lifetime_however_active(tmp_path):
    with served(tmp_path, console_idle_minutes=60, console_max_hours=2) as console:
        browser = Browser(console, "bob")
        for minutes in (50, 50, 19):  # active all along: 119 minutes after signing in
            advance(console, minutes * 60)
            assert browser.get("/projects").status_code == 200
        advance(console, 60)
        response = browser.get("/projects")
        assert response.status_code == 302 and response.headers["Location"] == "/login?next=/projects"


def test_the_cookie_is_httponly_lax_and_secure_over_https(console):
    plain = sign_in(console.test_client(), "bob").headers["Set-Cookie"]
    assert "authsvc_session=" in plain and "HttpOnly" in plain and "SameSite=Lax" in plain
    assert "Secure" not in plain
    secure_client = console.test_client()
    token = csrf_token(secure_client.get("/login", base_url="https://auth.test").get_data(as_text=True))
    response = secure_client.post("/login", base_url="https://auth.test",
                                  headers={"Referer": "https://auth.test/login"},
                                  data={"username": "bob", "password": "bob-pass-1", "csrf_token": token})
    assert response.status_code == 303 and "Secure" in response.headers["Set-Cookie"]


def test_the_cookie_holds_no_secret_and_a_forged_one_is_refused(console):
    client = console.test_client()
    sign_in(client, "bob")
    cookie = client.get_cookie("authsvc_session")
    assert "bob-pass-1" not in cookie.value
    client.set_cookie("authsvc_session", cookie.value[:-3] + ("AAA" if not cookie.value.endswith("AAA") else "BBB"))
    assert client.get("/projects").status_code == 302


def test_two_app_instances_on_one_signing_key_accept_each_others_cookies_until_a_rotation(tmp_path):
    """Every worker and instance derives the cookie key from the shared signing key: a session made
    by one is valid on another; activating a rotated key ends it (docs/operations.md)."""
    from authsvc.signing import rotation
    from tests.conftest import app_settings

    with served(tmp_path) as first:
        from authsvc import create_app
        second = create_app(app_settings(tmp_path), environ={})
        browser = Browser(first, "bob")
        cookie = browser.client.get_cookie("authsvc_session").value
        other = second.test_client()
        other.set_cookie("authsvc_session", cookie)
        assert other.get("/projects").status_code == 200
        context = second.extensions["authsvc"]
        rotation.stage(context.key_paths, common_name="authsvc", validity_days=30, kid_format="libtrust")
        rotation.activate(context.key_paths, kid_format="libtrust", token_lifetime=300)
        context._key_check_due = 0.0  # look at the key files now, not after KEY_RECHECK_SECONDS
        assert other.get("/projects").status_code == 302
        with second.app_context():
            db.engine.dispose()
