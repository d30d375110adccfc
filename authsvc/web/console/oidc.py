"""Signing in through the OpenID provider: the button's redirect and the provider's return.

``GET /login/oidc`` starts a sign-in (services/authn/oidc_login.py keeps its state, nonce and PKCE
verifier on the server) and sends the browser to the provider.  The browser also keeps the
state's digest in its signed session cookie, so that the provider's return is accepted only in
the browser that started the sign-in: a code and state planted from elsewhere (login CSRF: an
attacker signing a victim in as the attacker) are refused.  ``GET /login/oidc/callback`` is the
return; every refusal is the sign-in page with the reason for the person, never a session.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, session, url_for

from ...services.authn import oidc_login
from ...services.authn.oidc_provider import ProviderUnavailable
from ..unit import unit
from .pages import local_path, page
from .session import open_for, provider_name

_PENDING = "oidc_pending"


def _unavailable(exc: ProviderUnavailable, target: str | None):
    response = page("login.html", status=503, next=target, provider=provider_name(),
                    error=f"{provider_name()} is unavailable right now; try again in a moment. "
                    "Accounts with a password here can still sign in with it.")
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def register(bp: Blueprint) -> None:
    @bp.get("/login/oidc")
    def oidc_start():
        target = local_path(request.args.get("next")) or ""
        if provider_name() is None:
            return redirect(url_for("console.login"))
        try:
            url, state = oidc_login.begin(unit(), target)
        except ProviderUnavailable as exc:
            unit().rollback()
            return _unavailable(exc, target or None)
        except oidc_login.TooManySignIns as exc:
            unit().rollback()
            response = page("login.html", status=503, next=target or None, provider=provider_name(),
                            error="Too many sign-ins are under way right now; try again in a minute.")
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        session[_PENDING] = oidc_login.state_digest(state)
        response = redirect(url, 303)
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/login/oidc/callback")
    def oidc_callback():
        if provider_name() is None:
            return redirect(url_for("console.login"))
        state = request.args.get("state", "")[:200]
        pending = session.pop(_PENDING, None)
        if not state or pending != oidc_login.state_digest(state):
            state = ""  # not started in this browser: refused like an unknown state (and audited)
        try:
            done = oidc_login.complete(unit(), state=state, code=request.args.get("code", "")[:2000],
                                       error=request.args.get("error", "")[:100])
        except oidc_login.OidcSignInFailed as exc:
            return page("login.html", status=401, error=exc.message, provider=provider_name())
        except ProviderUnavailable as exc:
            unit().rollback()
            return _unavailable(exc, None)
        open_for(done.identity)
        return redirect(local_path(done.next_path) or url_for("console.projects"), 303)
