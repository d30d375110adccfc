"""Signing out ends the console session on the server (issue 20, finding 3).

A copy of the session cookie taken before signing out -- from a shared machine, a proxy log --
must open nothing afterwards, on this instance or any other over the same database.  My account
lists the person's signed-in browsers and ends any of them.  A page view writes nothing; the
last use is stamped once the stamping interval has passed.  Time is the console's injected clock.
"""

from __future__ import annotations

import contextlib
import re
import time

import pytest
from sqlalchemy import event, select

from authsvc import create_app
from authsvc.services.credentials.console_sessions import MAX_STAMP_INTERVAL
from authsvc.store.models import AuditEvent, ConsoleSession, User, db
from tests.conftest import app_settings
from tests.http.conftest import served
from tests.support.console import Browser, advance, sign_in

_ENDS = re.compile(r'action="/account/browsers/(\d+)/end"')


@pytest.fixture
def console(tmp_path):
    with served(tmp_path) as application:
        yield application


@contextlib.contextmanager
def another_instance(tmp_path):
    """A second app over the same data dir and database: another worker or instance."""
    other = create_app(app_settings(tmp_path), environ={})
    try:
        yield other
    finally:
        with other.app_context():
            db.engine.dispose()


def _copy_of(browser: Browser, app) -> object:
    """A new client of ``app`` holding a copy of ``browser``'s session cookie."""
    copy = app.test_client()
    copy.set_cookie("authsvc_session", browser.client.get_cookie("authsvc_session").value)
    return copy


def _browser(app, user: str, agent: str) -> Browser:
    browser = Browser(app)
    browser.client.environ_base["HTTP_USER_AGENT"] = agent
    assert sign_in(browser.client, user).status_code == 303
    return browser


def _rows(app) -> list[ConsoleSession]:
    with app.app_context():
        rows = list(db.session.execute(select(ConsoleSession).order_by(ConsoleSession.id)).scalars())
        db.session.expunge_all()
        return rows


def _signed_out(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_cookie_copied_before_signing_out_opens_nothing_afterwards_on_any_instance(console, tmp_path):
    browser = Browser(console, "bob")
    with another_instance(tmp_path) as other:
        here, elsewhere = _copy_of(browser, console), _copy_of(browser, other)
        assert here.get("/projects").status_code == 200 and elsewhere.get("/projects").status_code == 200
        response = browser.post("/logout")
        assert response.status_code == 303 and response.headers["Location"] == "/login"
        for copy in (here, elsewhere):
            assert _signed_out(copy.get("/projects"))
            assert _signed_out(copy.get("/account/browsers"))
            # a form posted with the copy (and its CSRF token) is refused too
            assert copy.post("/logout").status_code in (302, 400)
    assert _signed_out(browser.get("/projects"))
    assert _rows(console) == []


def test_my_account_lists_the_browsers_and_ends_the_other_one(console, tmp_path):
    laptop = _browser(console, "bob", "Firefox/128.0 (laptop)")
    phone = _browser(console, "bob", "Safari/17.5 (phone)")
    _browser(console, "alice", "Chrome/126 (alice)")
    page = laptop.text("/account/browsers")
    assert "Firefox/128.0 (laptop)" in page and "Safari/17.5 (phone)" in page and "alice" not in page
    rows = {row.client: row for row in _rows(console)}
    mine, theirs = rows["Firefox/128.0 (laptop)"].id, rows["Safari/17.5 (phone)"].id
    assert set(map(int, _ENDS.findall(page))) == {mine, theirs}
    this_row = next(line for line in page.split("<tr>") if "Firefox/128.0" in line)
    assert "(this browser)" in this_row and "(this browser)" not in page.replace(this_row, "")
    copy_of_phone = _copy_of(phone, console)
    with another_instance(tmp_path) as other:
        phone_elsewhere = _copy_of(phone, other)
        response = laptop.post(f"/account/browsers/{theirs}/end")
        assert response.status_code == 303 and response.headers["Location"] == "/account/browsers"
        for client in (phone.client, copy_of_phone, phone_elsewhere):
            assert _signed_out(client.get("/projects"))
    assert laptop.get("/projects").status_code == 200
    page = laptop.text("/account/browsers")
    assert "Safari/17.5" not in page and "Firefox/128.0" in page
    with console.app_context():
        event = db.session.execute(select(AuditEvent).filter_by(action="session.revoke")).scalar_one()
        assert (event.actor, event.target, event.details) == ("bob", "bob", f'{{"id":{theirs}}}')
    # ending this browser from the list signs it out
    assert laptop.post(f"/account/browsers/{mine}/end").headers["Location"] == "/login"
    assert _signed_out(laptop.get("/projects"))


def test_a_page_view_writes_nothing_and_the_last_use_is_stamped_after_the_interval(console):
    browser = _browser(console, "bob", "Firefox/128.0")
    writes: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    with console.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        (signed_in,) = _rows(console)
        for _ in range(3):
            assert browser.get("/projects").status_code == 200
        advance(console, MAX_STAMP_INTERVAL.total_seconds() - 10)
        assert browser.get("/projects").status_code == 200
        assert writes == []
        assert _rows(console)[0].last_used_at == signed_in.last_used_at
        advance(console, 20)  # now past the interval: this view stamps the last use, once
        assert browser.get("/projects").status_code == 200
        assert browser.get("/projects").status_code == 200
        assert len(writes) == 1 and "console_sessions" in writes[0]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    (stamped,) = _rows(console)
    assert (stamped.last_used_at - signed_in.last_used_at).total_seconds() == pytest.approx(
        MAX_STAMP_INTERVAL.total_seconds() + 10, abs=1)
    assert stamped.created_at == signed_in.created_at


def test_a_stamp_due_request_that_also_makes_an_early_write_answers_at_once(console):
    """The stamp is committed before the request writes anything: a wrong current password
    (whose refusal is written on the early-write connection) is answered 403, not held until the
    database's lock timeout."""
    browser = Browser(console, "bob")
    token = browser.token
    advance(console, MAX_STAMP_INTERVAL.total_seconds() + 1)
    started = time.monotonic()
    response = browser.post("/account/password", {"current": "wrong", "password": "bob-new-pass-1",
                                                  "repeat": "bob-new-pass-1"}, token=token)
    assert response.status_code == 403 and time.monotonic() - started < 2
    assert _rows(console)[0].last_used_at > _rows(console)[0].created_at


def test_the_server_ends_an_idle_session_even_with_a_fresh_cookie(console):
    """The row judges the idle limit too: a cookie re-signed with a recent last-seen time (as with a
    leaked cookie key) does not revive a session the server has seen idle."""
    browser = Browser(console, "bob")
    advance(console, 40 * 60)
    clock = console.extensions["authsvc.console"]
    with console.test_request_context():
        from authsvc.web.console import session as console_session

        console_session.use_current_key()
        signer = console.session_interface.get_signing_serializer(console)
        data = signer.loads(browser.client.get_cookie("authsvc_session").value)
        data["user"]["seen"] = clock.now() - 60
        browser.client.set_cookie("authsvc_session", signer.dumps(data))
    assert _signed_out(browser.get("/projects"))


def test_expired_sessions_are_deleted_at_the_next_sign_in(tmp_path):
    with served(tmp_path, console_idle_minutes=30, console_max_hours=1) as console:
        idle, active = Browser(console, "bob"), Browser(console, "alice")
        advance(console, 20 * 60)
        assert active.get("/projects").status_code == 200
        advance(console, 20 * 60)  # bob: 40 minutes idle
        Browser(console, "carol")
        assert sorted(_names(console)) == ["alice", "carol"]
        advance(console, 20 * 60)  # alice: at the absolute limit, however active
        assert _signed_out(active.get("/projects"))
        Browser(console, "dave")
        assert sorted(_names(console)) == ["carol", "dave"]
        assert _signed_out(idle.get("/projects"))


def _names(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(User.name).join(ConsoleSession, ConsoleSession.user_id == User.id))
                    .scalars())


def test_a_password_change_leaves_only_this_browser_in_the_list(console):
    here, elsewhere = _browser(console, "bob", "Here/1"), _browser(console, "bob", "Elsewhere/1")
    response = here.post("/account/password", {"current": "bob-pass-1", "password": "bob-new-pass-1",
                                               "repeat": "bob-new-pass-1"})
    assert response.status_code == 303
    assert _signed_out(elsewhere.get("/projects"))
    page = here.text("/account/browsers")
    assert "Here/1" in page and "Elsewhere/1" not in page


@pytest.mark.parametrize("target", ["99999", "0", "-1", "abc", str(10**30)])
def test_ending_a_browser_that_does_not_exist_is_a_clear_404(console, target):
    browser = Browser(console, "bob")
    response = browser.post(f"/account/browsers/{target}/end")
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    assert "Something went wrong" not in text
    if target.isdigit() and int(target) > 0:
        assert f"you have no signed-in browser {target}" in text
    assert browser.get("/projects").status_code == 200


def test_nobody_ends_another_persons_browser(console):
    alice = _browser(console, "alice", "Chrome/126")
    bob = Browser(console, "bob")
    (alices,) = [row.id for row in _rows(console) if row.client == "Chrome/126"]
    response = bob.post(f"/account/browsers/{alices}/end")
    assert response.status_code == 404 and "you have no signed-in browser" in response.get_data(as_text=True)
    assert alice.get("/projects").status_code == 200
    with console.app_context():
        assert db.session.execute(select(AuditEvent).filter_by(action="session.revoke")).first() is None


def test_ending_a_browser_needs_the_csrf_token(console):
    browser = Browser(console, "bob")
    (row,) = _rows(console)
    assert browser.post(f"/account/browsers/{row.id}/end", with_token=False).status_code == 400
    assert browser.get("/projects").status_code == 200


def test_a_hostile_user_agent_is_cut_and_shown_as_text(console):
    browser = _browser(console, "bob", "<script>alert(1)</script>" + "A" * 500)
    (row,) = _rows(console)
    assert len(row.client) == 200 and row.client.startswith("<script>")
    page = browser.text("/account/browsers")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
