"""User accounts: the one place where users are created, changed and removed.

Managing accounts is for system administrators (``core.policy.may_manage_users``);
the one exception is a user changing their own password, which needs the
old one.  Every change that must end existing sessions (a new password,
deactivation) bumps ``credential_version`` and deletes the user's refresh
tokens in the same unit of work, so no worker keeps honouring the old
credential.  Setting a password (one's own or, as an administrator, anyone's,
new accounts included) needs a caller who authenticated with a password: a
stand-in credential never mints a credential (``core.policy.may_create_credentials``).

A local account always wins its name over the directory (services/authn/directory.py), so
creating one with the name of a directory person who has not signed in yet would lock that
person out: with a directory configured, the name is looked up first (service account) and such
a creation is refused unless confirmed (``take_directory_name``); without a service account, or
while the directory does not answer (a break-glass account must still be creatable), it goes
ahead with a warning that it was not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ...core.names import InvalidName, check_user_name
from ...core.policy import Principal, may_create_credentials, may_manage_users
from ...store.models import DIRECTORY_SOURCE, OIDC_SOURCE, RefreshToken, User
from .. import audit
from ..authn.directory_client import DirectoryUnavailable
from ..authn.passwords import check_strength, hash_password
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..unit_of_work import UnitOfWork


def _valid_name(name: str) -> str:
    try:
        return check_user_name(name)
    except InvalidName as exc:
        raise Invalid(str(exc), field="name") from None


def _require_user_admin(actor: Principal) -> None:
    if not may_manage_users(actor):
        raise Forbidden("only system administrators may manage users")


def _require_password_login(actor: Principal) -> None:
    if not may_create_credentials(actor):
        raise Forbidden("setting a password needs a login with a password, not a token or robot secret")


def get_user(uow: UnitOfWork, name: str) -> User:
    """The user row (no permission check: for the service layer's own use)."""
    user = uow.session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {name[:80]!r} does not exist")
    return user


def show_user(uow: UnitOfWork, actor: Principal, name: str) -> User:
    """A user's record: system administrators see anyone, a user sees themself."""
    if actor.subject != name:
        _require_user_admin(actor)
    return get_user(uow, name)  # a robot asking for itself: it has no user record, so 404


def list_users(uow: UnitOfWork, actor: Principal, *, offset: int = 0,
               limit: int | None = None) -> tuple[list[User], int]:
    _require_user_admin(actor)
    total = uow.session.execute(select(func.count()).select_from(User)).scalar()
    query = select(User).order_by(User.name).offset(offset).limit(limit)
    return list(uow.session.execute(query).scalars()), total


def check_new_user_name(uow: UnitOfWork, name: str) -> None:
    """Raise unless ``name`` is valid and free."""
    _valid_name(name)
    source = uow.session.execute(select(User.source).where(User.name == name)).scalar_one_or_none()
    if source == DIRECTORY_SOURCE:
        raise Conflict(f"user {name!r} already exists as a directory account: a local account cannot "
                       "take a directory user's name", field="name")
    if source == OIDC_SOURCE:
        raise Conflict(f"user {name!r} already exists as an account that signs in through the identity "
                       "provider (OIDC)", field="name")
    if source is not None:
        raise Conflict(f"user {name!r} already exists")


#: How a caller confirms taking a directory person's name (named in the refusal).
CONFIRM_DIRECTORY_NAME = "'authsvc user create --yes', or \"take_directory_name\": true in the API"


def check_directory_name(uow: UnitOfWork, name: str, *, take: bool = False) -> str | None:
    """Refuse (unless ``take``) a new local account named like a directory person; a warning to
    show when the creation goes ahead without having been checked, or taking that name."""
    directory = uow.context.authenticator.directory
    if not directory.enabled:
        return None
    if not directory.client.can_search:
        return (f"not checked against the directory (no service account, ldap_bind_dn): if a directory "
                f"person is called {name!r}, this local account locks them out")
    try:
        found = directory.client.find(name) is not None
    except DirectoryUnavailable:
        # Not a refusal: a local (break-glass) account must be creatable while the directory is down.
        return (f"not checked: the directory did not answer whether {name!r} is a person there; if one is, "
                "this local account locks them out")
    if not found:
        return None
    if not take:
        raise Conflict(f"{name!r} is a directory person who has not signed in here yet: a local account of that "
                       f"name would lock them out; to create it anyway, confirm with {CONFIRM_DIRECTORY_NAME}",
                       field="name")
    return f"{name!r} is also a directory person: they cannot sign in while this local account exists"


def require_local_password(user: User) -> None:
    """A directory account's password is the directory's: setting one here would do nothing
    (no local password is ever checked for it), so refuse clearly.  An OIDC person has none at
    all: a password here would be a way in that the provider never vouches for (nor re-checks)."""
    if user.source == DIRECTORY_SOURCE:
        raise Conflict(f"{user.name!r} is a directory account: its password is set in the directory, "
                       "not here", field="password")
    if user.source == OIDC_SOURCE:
        raise Conflict(f"{user.name!r} signs in through the identity provider (OIDC): it has no password "
                       "here; registry clients use a personal access token", field="password")


@dataclass(frozen=True)
class CreatedUser:
    user: User
    #: Set when the name was not checked against the directory, or was taken from it.
    warning: str | None = None


def create_user(uow: UnitOfWork, actor: Principal, name: str, password: str, *, is_admin: bool = False,
                take_directory_name: bool = False) -> User:
    return create_account(uow, actor, name, password, is_admin=is_admin,
                          take_directory_name=take_directory_name).user


def create_account(uow: UnitOfWork, actor: Principal, name: str, password: str, *, is_admin: bool = False,
                   take_directory_name: bool = False) -> CreatedUser:
    """Create a local account; the result names what the adapter must warn about."""
    _require_user_admin(actor)
    _require_password_login(actor)
    check_new_user_name(uow, name)
    check_strength(password)
    warning = check_directory_name(uow, name, take=take_directory_name)
    user = User(name=name, password_hash=hash_password(password, uow.settings.bcrypt_rounds),
                is_admin=is_admin, is_active=True, credential_version=1)
    uow.session.add(user)
    try:
        uow.session.flush()
    except IntegrityError:  # a concurrent create won the race; the adapter rolls the unit back
        raise Conflict(f"user {name!r} already exists") from None
    audit.record(uow, actor, "user.create", name, admin=is_admin,
                 **({"take_directory_name": True} if take_directory_name else {}))
    return CreatedUser(user, warning)


def _end_sessions(uow: UnitOfWork, user: User) -> None:
    user.credential_version += 1
    uow.session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))


def set_password(uow: UnitOfWork, actor: Principal, name: str, password: str, *,
                 old_password: str | None = None) -> User:
    """Set a password: administrators for anyone, a user for themself with the old password
    (checked behind the login throttle, and audited when wrong)."""
    if may_manage_users(actor):
        _require_password_login(actor)
        user = get_user(uow, name)
    elif actor.subject == name:
        _require_password_login(actor)
        user = get_user(uow, name)
        require_local_password(user)  # before the old password is checked (and counted)
        uow.context.authenticator.require_current_password(uow, name, old_password)
    else:
        raise Forbidden("only system administrators may set another user's password")
    require_local_password(user)
    check_strength(password)
    user.password_hash = hash_password(password, uow.settings.bcrypt_rounds)
    _end_sessions(uow, user)
    audit.record(uow, actor, "user.password", name)
    return user


def _keep_an_admin(uow: UnitOfWork, user: User, *, losing: bool) -> None:
    """Refuse to remove the last active system administrator: only the CLI could recover."""
    if losing and user.is_admin and user.is_active:
        others = uow.session.execute(select(func.count()).select_from(User).where(
            User.is_admin.is_(True), User.is_active.is_(True), User.id != user.id)).scalar()
        if not others:
            raise Conflict(f"{user.name!r} is the last active system administrator")


def update_user(uow: UnitOfWork, actor: Principal, name: str, *, is_admin: bool | None = None,
                is_active: bool | None = None) -> User:
    _require_user_admin(actor)
    user = get_user(uow, name)
    _keep_an_admin(uow, user, losing=is_admin is False or is_active is False)
    if is_admin is not None:
        user.is_admin = is_admin
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            _end_sessions(uow, user)
    audit.record(uow, actor, "user.update", name, admin=is_admin, active=is_active)
    return user


def delete_user(uow: UnitOfWork, actor: Principal, name: str) -> None:
    """Remove the user; memberships and refresh tokens go with it (foreign-key cascades).

    User ids are never reused (AUTOINCREMENT / a sequence), so nothing that names the old id --
    a cache entry, an API token -- can ever match an account created later under the same name.
    """
    _require_user_admin(actor)
    user = get_user(uow, name)
    _keep_an_admin(uow, user, losing=True)
    uow.session.delete(user)
    audit.record(uow, actor, "user.delete", name)


def user_summary(user: User) -> dict:
    return {"name": user.name, "admin": user.is_admin, "active": user.is_active, "source": user.source,
            "email": user.email, "display_name": user.display_name,
            "created_at": user.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
