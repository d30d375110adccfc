"""Authentication: who is calling, from a password or a refresh token.

Authentication is kept apart from authorization (``core.policy``): this
module only turns credentials into a user row, or refuses with one message
whatever went wrong, so that nobody can tell an unknown user from a wrong
password by the answer or by its timing.

Registry clients other than docker (podman, skopeo, containerd on every
Kubernetes node) send the password with *every* token request, several per
pull.  bcrypt is deliberately slow, so a password verified once is
remembered for a short time in :class:`VerifiedCredentialCache`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import datetime as dt
import threading
import time

from sqlalchemy import Row

from dataclasses import dataclass

from .. import metrics
from ..core.names import InvalidName, check_user_name, parse_robot_login
from ..core.policy import ANONYMOUS, Principal
from ..store import queries
from ..store.models import db, utcnow
from . import audit, personal_tokens, robots, throttle
from .errors import Unauthorized
from .passwords import DummyHash, verify_password


class VerifiedCredentialCache:
    """Remembers (username, password) pairs that bcrypt has already accepted.

    The key is an HMAC of name and password under a per-process random
    secret, so neither the password nor a reusable hash of it is kept.  An
    entry also remembers the user's id and ``credential_version``; it counts
    only while the row loaded for this request still has both, so a password
    change, deactivation or deletion made by any worker or instance ends it
    at the next request.  Only successful checks are stored.
    """

    def __init__(self, ttl_seconds: int, max_entries: int = 10_000, clock=time.monotonic):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[int, int, float]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, name: str, password: str) -> bytes:
        message = name.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def holds(self, key: bytes, user: Row) -> bool:
        if self.ttl <= 0:
            return False
        entry = self._entries.get(key)
        valid = (entry is not None and entry[0] == user.id and entry[1] == user.credential_version
                 and entry[2] > self._clock())
        if valid:
            self.hits += 1
        else:
            self.misses += 1
        metrics.cache_lookup(valid)
        return valid

    def remember(self, key: bytes, user: Row) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._evict()
            self._entries[key] = (user.id, user.credential_version, self._clock() + self.ttl)

    def _evict(self) -> None:
        now = self._clock()
        for key in [k for k, (_, _, expires) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self.max_entries:  # still full: drop the oldest entries
            del self._entries[next(iter(self._entries))]


@dataclass(frozen=True)
class Identity:
    """Who authenticated, as the rest of the request needs it.

    ``user_id`` is whose memberships count (None for anonymous callers and
    robots); ``refreshable`` is the user row when this login may be handed a
    refresh token — only a real password login: a refresh token obtained
    with a personal token would outlive that token's expiry or revocation.
    """

    principal: Principal
    user_id: int | None = None
    refreshable: Row | None = None


ANONYMOUS_IDENTITY = Identity(ANONYMOUS)


def _storable(name: str) -> str:
    """A claimed login name as the throttle and the audit log may store it.

    Anything can be typed as a user name; a NUL or an unpaired surrogate
    would make the database refuse the row (and the request fail with 503),
    so such characters are escaped.  Valid names pass unchanged.
    """
    if name.isprintable() and name.isascii():
        return name
    return "".join(c if c.isprintable() and c.isascii() else f"\\u{ord(c):04x}" for c in name)[:80]


def _person(user: Row, *, refreshable: bool) -> Identity:
    return Identity(Principal(user.name, bool(user.is_admin)), user.id, user if refreshable else None)


class Authenticator:
    """Checks passwords (with the cache and the throttle), personal tokens, robot secrets and
    refresh tokens against the store."""

    def __init__(self, cache: VerifiedCredentialCache, settings):
        self.cache = cache
        self.settings = settings
        self._dummy: DummyHash | None = None

    def _burn(self, password: str) -> None:
        if self._dummy is None:
            self._dummy = DummyHash(self.settings.bcrypt_rounds)
        self._dummy.burn(password)

    def by_password(self, name: str, password: str) -> Identity:
        """The identity behind a name and password (or personal token, or robot secret).

        Robots (``robot.<project>.<name>``) and personal tokens (``asvc_pat_…``)
        carry 256 random bits, so they are checked by a SHA-256 lookup: no
        bcrypt, no cache and no throttle are needed.  For passwords a cache
        hit costs one query (the user row); on a miss the (name, source)
        pair's throttle is checked first (:class:`Throttled`, before any
        bcrypt work), then bcrypt runs — against a dummy hash for unknown
        names, so they cost the same time as wrong passwords.  Names are
        matched lower-cased, as the grammars only admit lower case.
        """
        name = name.lower()
        robot = parse_robot_login(name)
        if robot is not None:
            principal = robots.principal_for(queries.robot_by_login(*robot), password)
            if principal is None:
                self._fail(name, kind="robot", counted=False)
            metrics.login("robot", True)
            return Identity(principal)
        if password.startswith(personal_tokens.PREFIX):
            row = queries.personal_token_owner(personal_tokens.hash_token(password))
            if not personal_tokens.usable(row, name):
                self._fail(name, kind="personal_token", counted=False)
            metrics.login("personal_token", True)
            personal_tokens.note_use(row)
            return _person(row, refreshable=False)
        return self._by_real_password(name, password)

    def _by_real_password(self, name: str, password: str) -> Identity:
        try:
            check_user_name(name)
            user = queries.user_by_name(name)
        except InvalidName:
            user = None
        key = self.cache.key(name, password)
        if user is not None and user.is_active and self.cache.holds(key, user):
            metrics.login("password", True)
            return _person(user, refreshable=True)
        counter = throttle.check(self.settings, _storable(name), audit.current_source())
        if user is None:
            self._burn(password)
            metrics.password_checked(None)
            self._fail(name, kind="password")
        valid = verify_password(password, user.password_hash)
        metrics.password_checked(valid)
        if not valid or not user.is_active:
            self._fail(name, kind="password")
        self.cache.remember(key, user)
        throttle.succeeded(counter)
        metrics.login("password", True)
        return _person(user, refreshable=True)

    def _fail(self, name: str, *, kind: str, counted: bool = True) -> None:
        metrics.login(kind, False)
        name = _storable(name)
        if counted:
            throttle.failed(self.settings, name, audit.current_source())
        audit.record(name, "login.failure")
        db.session.commit()
        raise Unauthorized()

    def by_refresh_token(self, token: str) -> Identity:
        """The owner of a live refresh token, else :class:`Unauthorized`."""
        user = queries.refresh_token_owner(hash_refresh_token(token))
        lifetime = dt.timedelta(days=self.settings.refresh_token_days)
        if (user is None or not user.is_active or user.token_version != user.credential_version
                or (lifetime and user.token_created_at + lifetime < utcnow())):
            # 256 random bits cannot be guessed, so no throttle; but the attempt is on record.
            self._fail(user.name if user is not None else "", kind="refresh_token", counted=False)
        metrics.login("refresh_token", True)
        return _person(user, refreshable=False)


def hash_refresh_token(token: str) -> str:
    """Refresh tokens carry 256 random bits, so SHA-256 is a sufficient one-way store."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def by_api_token(ctx, token: str) -> Identity:
    """The active user named by a bearer token we issued for the REST API audience.

    Such tokens live ``token_ttl`` seconds; deactivating or deleting the user
    ends them at once because the user row is read on every call.
    """
    import jwt  # local: only the API path needs it

    try:
        claims = ctx.signer.verify(token, audience=ctx.settings.api_audience)
    except jwt.InvalidTokenError:
        raise Unauthorized() from None
    user = queries.user_by_name(str(claims.get("sub", "")))
    if user is None or not user.is_active:
        raise Unauthorized()
    return _person(user, refreshable=False)
