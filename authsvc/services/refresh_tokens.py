"""Refresh tokens: what ``docker login`` keeps instead of the password.

A refresh token is opaque and random; only its SHA-256 is stored.  It is not
rotated on use (docker stores it once, as its ``identitytoken``), it dies
with its user, with a password change or deactivation (``credential_version``),
and an operator can revoke it.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from ..store.models import RefreshToken, User, db
from .accounts import get_user
from .credentials import hash_refresh_token, new_refresh_token
from ..core.policy import Principal, may_manage_credentials_of
from . import audit
from .errors import Forbidden, NotFound


def issue(user, client_id: str) -> str:
    """A new refresh token for ``user`` (a user row); commits, with any pending audit event."""
    token = new_refresh_token()
    db.session.add(RefreshToken(token_hash=hash_refresh_token(token), user_id=user.id,
                                credential_version=user.credential_version, client_id=client_id[:64]))
    db.session.commit()
    return token


def _require_owner_or_admin(actor: Principal, user_name: str | None) -> None:
    if not may_manage_credentials_of(actor, user_name):
        raise Forbidden("only system administrators may manage other users' refresh tokens")


def list_tokens(actor: Principal, user_name: str | None = None) -> list[tuple[RefreshToken, str]]:
    _require_owner_or_admin(actor, user_name)
    query = select(RefreshToken, User.name).join(User, RefreshToken.user_id == User.id)
    if user_name is not None:
        query = query.where(User.id == get_user(user_name).id)
    return [(row, name) for row, name in db.session.execute(query.order_by(RefreshToken.id)).all()]


def revoke(actor: Principal, token_id: int) -> None:
    found = db.session.execute(select(RefreshToken, User.name).join(User, RefreshToken.user_id == User.id)
                               .where(RefreshToken.id == token_id)).first()
    if found is None or not may_manage_credentials_of(actor, found[1]):
        raise NotFound(f"refresh token {token_id} does not exist")
    db.session.execute(delete(RefreshToken).where(RefreshToken.id == token_id))
    audit.record(actor, "token.revoke", found[1], id=token_id)
    db.session.commit()


def revoke_all(actor: Principal, user_name: str) -> int:
    _require_owner_or_admin(actor, user_name)
    user = get_user(user_name)
    count = db.session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id)).rowcount
    audit.record(actor, "token.revoke", user_name, count=count)
    db.session.commit()
    return count


def token_summary(row: RefreshToken, user_name: str) -> dict:
    return {"id": row.id, "user": user_name, "client_id": row.client_id,
            "created_at": row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
