"""Personal access tokens: named, expiring stand-ins for a person's password.

A token is usable wherever the password is (``docker login``, podman,
containerd, the REST API's Basic auth), so scripts never hold the real
password.  Tokens are stored as SHA-256 only, listed with creation and
last-use times, revocable one by one, and they end with a password change
or deactivation (they remember ``credential_version``), as refresh tokens do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from ..core.names import InvalidName, check_robot_name
from ..core.policy import Principal, may_manage_credentials_of
from ..store.models import PersonalToken, db, utcnow
from . import audit
from .accounts import get_user
from .errors import Conflict, Forbidden, Invalid, NotFound
from .passwords import TOKEN_PREFIX

#: Tokens carry a recognisable prefix so that secret scanners can find leaked ones, and so that
#: authentication knows to look them up instead of running bcrypt.
PREFIX = TOKEN_PREFIX
#: Writing last-use on every request would put a write on the hot path; once a minute is enough.
LAST_USE_RESOLUTION = dt.timedelta(minutes=1)
MAX_LIFETIME = dt.timedelta(days=366)


@dataclass(frozen=True)
class CreatedToken:
    token: str  # shown once
    row: PersonalToken


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _owner_or_admin(actor: Principal, user_name: str) -> None:
    if not may_manage_credentials_of(actor, user_name):
        raise Forbidden("only the user themself or a system administrator may manage these tokens")


def create(actor: Principal, user_name: str, name: str, *, expires_in: dt.timedelta) -> CreatedToken:
    """A new token for ``user_name``; every token expires (at most a year), by design."""
    _owner_or_admin(actor, user_name)
    try:
        check_robot_name(name)  # the same simple grammar: letters, digits, single '-'
    except InvalidName as exc:
        raise Invalid(str(exc).replace("robot", "token"), field="name") from None
    if not dt.timedelta(minutes=1) <= expires_in <= MAX_LIFETIME:
        raise Invalid("a token must expire between one minute and one year from now", field="expires_in")
    user = get_user(user_name)
    if db.session.execute(select(PersonalToken.id).where(PersonalToken.user_id == user.id,
                                                         PersonalToken.name == name)).first():
        raise Conflict(f"{user_name!r} already has a token named {name!r}")
    token = PREFIX + secrets.token_urlsafe(32)
    row = PersonalToken(user_id=user.id, name=name, token_hash=hash_token(token),
                        credential_version=user.credential_version, expires_at=utcnow() + expires_in)
    db.session.add(row)
    audit.record(actor, "pat.create", f"{user_name}/{name}")
    db.session.commit()
    return CreatedToken(token, row)


def list_tokens(actor: Principal, user_name: str) -> list[PersonalToken]:
    _owner_or_admin(actor, user_name)
    user = get_user(user_name)
    return list(db.session.execute(select(PersonalToken).where(PersonalToken.user_id == user.id)
                                   .order_by(PersonalToken.name)).scalars())


def revoke(actor: Principal, user_name: str, name: str) -> None:
    _owner_or_admin(actor, user_name)
    user = get_user(user_name)
    row = db.session.execute(select(PersonalToken).where(PersonalToken.user_id == user.id,
                                                         PersonalToken.name == name)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{user_name!r} has no token named {name!r}")
    db.session.delete(row)
    audit.record(actor, "pat.revoke", f"{user_name}/{name}")
    db.session.commit()


def usable(row, user_name: str) -> bool:
    """Whether a looked-up token (joined with its user) may log in as ``user_name`` now."""
    return (row is not None and row.name == user_name and row.is_active
            and row.token_version == row.credential_version
            and (row.expires_at is None or row.expires_at > utcnow()))


def note_use(row) -> None:
    """Record last use, at most once per ``LAST_USE_RESOLUTION``."""
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_RESOLUTION:
        db.session.execute(update(PersonalToken).where(PersonalToken.id == row.token_id)
                           .values(last_used_at=now))
        db.session.commit()


def token_summary(row: PersonalToken) -> dict:
    def when(value):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
    return {"name": row.name, "created_at": when(row.created_at), "expires_at": when(row.expires_at),
            "last_used_at": when(row.last_used_at)}
