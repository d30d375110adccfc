"""Signing in and out, and who the browser is on every later request.

The session lives in Flask's signed cookie (``authsvc_session``: HttpOnly, SameSite=Lax, Secure
when the request came over HTTPS) and holds the user's id, the credential version the password
had, when the person signed in and when they were last seen -- never a secret.  Every request
re-reads the account through ``services/authn/session.resume``, so a password change,
deactivation or deletion ends every session at once; the idle and absolute limits
(``console_idle_minutes``, ``console_max_hours``) are judged by :class:`Clock`, which tests replace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from ...services.authn import Identity, Throttled
from ...services.authn import session as sessions
from ...services.errors import Unauthorized
from ..unit import unit
from .pages import form_text, local_path, page

COOKIE_NAME = "authsvc_session"
_USER = "user"
_IDENTITY_KEY = "authsvc.console.identity"
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


def current() -> Identity | None:
    """The signed-in person of this request, checked once per request, or None."""
    environ = request.environ
    if _IDENTITY_KEY not in environ:
        # None first: if reading the account fails (the database is down), the error page that
        # follows renders as for nobody instead of failing the same way again.
        environ[_IDENTITY_KEY] = None
        environ[_IDENTITY_KEY] = _resume()
    return environ[_IDENTITY_KEY]


def _resume() -> Identity | None:
    data = session.get(_USER)
    if not isinstance(data, dict):
        return None
    limits, now = clock(), clock().now()
    try:
        user_id, version, issued, seen = int(data["id"]), int(data["cv"]), float(data["iat"]), float(data["seen"])
    except (KeyError, TypeError, ValueError):
        session.clear()
        return None
    # A cookie claiming to come from the future (beyond a clock step between workers) is refused.
    if now - issued >= limits.max_seconds or now - seen >= limits.idle_seconds or issued > now + CLOCK_SKEW:
        session.clear()
        return None
    identity = sessions.resume(unit(), user_id, version)
    if identity is None:
        session.clear()
        return None
    session[_USER] = {**data, "seen": now}
    return identity


def open_for(identity: Identity) -> None:
    """A fresh session for ``identity`` (a new cookie and a new CSRF token: nothing from before
    the sign-in carries over, so a planted session cannot be taken over)."""
    now = clock().now()
    session.clear()
    session[_USER] = {"id": identity.user_id, "cv": identity.credential_version, "iat": now, "seen": now}
    request.environ[_IDENTITY_KEY] = identity


def renew(user_id: int, credential_version: int) -> None:
    """After the person changed their own password: this browser keeps a session under the new
    credential version (keeping its sign-in time), while every other session has ended."""
    data = session.get(_USER)
    if isinstance(data, dict) and data.get("id") == user_id:
        session[_USER] = {**data, "cv": credential_version}


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
            return page("login.html", next=target)
        name = form_text("username", 200).strip()
        password = form_text("password", 4096)
        try:
            identity = sessions.sign_in(unit(), name, password)
        except Throttled as exc:
            response = page("login.html", status=429, error=THROTTLED, next=target, username=name)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except Unauthorized:
            return page("login.html", status=401, error=INVALID, next=target, username=name)
        open_for(identity)
        return redirect(target or url_for("console.projects"), 303)

    @bp.post("/logout")
    def logout():
        session.clear()
        return redirect(url_for("console.login"), 303)
