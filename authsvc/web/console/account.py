"""My account: the person's own password, personal access tokens, ``docker login`` sessions and
signed-in browsers.

Changing one's password ends every other session and credential (the service bumps the
credential version and drops the refresh tokens); this browser is given a session under the new
version, since the person has just proved the password.

"docker logins" are the refresh tokens docker received, with the client it named, when, and when
each was last used (to the minute: the refresh-token verifier writes it at most once a minute,
so the token endpoint gains no write per request).

"Signed-in browsers" are the console sessions (services/credentials/console_sessions.py): each
can be ended from here, which works at once on every worker; ending this browser signs it out.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for

from ...services.access import accounts
from ...services.credentials import console_sessions, personal_tokens, refresh_tokens
from ...services.errors import Invalid, ServiceError
from ..unit import unit
from .pages import form_text, page, refused
from .projects import principal
from .session import clock, current, current_session_id, limits, renew, sign_out, utc_now


def register(bp: Blueprint) -> None:
    def account_page(error=None):
        return page("account.html", section="password", error=error,
                    user=accounts.show_user(unit(), principal(), principal().subject))

    @bp.get("/account")
    def account():
        return account_page()

    @bp.post("/account/password")
    def change_password():
        me = principal().subject
        try:
            password = form_text("password", 5000)
            if password != form_text("repeat", 5000):
                raise Invalid("the two new passwords differ", field="password")
            user = accounts.set_password(unit(), principal(), me, password, old_password=form_text("current", 5000))
        except ServiceError as exc:
            return refused(exc, lambda error: account_page(error))
        renew(current().user_id, user.credential_version)
        flash("Password changed. Every other session, docker login and personal access token has ended.",
              "success")
        return redirect(url_for("console.account"), 303)

    def tokens_page(error=None, **values):
        rows = personal_tokens.list_tokens(unit(), principal(), principal().subject)
        return page("tokens.html", section="tokens", tokens=rows, error=error, **values)

    @bp.get("/account/tokens")
    def tokens():
        return tokens_page()

    @bp.post("/account/tokens")
    def create_token():
        name, days = form_text("name", 100).strip().lower(), form_text("expires_in_days", 10).strip()
        try:
            if not days.isdigit():
                raise Invalid("give the number of days the token lives", field="expires_in_days")
            made = personal_tokens.create(unit(), principal(), principal().subject, name,
                                          expires_in=personal_tokens.lifetime_in_days(int(days)))
        except ServiceError as exc:
            return refused(exc, lambda error: tokens_page(error, new_name=name, new_days=days))
        return page("token_created.html", section="tokens", no_store=True, made=made)

    @bp.post("/account/tokens/<token>/revoke")
    def revoke_token(token: str):
        try:
            personal_tokens.revoke(unit(), principal(), principal().subject, token)
        except ServiceError as exc:
            return refused(exc, lambda error: tokens_page(error))
        flash(f"Token {token} revoked.", "success")
        return redirect(url_for("console.tokens"), 303)

    def logins_page(error=None):
        rows = refresh_tokens.list_tokens(unit(), principal(), principal().subject)
        return page("logins.html", section="logins", logins=[row for row, _ in rows], error=error)

    @bp.get("/account/logins")
    def logins():
        return logins_page()

    @bp.post("/account/logins/<int:login_id>/revoke")
    def revoke_login(login_id: int):
        try:
            refresh_tokens.revoke(unit(), principal(), login_id)
        except ServiceError as exc:
            return refused(exc, lambda error: logins_page(error))
        flash("That docker login has ended; docker on that machine must log in again.", "success")
        return redirect(url_for("console.logins"), 303)

    def browsers_page(error=None):
        rows = console_sessions.list_sessions(unit(), current(), utc_now(), limits())
        return page("browsers.html", section="browsers", browsers=rows, this_browser=current_session_id(),
                    error=error, stamp_minutes=max(1, int(console_sessions.stamp_interval(limits()).seconds // 60)),
                    idle_minutes=clock().idle_seconds // 60)

    @bp.get("/account/browsers")
    def browsers():
        return browsers_page()

    @bp.post("/account/browsers/<int:session_id>/end")
    def end_browser(session_id: int):
        this_browser = session_id == current_session_id()
        try:
            console_sessions.revoke(unit(), current(), session_id)
        except ServiceError as exc:
            return refused(exc, lambda error: browsers_page(error))
        if this_browser:
            sign_out()
            return redirect(url_for("console.login"), 303)
        flash("That browser is signed out; its copy of the session no longer opens any page.", "success")
        return redirect(url_for("console.browsers"), 303)
