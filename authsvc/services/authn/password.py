"""The password verifier: throttle first, then the verified-credential cache, then bcrypt.

The order is the point.  The throttle is looked at before anything else (in
the same query that reads the user row), so a pair blocked for guessing is
refused with 429 even for the right password and even when that password is
in the cache; only then may the cache spare a bcrypt run; only then does
bcrypt run.  A refusal always costs the same bcrypt work, that of one check at
the highest cost in use (:class:`RefusalCost`), so that neither the answer nor
its timing tells an unknown user from a wrong password, nor an account whose
hash has one cost from an account whose hash has another.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select, update

from ... import metrics
from ...core.names import InvalidName, check_user_name
from ...core.policy import CredentialKind, Principal
from ...core.text import storable_copy
from ...store import queries
from ...store.models import DIRECTORY_SOURCE, LOCAL_SOURCE, User
from ..unit_of_work import UnitOfWork
from . import throttle
from .cache import VerifiedCredentialCache
from .directory import DirectoryAccounts
from .identity import Identity, NameAndSecret
from .passwords import SCHEME, DummyHash, cost_of, hash_password, needs_rehash, verify_password

#: How long a worker trusts its reading of the highest cost among stored hashes (see RefusalCost).
CEILING_RECHECK_SECONDS = 3600
_users = User.__table__
# "bcrypt-sha256$$2b$12$...": the two digits after the bcrypt version are the cost (always two, so
# the highest string is the highest cost).
_COST = func.substr(_users.c.password_hash, len(SCHEME) + 5, 2)
_HIGHEST_COST = select(func.max(_COST)).where(_users.c.password_hash.startswith(SCHEME))


class RefusalCost:
    """Makes every refused password check cost one bcrypt check at the ceiling cost C.

    C is the highest of the configured ``bcrypt_rounds`` and the costs of the stored hashes:
    after an operator raises (or lowers) the cost, old hashes keep theirs until their owner signs
    in, so both kinds live side by side for months.  An unknown name (or an account no local
    password opens) is checked against a dummy hash of cost C; a wrong password against a hash of
    cost c < C is followed by dummy checks of costs c, c+1, ..., C-1.  bcrypt's work doubles with
    each cost step, so that is 2^c + 2^c + ... + 2^(C-1) = 2^C: the same work, not a sleep that a
    busy machine would stretch differently from the real checks.  Only refusals are padded; a
    right password costs what its own hash costs (and is re-hashed at the configured cost).

    C is read from the database once per :data:`CEILING_RECHECK_SECONDS` per worker (one
    aggregate over the users table), and raised at once when a worker meets a hash above it.
    """

    def __init__(self):
        self._ceiling: int | None = None
        self._read_at = 0.0
        self._dummies: dict[int, DummyHash] = {}

    def ceiling(self, uow: UnitOfWork) -> int:
        now = time.monotonic()
        if self._ceiling is None or now >= self._read_at + CEILING_RECHECK_SECONDS:
            self._read_at = now
            stored = uow.session.connection().execute(_HIGHEST_COST).scalar()
            highest = int(stored) if stored and str(stored).isdigit() else 0
            self._ceiling = max(highest, uow.settings.bcrypt_rounds)
        return max(self._ceiling, uow.settings.bcrypt_rounds)

    def seen(self, stored_hash: str) -> None:
        """A hash was read: one above the ceiling raises it now, not at the next re-read."""
        cost = cost_of(stored_hash)
        if cost is not None and self._ceiling is not None and cost > self._ceiling:
            self._ceiling = cost

    def pad(self, uow: UnitOfWork, password: str, checked_cost: int | None) -> None:
        """Bring a refusal up to one check at the ceiling cost: ``checked_cost`` is the cost of
        the check already made, None when none was (an unknown name)."""
        top = self.ceiling(uow)
        costs = [top] if checked_cost is None else range(max(checked_cost, 4), top)
        for cost in costs:
            self._dummy(cost).burn(password)

    def _dummy(self, cost: int) -> DummyHash:
        dummy = self._dummies.get(cost)
        if dummy is None:
            dummy = self._dummies[cost] = DummyHash(cost)
        return dummy


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
        #: What every refusal is brought up to (an unknown name, a wrong password, whatever cost).
        self.refusal = RefusalCost()

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
                self.refusal.pad(uow, password, None)  # a refusal costs what a local one costs
            if identity is not None and counter is not None:
                throttle.clear(uow, name)
            return identity
        key = self.cache.key(name, password)
        # No directory configured: no directory person's password works.  An OIDC person never has
        # one (whatever the row's hash says: the provider must vouch for every way in).  Refused at
        # the cost of any refusal, never a bcrypt of the row's marker.
        if user is None or user.source != LOCAL_SOURCE:
            uow.before_slow_work()
            self.refusal.pad(uow, password, None)
            metrics.password_checked(None)
            return None
        if not (user.is_active and self.cache.holds(key, user.id, user.credential_version)):
            uow.before_slow_work()
            self.refusal.seen(user.password_hash)
            valid = verify_password(password, user.password_hash)
            # An inactive account's right password counts as invalid: /metrics must not tell
            # an existing account from an unknown one -- and neither must the time it took.
            metrics.password_checked(valid and bool(user.is_active))
            if not valid or not user.is_active:
                self.refusal.pad(uow, password, cost_of(user.password_hash))
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
        if not valid:
            self.refusal.pad(uow, password, cost_of(user.password_hash) if user is not None else None)
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


__all__ = ["PasswordVerifier", "RefusalCost", "storable"]
