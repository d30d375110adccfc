"""Directory accounts: passwords checked by LDAP / Active Directory, groups read from it.

The password verifier (:mod:`.password`) hands a name and password here when the name is not a
local account -- *after* it has looked at the throttle, so the order is the same as for local
accounts: throttle, then the verified-credential cache, then the directory (search, bind as the
user, read the groups).  A local account always wins its name: a directory login whose name is
taken by a local account is checked against the local password, never the directory's, and a
local account cannot be created with a directory user's name (accounts.py).

A user is provisioned on their first sign-in (name, e-mail, display name from the configured
attributes) with ``source = 'ldap'`` and an unusable password hash, so no local password ever
works for them.  Their groups are read at each directory check and kept in two places, each
for at most ``credential_cache_ttl``: in the cache entry (password logins: a repeated password
costs neither a bind nor a search) and on the user row with the time they were read (stand-in
credentials -- refresh tokens, API tokens, personal tokens -- which carry no password: once
the row's groups are older than the bound they are re-read with the service account, or, with
no service account, the stand-in is refused until the person signs in with their password).
So removing someone from a group in the directory takes their access away within that bound,
whatever credential they use.

What this module writes in the unit -- a provisioned or refreshed account row, groups read again --
is a lasting write (``UnitOfWork.lasting``): it stands for a credential the directory accepted,
and survives a refusal later in the same request.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from ... import metrics
from ...core.names import InvalidName, check_user_name
from ...core.policy import CredentialKind, Principal
from ...core.text import storable_copy
from ...settings import Settings
from ...store.models import DIRECTORY_SOURCE, User, utcnow
from ..unit_of_work import UnitOfWork
from .cache import VerifiedCredentialCache
from .directory_client import DirectoryClient, DirectoryEntry, DirectoryUnavailable
from .identity import Identity

#: What a directory user's ``password_hash`` holds: no scheme, so verify_password always fails.
NO_LOCAL_PASSWORD = "!directory"
_users = User.__table__
_EMAIL_MAX, _DISPLAY_MAX = 254, 200


def parse_groups(stored: str | None) -> frozenset[str]:
    return frozenset(line for line in (stored or "").split("\n") if line)


def _stored_groups(groups: frozenset[str]) -> str:
    return "\n".join(sorted(groups))


class DirectoryAccounts:
    """The directory, if one is configured (``ldap_url``), and what its users hold."""

    def __init__(self, settings: Settings, cache: VerifiedCredentialCache):
        self.cache = cache
        self.client = DirectoryClient(settings) if settings.ldap_url else None
        self.admin_group = settings.ldap_admin_group.lower()

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def is_admin(self, user, groups: frozenset[str]) -> bool:
        return bool(user.is_admin) or (bool(self.admin_group) and self.admin_group in groups)

    def sign_in(self, uow: UnitOfWork, name: str, password: str, user) -> Identity | None:
        """The identity for a directory user's password, or None (unknown and wrong alike).

        ``user`` is the row already read for ``name`` (None on a first sign-in); the caller has
        checked the throttle.  Raises :class:`DirectoryUnavailable` when the directory does not
        answer: the caller must neither count that as a failure nor answer 401.
        """
        try:
            check_user_name(name)
        except InvalidName:
            metrics.password_checked(None)
            return None  # `*)(uid=*`, NUL bytes and the like never reach the directory
        key = self.cache.key(name, password)
        groups = None
        if user is not None:
            if not user.is_active:
                metrics.password_checked(None)
                return None
            groups = self.cache.recall(key, user.id, user.credential_version)
        if groups is None:
            uow.before_slow_work()  # a bind and searches: not for the fast token path (it hands over)
            found = self.client.authenticate(name, password)
            metrics.password_checked(found is not None)  # a password check (the directory's), a cache miss
            if found is None:
                return None
            entry, groups = found
            user = self._provision(uow, user, entry, groups)
            if user is None:
                return None
            self.cache.remember(key, user.id, user.credential_version, groups)
        principal = Principal(user.name, self.is_admin(user, groups), credential=CredentialKind.PASSWORD,
                              groups=groups)
        return Identity(principal, "password", user.id, user.credential_version)

    def standing(self, uow: UnitOfWork, user) -> tuple[bool, frozenset[str]] | None:
        """(system administrator?, groups) for a stand-in credential's owner; None to refuse it.

        A local user: their row's admin flag, no groups.  A directory user: the groups on their
        row while younger than ``credential_cache_ttl``, else read again with the service account
        (None if the directory no longer has them, or there is no service account to ask).
        """
        if user.source != DIRECTORY_SOURCE:
            return bool(user.is_admin), frozenset()
        bound = dt.timedelta(seconds=uow.settings.credential_cache_ttl)
        if user.groups_read_at is not None and user.groups_read_at + bound > utcnow():
            groups = parse_groups(user.directory_groups)
        elif self.client is None or not self.client.can_search:
            return None
        else:
            uow.before_slow_work()
            groups = self.client.groups_of(user.name)
            if groups is None:
                return None
            with uow.lasting() as connection:
                connection.execute(update(_users).where(_users.c.id == user.id).values(
                    directory_groups=_stored_groups(groups), groups_read_at=utcnow()))
        return self.is_admin(user, groups), groups

    def _provision(self, uow: UnitOfWork, user, entry: DirectoryEntry, groups: frozenset[str]):
        """Create the account on a first sign-in, else refresh what the directory says of it."""
        # What the directory says is stored as it is, but never refused: a NUL would stop PostgreSQL.
        values = dict(email=storable_copy(entry.email or "", _EMAIL_MAX) or None,
                      display_name=storable_copy(entry.display_name or "", _DISPLAY_MAX) or None,
                      directory_groups=_stored_groups(groups), groups_read_at=utcnow())
        with uow.lasting() as connection:
            if user is not None:
                connection.execute(update(_users).where(_users.c.id == user.id).values(**values))
                return user
            try:
                with connection.begin_nested():
                    connection.execute(insert(_users).values(
                        name=entry.name.lower(), password_hash=NO_LOCAL_PASSWORD, is_admin=False, is_active=True,
                        credential_version=1, source=DIRECTORY_SOURCE, **values))
            except IntegrityError:
                pass  # another request provisioned them first: use that row
            row = connection.execute(select(_users.c.id, _users.c.name, _users.c.is_admin, _users.c.is_active,
                                            _users.c.credential_version, _users.c.source)
                                     .where(_users.c.name == entry.name.lower())).first()
        return row if row is not None and row.source == DIRECTORY_SOURCE and row.is_active else None


__all__ = ["DirectoryAccounts", "DirectoryUnavailable", "NO_LOCAL_PASSWORD", "parse_groups"]
