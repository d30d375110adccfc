"""Signing in and out, and who the browser is on every later request.

A session is a row on the server (services/credentials/console_sessions.py) and a signed
cookie in the browser (``authsvc_session``: HttpOnly, SameSite=Lax, Secure when the request came
over HTTPS) holding the row's random secret and when this browser was last seen.  Every request
reads the row with its account, so signing out, ending the browser from My account, a password
change, deactivation or deletion end the session on every worker and instance at once, whatever
copies of the cookie exist.  The idle limit is judged by the cookie's last-seen time (to the
second) and by the row (to a few minutes), the absolute limit by the row's sign-in time
(``console_idle_minutes``, ``console_max_hours``); time is :class:`Clock`'s, which tests replace.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from ...services.authn import Identity, Throttled
from ...services.authn import session as sessions
from ...services.credentials import console_sessions
from ...services.errors import Unauthorized
from ..unit import unit
from .pages import form_text, local_path, page

COOKIE_NAME = "authsvc_session"
_USER = "user"
_IDENTITY_KEY = "authsvc.console.identity"
_SESSION_KEY = "authsvc.console.session"
#: Seconds the clocks of two workers or instances may disagree.
CLOCK_SKEW = 300
#: The one answer to every failed sign-in, whatever its cause.
INVALID = "Invalid user name or password."
THROTTLED = "Too many failed sign-ins. Try again later."


@dataclass
class Clock:
    """What the console's session limits are judged by; ``now`` is replaceable (tests drive time)."""

    idle_seconds: int
    max_seconds: int
    now: object = time.time


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` decided per request (HTTPS as seen after
    ProxyFix) and no signing work for requests that carry no cookie (the token endpoint's)."""

    def get_cookie_secure(self, app) -> bool:
        return request.is_secure

    def open_session(self, app, request):
        if app.config["SESSION_COOKIE_NAME"] not in request.cookies:
            return self.session_class()
        use_current_key()
        return super().open_session(app, request)


#: What the cookie key is derived for (``SigningMaterial.derived_secret``).
_KEY_PURPOSE = b"authsvc web console session cookie v1"


def use_current_key() -> None:
    """Sign cookies and CSRF tokens with the key derived from the signing key in force now
    (re-derived only when a rotation replaced it; the service context notices within seconds)."""
    app = current_app
    material = app.extensions["authsvc"].signing_material
    cached = app.extensions.get("authsvc.console.key")
    if cached is None or cached[0] is not material:
        cached = app.extensions["authsvc.console.key"] = (material, material.derived_secret(_KEY_PURPOSE))
    app.secret_key = cached[1]


def clock() -> Clock:
    return current_app.extensions["authsvc.console"]


def limits() -> console_sessions.Limits:
    return console_sessions.Limits(idle=dt.timedelta(seconds=clock().idle_seconds),
                                   absolute=dt.timedelta(seconds=clock().max_seconds))


def _as_datetime(seconds: float) -> dt.datetime:
    """The clock's time as the database keeps times (naive UTC)."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def utc_now() -> dt.datetime:
    """Now by the session clock, as the database keeps times."""
    return _as_datetime(clock().now())


def current() -> Identity | None:
    """The signed-in person of this request, checked once per request, or None."""
    environ = request.environ
    if _IDENTITY_KEY not in environ:
        # None first: if reading the account fails (the database is down), the error page that
        # follows renders as for nobody instead of failing the same way again.
        environ[_IDENTITY_KEY] = None
        resumed = _resume()
        if resumed is not None:
            environ[_IDENTITY_KEY], environ[_SESSION_KEY] = resumed.identity, resumed.session_id
    return environ[_IDENTITY_KEY]


def current_session_id() -> int | None:
    """The server-side row of this browser's session (My account marks it "this browser")."""
    return request.environ.get(_SESSION_KEY) if current() is not None else None


def _resume() -> console_sessions.Resumed | None:
    data = session.get(_USER)
    if not isinstance(data, dict):
        return None
    now = clock().now()
    secret, seen = data.get("sid"), data.get("seen")
    if not isinstance(secret, str) or not isinstance(seen, int | float):
        session.clear()  # not a cookie this release made (or one from before migration 0010)
        return None
    # The idle limit to the second, by this browser's own last request (the row keeps it only to
    # a few minutes); a cookie claiming to come from the future is refused.
    if now - seen >= clock().idle_seconds or seen > now + CLOCK_SKEW:
        session.clear()
        return None
    resumed = console_sessions.resume(unit(), secret, _as_datetime(now), limits())
    if resumed is None:
        session.clear()
        return None
    session[_USER] = {**data, "seen": now}
    return resumed


def open_for(identity: Identity) -> None:
    """A fresh session for ``identity`` (a new cookie and a new CSRF token: nothing from before
    the sign-in carries over, so a planted session cannot be taken over), kept on the server."""
    now = clock().now()
    client = request.headers.get("User-Agent", "")
    secret = console_sessions.open_session(unit(), identity, client, _as_datetime(now), limits())
    session.clear()
    session[_USER] = {"sid": secret, "seen": now}
    request.environ[_IDENTITY_KEY] = identity


def renew(user_id: int, credential_version: int) -> None:
    """After the person changed their own password: this browser keeps its session under the new
    credential version (keeping its sign-in time), while every other session has ended."""
    identity, session_id = current(), current_session_id()
    if identity is not None and identity.user_id == user_id and session_id is not None:
        console_sessions.renew(unit(), session_id, credential_version)


def sign_out() -> None:
    """End this browser's session on the server (every copy of its cookie), then in the browser."""
    data = session.get(_USER)
    if isinstance(data, dict) and isinstance(data.get("sid"), str):
        console_sessions.end(unit(), data["sid"])
    session.clear()


def provider_name() -> str | None:
    """The OpenID provider's name for the sign-in page's button (web/console/oidc.py), or None."""
    accounts = unit().context.authenticator.oidc
    return accounts.name if accounts.enabled else None


def require_sign_in():
    """Before every console page but the public ones: the signed-in person, or a redirect to the
    sign-in page that comes back here (only to a local path) afterwards."""
    if current() is not None:
        return None
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("console.login", next=local_path(target)))


def register(bp: Blueprint) -> None:
    @bp.route("/login", methods=["GET", "POST"])
    def login():
        target = local_path(request.values.get("next"))
        if request.method == "GET":
            if current() is not None:
                return redirect(target or url_for("console.projects"))
            return page("login.html", next=target, provider=provider_name())
        name = form_text("username", 200).strip()
        password = form_text("password", 4096)
        try:
            identity = sessions.sign_in(unit(), name, password)
        except Throttled as exc:
            response = page("login.html", status=429, error=THROTTLED, next=target, username=name,
                            provider=provider_name())
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except Unauthorized:
            return page("login.html", status=401, error=INVALID, next=target, username=name,
                        provider=provider_name())
        open_for(identity)
        return redirect(target or url_for("console.projects"), 303)

    @bp.post("/logout")
    def logout():
        sign_out()
        return redirect(url_for("console.login"), 303)
