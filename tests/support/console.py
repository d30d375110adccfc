"""Driving the web console through a Flask test client, as a browser without JavaScript would.

A console form needs the session's CSRF token: :func:`csrf_token` reads it from a page's hidden
field, :func:`sign_in` signs a client in (through the real form), and :class:`Browser` keeps a
client, its token and the app's session clock together so that a test can post any form and
move time on without sleeping.
"""

from __future__ import annotations

import re

from tests.conftest import PASSWORDS

#: What Chromium sends with a page request: the console answers a path it has no route for with
#: a page only when the client prefers HTML.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client, user: str, password: str | None = None, **extra):
    """POST the sign-in form (with the token the sign-in page gave this client); the response."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    data = {"username": user, "password": PASSWORDS[user] if password is None else password,
            "csrf_token": token, **extra}
    return client.post("/login", data=data)


class Browser:
    """One signed-in (or not) browser: a test client, its CSRF token and the session clock."""

    def __init__(self, app, user: str | None = None, password: str | None = None):
        self.app = app
        self.client = app.test_client()
        if user is not None:
            response = sign_in(self.client, user, password)
            assert response.status_code == 303, response.get_data(as_text=True)

    @property
    def token(self) -> str:
        return csrf_token(self.client.get("/account").get_data(as_text=True))

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers={"Accept": BROWSER_ACCEPT}, **kwargs)

    def post(self, path: str, data: dict | None = None, *, token: str | None = None, with_token: bool = True):
        form = dict(data or {})
        if with_token:
            form["csrf_token"] = token if token is not None else self.token
        return self.client.post(path, data=form)

    def text(self, path: str) -> str:
        response = self.get(path)
        return response.get_data(as_text=True)


def advance(app, seconds: float) -> None:
    """Move the console's session clock ``seconds`` further on (web/console/session.py ``Clock``;
    calls add up): time passes without sleeping."""
    clock = app.extensions["authsvc.console"]
    base = clock.now
    clock.now = lambda: base() + seconds
