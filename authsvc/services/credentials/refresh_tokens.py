"""Refresh tokens: what ``docker login`` keeps instead of the password.

A refresh token is opaque and random; only its SHA-256 is stored.  It is not
rotated on use (docker stores it once, as its ``identitytoken``), it dies
with its user, with a password change or deactivation (``credential_version``),
and an operator can revoke it.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from ...core.credential_secrets import digest, new_secret
from ...core.policy import Principal, may_manage_credentials_of
from ...store.models import RefreshToken, User
from .. import audit
from ..access.accounts import get_user
from ..authn import Identity
from ..errors import Forbidden, NotFound
from ..unit_of_work import UnitOfWork

_refresh = RefreshToken.__table__


def issue(uow: UnitOfWork, identity: Identity, client_id: str) -> str:
    """A new refresh token for a password login, bound to its account's credential version."""
    token = new_secret()
    uow.session.connection().execute(insert(_refresh).values(
        token_hash=digest(token), user_id=identity.user_id, credential_version=identity.credential_version,
        client_id=client_id[:64]))
    return token


def _require_owner_or_admin(actor: Principal, user_name: str | None) -> None:
    if not may_manage_credentials_of(actor, user_name):
        raise Forbidden("only system administrators may manage other users' refresh tokens")


def list_tokens(uow: UnitOfWork, actor: Principal, user_name: str | None = None) -> list[tuple[RefreshToken, str]]:
    _require_owner_or_admin(actor, user_name)
    query = select(RefreshToken, User.name).join(User, RefreshToken.user_id == User.id)
    if user_name is not None:
        query = query.where(User.id == get_user(uow, user_name).id)
    return [(row, name) for row, name in uow.session.execute(query.order_by(RefreshToken.id)).all()]


def revoke(uow: UnitOfWork, actor: Principal, token_id: int) -> None:
    found = uow.session.execute(select(RefreshToken, User.name).join(User, RefreshToken.user_id == User.id)
                                .where(RefreshToken.id == token_id)).first()
    if found is None or not may_manage_credentials_of(actor, found[1]):
        raise NotFound(f"refresh token {token_id} does not exist")
    uow.session.execute(delete(RefreshToken).where(RefreshToken.id == token_id))
    audit.record(uow, actor, "token.revoke", found[1], id=token_id)


def revoke_all(uow: UnitOfWork, actor: Principal, user_name: str) -> int:
    _require_owner_or_admin(actor, user_name)
    user = get_user(uow, user_name)
    count = uow.session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id)).rowcount
    audit.record(uow, actor, "token.revoke", user_name, count=count)
    return count


def token_summary(row: RefreshToken, user_name: str) -> dict:
    return {"id": row.id, "user": user_name, "client_id": row.client_id,
            "created_at": row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "last_used_at": row.last_used_at.strftime("%Y-%m-%dT%H:%M:%SZ") if row.last_used_at else None}
