"""Driving a console sign-in through the real OpenID provider (tests/support/oidc_provider.py)
with a Flask test client: the button's redirect, the provider's form, the return to authsvc.

The browser's part is exactly what a browser does: follow ``GET /login/oidc``'s redirect to the
provider, post its form (who signs in, or *deny*), and bring the redirect it answers back to
``/login/oidc/callback`` -- with the cookie of the client that started, or of another one.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from sqlalchemy import select

from authsvc.store.models import AuditEvent, User, db
from tests.conftest import make_app
from tests.support.console import csrf_token
from tests.support.oidc_provider import secret_file

CLIENT_ID = "authsvc"
CALLBACK = "http://localhost/login/oidc/callback"


def oidc_app(tmp_path, issuer: str, **settings):
    """An app that trusts ``issuer`` (plain http on loopback, as only tests may)."""
    options = dict(oidc_issuer=issuer, oidc_allow_http=True, oidc_client_id=CLIENT_ID,
                   oidc_client_secret_file=str(secret_file(tmp_path)), oidc_redirect_uri=CALLBACK)
    options.update(settings)
    return make_app(tmp_path, **options)


def start(client, next_path: str | None = None) -> str:
    """``GET /login/oidc``: the provider's authorization URL authsvc redirects to."""
    response = client.get("/login/oidc", query_string={"next": next_path} if next_path else None)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def deny(authorization_url: str) -> str:
    """The provider's *Deny* button: the redirect back, with error=access_denied."""
    response = requests.post(authorization_url, data={"action": "deny"}, allow_redirects=False, timeout=10)
    assert response.status_code in (302, 303), response.text[:300]
    return response.headers["Location"]


def back(client, redirect_url: str):
    """The browser following the provider's redirect back to authsvc's callback."""
    parts = urlsplit(redirect_url)
    assert parts.path == "/login/oidc/callback", redirect_url
    return client.get(parts.path + "?" + parts.query)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(redirect_url: str, **changes) -> str:
    """``redirect_url`` with query parameters replaced (None drops one)."""
    parts = urlsplit(redirect_url)
    query = query_of(redirect_url)
    query.update(changes)
    query = {k: v for k, v in query.items() if v is not None}
    return parts._replace(query=urlencode(query)).geturl()


def clone(app, client):
    """A second client holding a copy of ``client``'s session cookie (the same browser, forked)."""
    name = app.config["SESSION_COOKIE_NAME"]
    twin = app.test_client()
    twin.set_cookie(name, client.get_cookie(name).value, domain="localhost")
    return twin


def sign_out(client) -> None:
    response = client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").get_data(as_text=True))})
    assert response.status_code == 303 and client.get("/projects").status_code in (302, 303)


def sign_in(client, provider, sub: str):
    """A whole sign-in of ``sub`` in ``client``: the callback's response."""
    return back(client, provider.authorize(start(client), sub))


def assert_refused(client, response, text: str | None = None) -> str:
    """A clear refusal: the sign-in page (401) with its message, and no console session."""
    body = response.get_data(as_text=True)
    assert response.status_code == 401, (response.status_code, body[:500])
    assert 'action="/login"' in body or "/login/oidc" in body, body[:500]
    if text is not None:
        assert text in body, body
    assert client.get("/projects").status_code in (302, 303)
    return body


def user_row(name: str) -> User | None:
    db.session.expire_all()
    return db.session.execute(select(User).where(User.name == name)).scalar_one_or_none()


def failures(reason_part: str = "") -> list[AuditEvent]:
    """The audit log's login.failure events of the OIDC sign-in (their reason containing ``reason_part``)."""
    db.session.expire_all()
    events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "login.failure")).scalars().all()
    found = [(e, json.loads(e.details or "{}")) for e in events]
    return [e for e, details in found if details.get("check") == "oidc"
            and reason_part in str(details.get("reason", ""))]
