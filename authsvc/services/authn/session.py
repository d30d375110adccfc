"""Console sessions: who a signed-in browser is, re-checked against the account on every request.

A console session is opened only by the account's own password (through the same
:class:`~.chain.Authenticator` as ``/token``, so the throttle, the verified-credential cache and
every future password verifier apply) and remembers the user's id and ``credential_version``.
:func:`resume` reads the row again for each request, so a password change, deactivation or
deletion -- made by any worker or instance -- ends every session at once, as it ends refresh
tokens and cached passwords.  The principal carries ``CredentialKind.PASSWORD``: the session is
the password login itself, short-lived (idle and absolute limits, kept by console_sessions.py) and
bound to the password's version, so it may do what a password login may.

The session itself -- its row, its secret, its limits, signing out -- is
``services/credentials/console_sessions.py``'s, which reads the account with the session row
(:data:`USER_COLUMNS`) and judges it with :func:`identity_of`.
"""

from __future__ import annotations

from sqlalchemy import select

from ...core.policy import CredentialKind, Principal
from ...store.models import User
from ..errors import Unauthorized
from ..unit_of_work import UnitOfWork
from .identity import Identity, NameAndSecret
from .password import storable

#: The ``Identity.kind`` of a request that came with a console session cookie.
KIND = "console_session"


def sign_in(uow: UnitOfWork, name: str, password: str) -> Identity:
    """The identity a console sign-in opens a session for; :class:`Unauthorized` (one message for
    every cause) or :class:`~.throttle.Throttled` otherwise.

    Whatever the chain accepts that is not a password -- a personal access token, a robot
    secret -- is refused like a wrong password (and audited as a failed login): a session must
    never outlive the stand-in credential that opened it.
    """
    authenticator = uow.context.authenticator
    identity = authenticator.authenticate(uow, NameAndSecret(name, password))
    if identity.principal.credential != CredentialKind.PASSWORD or identity.user_id is None:
        authenticator.refuse(uow, storable(name.lower()), check="console_password_only")
    return identity


#: What :func:`identity_of` needs from the account row (the console's session read joins them).
USER_COLUMNS = (User.id, User.name, User.is_admin, User.is_active, User.credential_version, User.source,
                User.directory_groups, User.groups_read_at)


def resume(uow: UnitOfWork, user_id: int, credential_version: int) -> Identity | None:
    """The identity behind a session cookie, or None when the account is gone, inactive, or its
    credentials changed since the session was opened."""
    row = uow.session.execute(select(*USER_COLUMNS).where(User.id == user_id)).first()
    if row is None or row.credential_version != credential_version:
        return None
    return identity_of(uow, row)


def identity_of(uow: UnitOfWork, row) -> Identity | None:
    """The identity of an account row read with :data:`USER_COLUMNS`, or None when it is inactive
    or (a directory user) its groups aged out and cannot be read again."""
    if not row.is_active:
        return None
    # A directory or OIDC person's groups (and the admin group) as for any stand-in credential: never
    # older than credential_cache_ttl, asked again when older, and the session ends if they cannot be.
    standing = uow.context.authenticator.standing.of(uow, row)
    if standing is None:
        return None
    principal = Principal(row.name, standing[0], credential=CredentialKind.PASSWORD, groups=standing[1])
    return Identity(principal, KIND, row.id, row.credential_version)


__all__ = ["KIND", "USER_COLUMNS", "identity_of", "resume", "sign_in", "Unauthorized"]
