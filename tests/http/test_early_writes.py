"""Issue 20, finding 1: a request never waits on its own write lock.

A verifier writes in the request's session when it accepts a credential (a throttle counter
cleared by a correct password, a hash re-made at a new cost, a personal token's last use); when
something later in the same request is refused, the refusal is recorded on a second connection
(``UnitOfWork.write_now``).  That connection once waited for the lock the session held --
SQLite's one write lock, which also stopped every other writer of the service, or PostgreSQL's
row lock on the cleared throttle row -- until the request deadline answered 503.

Each test drives one path that does both in one request, exactly as a client would, and while
the refused request is inside its early write starts a failed login of *another* user on a
client of its own (:class:`OtherUsersFailedLogin`): that login must be answered far below the
deadline, the refused request must get its own answer, the refusal must be counted and audited,
and what the verifier wrote must still be there.  Runs on SQLite and, with TEST_DATABASE_URL, on
PostgreSQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time

import pytest
from sqlalchemy import text

from authsvc.core.policy import OPERATOR
from authsvc.services.credentials import personal_tokens
from authsvc.services.unit_of_work import UnitOfWork
from authsvc.store.models import db
from tests.conftest import make_app
from tests.http.conftest import served
from tests.support.console import sign_in
from tests.support.http import basic, basic_header
from tests.support.units import call

API = "/api/v1"
#: The apps' request_deadline (seconds), small so that a request waiting on itself ends soon.
DEADLINE = 3
#: What "answered without waiting" means for the other user's failed login: a third of the deadline.
PROMPT = 1.0
CHANGE = {"password": "Carol-new-pass-1", "old_password": "nope"}


@pytest.fixture
def early_app(tmp_path):
    """The seeded app with a small request deadline and a long first throttle block."""
    with served(tmp_path, request_deadline=DEADLINE, throttle_base_delay=120) as application:
        yield application


class OtherUsersFailedLogin:
    """A failed login of ``user`` on a client and thread of its own, started from inside the first
    early write of the request under test -- the moment the request's own lock, if its session
    still held one, would stop every writer -- and waited for there (bounded), so that it runs
    while the request is in flight."""

    def __init__(self, app, monkeypatch, user: str = "dave"):
        self.client = app.test_client()
        self.user = user
        self.answered = threading.Event()
        self.thread: threading.Thread | None = None
        self.status: int | None = None
        self.seconds: float | None = None
        under_test = threading.get_ident()
        original = UnitOfWork.write_now
        probe = self

        @contextlib.contextmanager
        def write_now(unit):
            with original(unit) as connection:
                if probe.thread is None and threading.get_ident() == under_test:
                    probe.thread = threading.Thread(target=probe._log_in, daemon=True)
                    probe.thread.start()
                    probe.answered.wait(2 * PROMPT)  # bounded: without the fix it waits for us
                yield connection

        monkeypatch.setattr(UnitOfWork, "write_now", write_now)

    def _log_in(self):
        started = time.monotonic()
        response = self.client.get(f"{API}/users/current", headers=basic(self.user, "not-the-password"))
        self.status, self.seconds = response.status_code, time.monotonic() - started
        self.answered.set()

    def check(self):
        assert self.thread is not None, "the request under test made no early write"
        self.thread.join(timeout=30)
        assert self.status == 401
        assert self.seconds < PROMPT, f"another user's failed login took {self.seconds:.2f} s"


def _scalar(app, sql: str, **params):
    with app.app_context():
        try:
            return db.session.execute(text(sql), params).scalar()
        finally:
            db.session.remove()


def failures(app, account: str) -> int:
    """The throttle counter of (account, the test client's address); 0 when there is none."""
    return _scalar(app, "SELECT failures FROM login_failures WHERE account = :a AND source = '127.0.0.1'",
                   a=account) or 0


def failure_checks(app, actor: str) -> list[str | None]:
    """The ``check`` detail of each login.failure event of ``actor``, oldest first."""
    with app.app_context():
        try:
            rows = db.session.execute(text("SELECT details FROM audit_events WHERE action = 'login.failure' "
                                           "AND actor = :a ORDER BY id"), {"a": actor}).scalars().all()
        finally:
            db.session.remove()
    return [json.loads(details).get("check") for details in rows]


def stored_cost(app, user: str) -> int:
    return int(_scalar(app, "SELECT password_hash FROM users WHERE name = :n", n=user).split("$")[3])


def test_a_wrong_old_password_after_a_login_that_cleared_the_throttle(early_app, monkeypatch):
    """The issue's reproduction: the Basic login clears (carol, address) in the session, then the
    wrong old_password is counted early -- once answered 503 after the deadline."""
    client = early_app.test_client()
    token = client.get("/token", query_string={"service": "authsvc-api"}, headers=basic_header("carol"))
    bearer = {"Authorization": "Bearer " + token.get_json()["token"]}  # a stand-in that clears nothing
    assert client.get(f"{API}/users/current", headers=basic("carol", "WRONG-pass-1")).status_code == 401
    assert client.get(f"{API}/users/current", headers=basic_header("carol")).status_code == 200
    assert client.put(f"{API}/users/carol/password", headers=basic_header("carol"), json=CHANGE).status_code == 403
    assert failures(early_app, "carol") == 1
    other = OtherUsersFailedLogin(early_app, monkeypatch)
    started = time.monotonic()
    again = client.put(f"{API}/users/carol/password", headers=basic_header("carol"), json=CHANGE)
    assert again.status_code == 403, again.get_data(as_text=True)
    assert again.get_json()["errors"][0]["detail"] == {"field": "old_password"}
    assert time.monotonic() - started < DEADLINE
    other.check()
    # The correct password's clear survived the refusal, which then counted its own failure.
    assert failures(early_app, "carol") == 1
    assert failure_checks(early_app, "carol") == [None, "old_password", "old_password"]
    assert failures(early_app, "dave") == 1 and failure_checks(early_app, "dave") == [None]
    # The throttle still counts from there: four more wrong old passwords block the pair ...
    answers = [client.put(f"{API}/users/carol/password", headers=bearer, json=CHANGE).status_code
               for _ in range(4)]
    assert answers == [403] * 4 and failures(early_app, "carol") == 5
    blocked = client.put(f"{API}/users/carol/password", headers=basic_header("carol"), json=CHANGE)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert len(failure_checks(early_app, "carol")) == 7  # the 429 is no new failure
    # ... and nothing changed the password.
    assert client.get(f"{API}/users/current", headers=bearer).status_code == 200


def test_a_wrong_old_password_after_a_login_that_re_hashed(early_app, tmp_path, monkeypatch):
    """The Basic login re-hashes carol's password at the raised cost in the session, then the wrong
    old_password is counted early: the re-hash must survive the 403, without waiting."""
    assert stored_cost(early_app, "carol") == 4
    raised = make_app(tmp_path, bcrypt_rounds=5, request_deadline=DEADLINE, throttle_base_delay=120)
    client = raised.test_client()
    other = OtherUsersFailedLogin(raised, monkeypatch)
    started = time.monotonic()
    answer = client.put(f"{API}/users/carol/password", headers=basic_header("carol"), json=CHANGE)
    assert answer.status_code == 403, answer.get_data(as_text=True)
    assert time.monotonic() - started < DEADLINE
    other.check()
    assert stored_cost(raised, "carol") == 5
    assert failures(raised, "carol") == 1 and failure_checks(raised, "carol") == ["old_password"]
    assert failures(raised, "dave") == 1
    assert client.get(f"{API}/users/current", headers=basic_header("carol")).status_code == 200  # it verifies
    with raised.app_context():
        db.engine.dispose()


def test_a_console_sign_in_refused_for_a_personal_token(early_app, monkeypatch):
    """The personal-token verifier stamps the token's last use in the session, then the console
    refuses the token (a session needs the password) and audits that early: the stamp survives --
    the token was used -- and nothing waits."""
    with early_app.app_context():
        secret = call(personal_tokens.create, OPERATOR, "carol", "ci", expires_in=dt.timedelta(days=1)).token
        db.session.remove()
    browser = early_app.test_client()
    other = OtherUsersFailedLogin(early_app, monkeypatch)
    started = time.monotonic()
    response = sign_in(browser, "carol", secret)
    assert response.status_code == 401, response.get_data(as_text=True)
    assert "Invalid user name or password." in response.get_data(as_text=True)
    assert time.monotonic() - started < DEADLINE
    other.check()
    assert _scalar(early_app, "SELECT last_used_at FROM personal_tokens") is not None
    assert failure_checks(early_app, "carol") == ["console_password_only"]
    assert failures(early_app, "carol") == 0  # a 256-bit token is audited, never throttled
    assert browser.get("/projects").status_code == 302  # and no session was opened
