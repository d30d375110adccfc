"""User accounts: the one place where users are created, changed and removed.

Managing accounts is for system administrators (``core.policy.may_manage_users``);
the one exception is a user changing their own password, which needs the
old one.  Every change that must end existing sessions (a new password,
deactivation) bumps ``credential_version`` and deletes the user's refresh
tokens in the same transaction, so no worker keeps honouring the old
credential.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..core.names import InvalidName, check_user_name
from ..core.policy import Principal, may_manage_users
from ..store.models import RefreshToken, User, db
from . import audit
from .context import current
from .errors import Conflict, Forbidden, Invalid, NotFound
from .passwords import check_strength, hash_password, verify_password


def _valid_name(name: str) -> str:
    try:
        return check_user_name(name)
    except InvalidName as exc:
        raise Invalid(str(exc), field="name") from None


def _require_user_admin(actor: Principal) -> None:
    if not may_manage_users(actor):
        raise Forbidden("only system administrators may manage users")


def get_user(name: str) -> User:
    """The user row (no permission check: for the service layer's own use)."""
    user = db.session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {name[:80]!r} does not exist")
    return user


def show_user(actor: Principal, name: str) -> User:
    """A user's record: system administrators see anyone, a user sees themself."""
    if actor.subject != name:
        _require_user_admin(actor)
    return get_user(name)  # a robot asking for itself: it has no user record, so 404


def list_users(actor: Principal, *, offset: int = 0, limit: int | None = None) -> tuple[list[User], int]:
    _require_user_admin(actor)
    total = db.session.execute(select(func.count()).select_from(User)).scalar()
    query = select(User).order_by(User.name).offset(offset).limit(limit)
    return list(db.session.execute(query).scalars()), total


def check_new_user_name(name: str) -> None:
    """Raise unless ``name`` is valid and free."""
    _valid_name(name)
    if db.session.execute(select(func.count()).select_from(User).where(User.name == name)).scalar():
        raise Conflict(f"user {name!r} already exists")


def create_user(actor: Principal, name: str, password: str, *, is_admin: bool = False) -> User:
    _require_user_admin(actor)
    check_new_user_name(name)
    check_strength(password)
    user = User(name=name, password_hash=hash_password(password, current().settings.bcrypt_rounds),
                is_admin=is_admin, is_active=True, credential_version=1)
    db.session.add(user)
    audit.record(actor, "user.create", name, admin=is_admin)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent create won the race
        db.session.rollback()
        raise Conflict(f"user {name!r} already exists") from None
    return user


def _end_sessions(user: User) -> None:
    user.credential_version += 1
    db.session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))


def set_password(actor: Principal, name: str, password: str, *, old_password: str | None = None) -> User:
    """Set a password: administrators for anyone, a user for themself with the old password."""
    if may_manage_users(actor):
        user = get_user(name)
    elif actor.subject == name:
        user = get_user(name)
        if old_password is None or not verify_password(old_password, user.password_hash):
            # 403, not 401: the caller is authenticated; this is not a failed login.
            raise Forbidden("changing your own password needs your current password as old_password",
                            field="old_password")
    else:
        raise Forbidden("only system administrators may set another user's password")
    check_strength(password)
    user.password_hash = hash_password(password, current().settings.bcrypt_rounds)
    _end_sessions(user)
    audit.record(actor, "user.password", name)
    db.session.commit()
    return user


def _keep_an_admin(user: User, *, losing: bool) -> None:
    """Refuse to remove the last active system administrator: only the CLI could recover."""
    if losing and user.is_admin and user.is_active:
        others = db.session.execute(select(func.count()).select_from(User).where(
            User.is_admin.is_(True), User.is_active.is_(True), User.id != user.id)).scalar()
        if not others:
            raise Conflict(f"{user.name!r} is the last active system administrator")


def update_user(actor: Principal, name: str, *, is_admin: bool | None = None,
                is_active: bool | None = None) -> User:
    _require_user_admin(actor)
    user = get_user(name)
    _keep_an_admin(user, losing=is_admin is False or is_active is False)
    if is_admin is not None:
        user.is_admin = is_admin
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            _end_sessions(user)
    audit.record(actor, "user.update", name, admin=is_admin, active=is_active)
    db.session.commit()
    return user


def delete_user(actor: Principal, name: str) -> None:
    """Remove the user; memberships and refresh tokens go with it (foreign-key cascades)."""
    _require_user_admin(actor)
    user = get_user(name)
    _keep_an_admin(user, losing=True)
    db.session.delete(user)
    audit.record(actor, "user.delete", name)
    db.session.commit()


def user_summary(user: User) -> dict:
    return {"name": user.name, "admin": user.is_admin, "active": user.is_active,
            "created_at": user.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
