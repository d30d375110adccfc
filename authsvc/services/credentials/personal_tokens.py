"""Personal access tokens: named, expiring stand-ins for a person's password.

A token is usable wherever the password is (``docker login``, podman,
containerd, the REST API's Basic auth), so scripts never hold the real
password.  Tokens are stored as SHA-256 only, listed with creation and
last-use times, revocable one by one, and they end with a password change
or deactivation (they remember ``credential_version``), as refresh tokens do.
``authn/personal_token.py`` checks them; this module manages them.  A token
is made only for a caller who logged in with a password: a token (or a
robot) must never mint a token that outlives its own expiry or revocation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from ...core.credential_secrets import PERSONAL_TOKEN_PREFIX, digest, new_secret
from ...core.names import InvalidName, check_robot_name
from ...core.policy import Principal, may_create_credentials, may_manage_credentials_of
from ...store.models import PersonalToken, utcnow
from .. import audit
from ..access.accounts import get_user
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..unit_of_work import UnitOfWork

MIN_LIFETIME = dt.timedelta(minutes=1)
MAX_LIFETIME = dt.timedelta(days=366)
#: What a token lives when its creator does not say.
DEFAULT_LIFETIME = dt.timedelta(days=90)


def lifetime_in_days(days: int) -> dt.timedelta:
    """A lifetime given in whole days (the REST API's ``expires_in_days``), checked against the
    bounds before any arithmetic, so an absurd number is a clear 400, never an overflow."""
    if not isinstance(days, int) or not 1 <= days <= MAX_LIFETIME.days:
        raise Invalid(f"a token must expire in 1 to {MAX_LIFETIME.days} days", field="expires_in_days")
    return dt.timedelta(days=days)


@dataclass(frozen=True)
class CreatedToken:
    token: str  # shown once
    row: PersonalToken


def _owner_or_admin(actor: Principal, user_name: str) -> None:
    if not may_manage_credentials_of(actor, user_name):
        raise Forbidden("only the user themself or a system administrator may manage these tokens")


def create(uow: UnitOfWork, actor: Principal, user_name: str, name: str, *, expires_in: dt.timedelta) -> CreatedToken:
    """A new token for ``user_name``; every token expires (at most a year), by design."""
    _owner_or_admin(actor, user_name)
    if not may_create_credentials(actor):
        raise Forbidden("a personal access token can only be made after logging in with a password")
    try:
        check_robot_name(name)  # the same simple grammar: letters, digits, single '-'
    except InvalidName as exc:
        raise Invalid(str(exc).replace("robot", "token"), field="name") from None
    if not MIN_LIFETIME <= expires_in <= MAX_LIFETIME:
        raise Invalid("a token must expire between one minute and one year from now", field="expires_in")
    user = get_user(uow, user_name)
    if uow.session.execute(select(PersonalToken.id).where(PersonalToken.user_id == user.id,
                                                         PersonalToken.name == name)).first():
        raise Conflict(f"{user_name!r} already has a token named {name!r}")
    token = new_secret(PERSONAL_TOKEN_PREFIX)
    row = PersonalToken(user_id=user.id, name=name, token_hash=digest(token),
                        credential_version=user.credential_version, expires_at=utcnow() + expires_in)
    uow.session.add(row)
    uow.session.flush()  # created_at, for the answer
    audit.record(uow, actor, "pat.create", f"{user_name}/{name}")
    return CreatedToken(token, row)


def list_tokens(uow: UnitOfWork, actor: Principal, user_name: str) -> list[PersonalToken]:
    _owner_or_admin(actor, user_name)
    user = get_user(uow, user_name)
    return list(uow.session.execute(select(PersonalToken).where(PersonalToken.user_id == user.id)
                                   .order_by(PersonalToken.name)).scalars())


def revoke(uow: UnitOfWork, actor: Principal, user_name: str, name: str) -> None:
    _owner_or_admin(actor, user_name)
    user = get_user(uow, user_name)
    row = uow.session.execute(select(PersonalToken).where(PersonalToken.user_id == user.id,
                                                         PersonalToken.name == name)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{user_name!r} has no token named {name!r}")
    uow.session.delete(row)
    audit.record(uow, actor, "pat.revoke", f"{user_name}/{name}")


def token_summary(row: PersonalToken) -> dict:
    def when(value):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
    return {"name": row.name, "created_at": when(row.created_at), "expires_at": when(row.expires_at),
            "last_used_at": when(row.last_used_at)}
