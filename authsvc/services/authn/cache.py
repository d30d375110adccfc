"""The verified-credential cache: (name, password) pairs bcrypt has already accepted.

Registry clients other than docker (podman, skopeo, containerd on every
Kubernetes node) send the password with *every* token request, several per
pull, and bcrypt is deliberately slow.  The cache sits *behind* the throttle
(see :mod:`.password`): a blocked pair is refused before it is consulted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from ... import metrics


class VerifiedCredentialCache:
    """Remembers (username, password) pairs that bcrypt has already accepted.

    The key is an HMAC of name and password under a per-process random
    secret, so neither the password nor a reusable hash of it is kept.  An
    entry also remembers the user's id and ``credential_version``; it counts
    only while the row loaded for this request still has both, so a password
    change, deactivation or deletion made by any worker or instance ends it
    at the next request -- and since user ids are never reused, a deleted and
    re-created account never matches its predecessor's entry.  Only successful
    checks are stored.
    """

    def __init__(self, ttl_seconds: int, max_entries: int = 10_000, clock=time.monotonic):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[int, int, float, frozenset[str]]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, name: str, password: str) -> bytes:
        message = name.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def holds(self, key: bytes, user_id: int, credential_version: int) -> bool:
        return self.recall(key, user_id, credential_version) is not None

    def recall(self, key: bytes, user_id: int, credential_version: int) -> frozenset[str] | None:
        """The directory groups remembered with a valid entry (empty for a local account), or None
        when there is no valid entry.  Groups live exactly as long as their entry: a directory
        user's group change therefore counts within ``ttl``."""
        if self.ttl <= 0:
            return None
        entry = self._entries.get(key)
        valid = (entry is not None and entry[0] == user_id and entry[1] == credential_version
                 and entry[2] > self._clock())
        if valid:
            self.hits += 1
        else:
            self.misses += 1
        metrics.cache_lookup(valid)
        return entry[3] if valid else None

    def remember(self, key: bytes, user_id: int, credential_version: int,
                 groups: frozenset[str] = frozenset()) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._evict()
            self._entries[key] = (user_id, credential_version, self._clock() + self.ttl, groups)

    def _evict(self) -> None:
        now = self._clock()
        for key in [k for k, (_, _, expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self.max_entries:  # still full: drop the oldest entries
            del self._entries[next(iter(self._entries))]
