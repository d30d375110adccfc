"""User accounts: the one place where users are created, changed and removed.

Every change that must end existing sessions (a new password, deactivation)
bumps ``credential_version`` and deletes the user's refresh tokens in the
same transaction, so no worker can keep honouring the old credential.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..core.names import InvalidName, check_user_name
from ..store.models import RefreshToken, User, db
from .errors import Conflict, Invalid, NotFound
from .passwords import check_strength, hash_password


def _valid_name(name: str) -> str:
    try:
        return check_user_name(name)
    except InvalidName as exc:
        raise Invalid(str(exc), field="name") from None


def get_user(name: str) -> User:
    user = db.session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {name[:80]!r} does not exist")
    return user


def list_users() -> list[User]:
    return list(db.session.execute(select(User).order_by(User.name)).scalars())


def check_new_user_name(name: str) -> None:
    """Raise unless ``name`` is valid and free."""
    _valid_name(name)
    if db.session.execute(select(func.count()).select_from(User).where(User.name == name)).scalar():
        raise Conflict(f"user {name!r} already exists")


def create_user(name: str, password: str, *, is_admin: bool = False, bcrypt_rounds: int) -> User:
    check_new_user_name(name)
    check_strength(password)
    user = User(name=name, password_hash=hash_password(password, bcrypt_rounds), is_admin=is_admin,
                is_active=True, credential_version=1)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent create won the race
        db.session.rollback()
        raise Conflict(f"user {name!r} already exists") from None
    return user


def _end_sessions(user: User) -> None:
    user.credential_version += 1
    db.session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))


def set_password(name: str, password: str, *, bcrypt_rounds: int) -> User:
    check_strength(password)
    user = get_user(name)
    user.password_hash = hash_password(password, bcrypt_rounds)
    _end_sessions(user)
    db.session.commit()
    return user


def update_user(name: str, *, is_admin: bool | None = None, is_active: bool | None = None) -> User:
    user = get_user(name)
    if is_admin is not None:
        user.is_admin = is_admin
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            _end_sessions(user)
    db.session.commit()
    return user


def delete_user(name: str) -> None:
    """Remove the user; memberships and refresh tokens go with it (foreign-key cascades)."""
    user = get_user(name)
    db.session.delete(user)
    db.session.commit()


def user_summary(user: User) -> dict:
    return {"name": user.name, "admin": user.is_admin, "active": user.is_active,
            "created_at": user.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
