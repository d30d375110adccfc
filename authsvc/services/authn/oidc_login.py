"""A console sign-in through the OpenID provider: from the button to the session's identity.

:func:`begin` keeps what the browser must bring back -- the SHA-256 of a random ``state``, the
``nonce`` the ID token must carry, the PKCE verifier the code needs -- in an ``oidc_logins`` row,
and answers the provider's authorization URL.  :func:`complete` takes the browser's return: the
row is found by the state and deleted first, as a lasting write, so a state works once whatever
happens next; then the code is exchanged (with the verifier and the client secret), the ID token
checked (oidc_provider.py), userinfo merged when the provider has it, and the person signed in
(oidc.py).  Every refusal is audited as a failed login (not throttled: nothing here is a
guessable secret) and ends in :class:`~..errors.Unauthorized` with a message for the person;
a provider that does not answer is :class:`~.oidc_provider.ProviderUnavailable` (503) -- and
local and directory accounts sign in as ever.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select

from ...store.models import OidcLogin, utcnow
from ..errors import ServiceError, Unauthorized
from ..unit_of_work import UnitOfWork
from .identity import Identity
from .oidc import SignInRefused
from .oidc_provider import ProviderRefused

#: How long a browser may take at the provider before its sign-in must start again.
LOGIN_LIFETIME = dt.timedelta(minutes=10)
#: Sign-ins under way at once: the button is anonymous, so a flood must not fill the table.
MAX_PENDING = 10000
_logins = OidcLogin.__table__


class TooManySignIns(ServiceError):
    """More sign-ins under way than :data:`MAX_PENDING` (someone is flooding the button)."""

    code = "UNAVAILABLE"
    http_status = 503
    retry_after = 60

    def __init__(self):
        super().__init__("too many sign-ins are under way; try again in a minute")


class OidcSignInFailed(Unauthorized):
    """A refused sign-in through the provider, with what the person should be told."""

    def __init__(self, message: str):
        super().__init__(message)


@dataclass(frozen=True)
class Completed:
    identity: Identity
    #: The local path the person asked for before signing in ('' for the default page).
    next_path: str


def state_digest(state: str) -> str:
    """What is kept of a state: its SHA-256 (on the server's row, and in the browser's cookie)."""
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


def begin(uow: UnitOfWork, next_path: str) -> tuple[str, str]:
    """The provider's authorization URL for a new sign-in, and its state (for the adapter to
    bind to the browser); ``next_path`` must be a checked local path.  Sign-ins abandoned for
    longer than :data:`LOGIN_LIFETIME` are swept here."""
    accounts = uow.context.authenticator.oidc
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    url = accounts.provider.authorization_url(state=state, nonce=nonce, code_verifier=verifier)
    now = utcnow()
    uow.session.execute(delete(_logins).where(_logins.c.created_at < now - LOGIN_LIFETIME))
    if uow.session.execute(select(func.count()).select_from(_logins)).scalar() >= MAX_PENDING:
        raise TooManySignIns()
    uow.session.execute(insert(_logins).values(state_hash=state_digest(state), nonce=nonce, code_verifier=verifier,
                                               next_path=next_path[:500], created_at=now))
    return url, state


def complete(uow: UnitOfWork, *, state: str, code: str, error: str = "") -> Completed:
    """The identity a returning browser signs in as; :class:`OidcSignInFailed` (audited) if the
    state is unknown, used or stale, the provider refused, or the person may not sign in."""
    accounts = uow.context.authenticator.oidc
    with uow.lasting() as connection:  # consumed before anything can fail: a state works once
        digest = state_digest(state)
        row = connection.execute(select(_logins.c.nonce, _logins.c.code_verifier, _logins.c.next_path,
                                        _logins.c.created_at).where(_logins.c.state_hash == digest)).first()
        if row is not None:
            connection.execute(delete(_logins).where(_logins.c.state_hash == digest))
    if row is None or row.created_at < utcnow() - LOGIN_LIFETIME:
        _refuse(uow, "oidc", "unknown, used or stale state", "This sign-in link has expired or was already used. "
                "Sign in again.")
    if error or not code:
        _refuse(uow, "oidc", f"provider answered {error[:40]!r}" if error else "no code",
                f"{accounts.name} did not sign you in. Try again.")
    claimed = "oidc"
    try:
        answer = accounts.provider.exchange(code, row.code_verifier)
        claims = accounts.provider.verify_id_token(answer.get("id_token"), nonce=row.nonce)
        claimed = _claimed_name(claims, accounts.claim_names[0])
        claims = _with_userinfo(accounts.provider, answer["access_token"], claims)
        identity = accounts.sign_in(uow, claims, answer.get("refresh_token") if isinstance(
            answer.get("refresh_token"), str) else None)
    except SignInRefused as exc:
        _refuse(uow, claimed, exc.reason, exc.message)
    except ProviderRefused as exc:
        _refuse(uow, claimed, exc.reason, f"{accounts.name} did not sign you in. Try again.")
    return Completed(identity, row.next_path)


def _with_userinfo(provider, access_token: str, claims: dict) -> dict:
    """The ID token's claims with userinfo's added (many providers put groups only there); the
    ID token's own claims win, and userinfo must be about the same subject."""
    if not isinstance(provider.metadata().get("userinfo_endpoint"), str):
        return claims
    info = provider.userinfo(access_token)
    if info.get("sub") != claims["sub"]:
        raise ProviderRefused("userinfo is about another subject")
    return {**info, **claims}


def _claimed_name(claims: dict, name_claim: str) -> str:
    value = claims.get(name_claim)
    return value.lower()[:64] if isinstance(value, str) and value.isprintable() and value else "oidc"


def _refuse(uow: UnitOfWork, claimed: str, reason: str, message: str):
    uow.context.authenticator.refuse(uow, claimed, answer=OidcSignInFailed(message), check="oidc", reason=reason[:200])


__all__ = ["Completed", "OidcSignInFailed", "TooManySignIns", "begin", "complete", "state_digest"]
