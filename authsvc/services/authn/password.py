"""The password verifier: throttle first, then the verified-credential cache, then bcrypt.

The order is the point.  The throttle is looked at before anything else (in
the same query that reads the user row), so a pair blocked for guessing is
refused with 429 even for the right password and even when that password is
in the cache; only then may the cache spare a bcrypt run; only then does
bcrypt run -- against a dummy hash for unknown names, made at the cost real
hashes have, so that neither the answer nor its timing tells an unknown user
from a wrong password.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select, update

from ... import metrics
from ...core.names import InvalidName, check_user_name
from ...core.policy import CredentialKind, Principal
from ...core.text import storable_copy
from ...store import queries
from ...store.models import DIRECTORY_SOURCE, User
from ..unit_of_work import UnitOfWork
from . import throttle
from .cache import VerifiedCredentialCache
from .directory import DirectoryAccounts
from .identity import Identity, NameAndSecret
from .passwords import SCHEME, DummyHash, hash_password, needs_rehash, verify_password

#: How long a worker keeps its estimate of the cost stored hashes have (see :meth:`_dummy`).
DUMMY_COST_RECHECK_SECONDS = 3600
_users = User.__table__
# "bcrypt-sha256$$2b$12$...": the two digits after the bcrypt version are the cost.
_COST = func.substr(_users.c.password_hash, len(SCHEME) + 5, 2)
_COMMON_COST = (select(_COST).where(_users.c.password_hash.startswith(SCHEME))
                .group_by(_COST).order_by(func.count().desc()).limit(1))


def storable(name: str) -> str:
    """A claimed login name as the throttle and the audit log store it: anything can be typed as
    a user name, and a refused attempt must still be recorded (core.text escapes what no column
    takes)."""
    return storable_copy(name, throttle.ACCOUNT_MAX)


class PasswordVerifier:
    kind = "password"
    #: Wrong passwords can be guessed: each failure counts toward the (name, source) throttle.
    throttled = True

    def __init__(self, cache: VerifiedCredentialCache, directory: DirectoryAccounts):
        self.cache = cache
        #: Names that are not local accounts are checked there, behind the same throttle.
        self.directory = directory
        self._dummy_hash: DummyHash | None = None
        self._dummy_checked = 0.0

    def claimed_name(self, uow: UnitOfWork, credential: NameAndSecret) -> str:
        """Whom a refused attempt claimed to be, as the audit log and the throttle store it."""
        return storable(credential.name.lower())

    def accepts(self, credential) -> bool:
        return isinstance(credential, NameAndSecret)

    def verify(self, uow: UnitOfWork, credential: NameAndSecret) -> Identity | None:
        name, password = credential.name.lower(), credential.secret
        try:
            check_user_name(name)
            user = queries.user_with_counter(uow.reads, name, uow.source)
        except InvalidName:
            user = None
        if user is not None:
            counter = throttle.Counter(user.failures, user.blocked_until) if user.failures is not None else None
        else:
            counter = throttle.read(uow.reads, storable(name), uow.source)
        throttle.refuse_if_blocked(uow.settings, counter)

        if self.directory.enabled and (user is None or user.source == DIRECTORY_SOURCE):
            # Raises DirectoryUnavailable (503, not counted) when the directory does not answer.
            identity = self.directory.sign_in(uow, name, password, user)
            if identity is None:
                uow.before_slow_work()
                self._dummy(uow).burn(password)  # a refusal costs what a local one costs
            if identity is not None and counter is not None:
                throttle.clear(uow, name)
            return identity
        key = self.cache.key(name, password)
        if user is None or user.source == DIRECTORY_SOURCE:  # no directory configured: no password works
            uow.before_slow_work()
            self._dummy(uow).burn(password)
            metrics.password_checked(None)
            return None
        if not (user.is_active and self.cache.holds(key, user.id, user.credential_version)):
            uow.before_slow_work()
            valid = verify_password(password, user.password_hash)
            # An inactive account's right password counts as invalid: /metrics must not tell
            # an existing account from an unknown one.
            metrics.password_checked(valid and bool(user.is_active))
            if not valid or not user.is_active:
                return None
            # Re-hash before remembering: a unit that cannot write stops here with the cache
            # untouched, so the unit that answers instead still finds a miss and re-hashes.
            self._upgrade_hash(uow, user, password)
            self.cache.remember(key, user.id, user.credential_version)
        if counter is not None:
            throttle.clear(uow, name)
        principal = Principal(user.name, bool(user.is_admin), credential=CredentialKind.PASSWORD)
        return Identity(principal, self.kind, user.id, user.credential_version)

    def check_current(self, uow: UnitOfWork, user_name: str, password: str) -> bool:
        """Whether ``password`` is ``user_name``'s current one, behind the same throttle as a login.

        For a self-service password change: the caller is already authenticated (perhaps with
        a stolen personal token), so the old password must not be a free oracle for guessing
        the real one.  Raises :class:`~.throttle.Throttled` while the pair is blocked.
        """
        user = queries.user_with_counter(uow.reads, user_name, uow.source)
        counter = throttle.Counter(user.failures, user.blocked_until) if user and user.failures is not None else None
        throttle.refuse_if_blocked(uow.settings, counter)
        valid = user is not None and verify_password(password, user.password_hash)
        metrics.password_checked(valid)
        if valid and counter is not None:
            throttle.clear(uow, user_name)
        return valid

    def _upgrade_hash(self, uow: UnitOfWork, user, password: str) -> None:
        """Re-hash at the configured cost after a login, so that a raised ``bcrypt_rounds``
        reaches every account that is in use (the credential version stays: same password).  A
        lasting write: it survives a refusal later in the same request."""
        rounds = uow.settings.bcrypt_rounds
        if needs_rehash(user.password_hash, rounds):
            new_hash = hash_password(password, rounds)
            with uow.lasting() as connection:
                connection.execute(
                    update(_users).where(_users.c.id == user.id, _users.c.password_hash == user.password_hash)
                    .values(password_hash=new_hash))

    def _dummy(self, uow: UnitOfWork) -> DummyHash:
        """A dummy hash at the cost most stored hashes have (looked up once an hour per worker):
        after a ``bcrypt_rounds`` change, accounts keep their old cost until they log in."""
        now = time.monotonic()
        if self._dummy_hash is None or now >= self._dummy_checked + DUMMY_COST_RECHECK_SECONDS:
            self._dummy_checked = now
            common = uow.session.connection().execute(_COMMON_COST).scalar()
            rounds = int(common) if common and str(common).isdigit() else uow.settings.bcrypt_rounds
            if self._dummy_hash is None or self._dummy_hash.rounds != rounds:
                self._dummy_hash = DummyHash(rounds)
        return self._dummy_hash


__all__ = ["PasswordVerifier", "storable"]
