"""Password hashing: bcrypt over a SHA-256 pre-hash.

bcrypt reads at most 72 bytes, so ``bcrypt(password)`` would let anyone who
knows the first 72 bytes of a long passphrase log in with them.  Hashing the
password with SHA-256 first (base64-encoded, so no NUL byte can truncate it)
gives bcrypt a fixed 44-byte input that depends on every byte.  The stored
form names the scheme, so a later release can move to another one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import bcrypt

from ...core.credential_secrets import PERSONAL_TOKEN_PREFIX as TOKEN_PREFIX
from ..errors import Invalid

SCHEME = "bcrypt-sha256$"
MIN_LENGTH = 8
MAX_BYTES = 4096


def check_strength(password: str) -> None:
    """Reject passwords too short to resist guessing, or absurdly long ones."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise Invalid(f"password must be at least {MIN_LENGTH} characters", field="password")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise Invalid(f"password must be at most {MAX_BYTES} bytes", field="password")
    if password.strip() == "":
        raise Invalid("password must not be blank", field="password")
    if password.startswith(TOKEN_PREFIX):
        # Such a password would be taken for a personal access token at login, and never work.
        raise Invalid(f"password must not start with {TOKEN_PREFIX!r}", field="password")


def generate_password() -> str:
    """A random password for a new account (the console's "Generate a password"): 128 bits,
    URL-safe characters, so it passes :func:`check_strength` and survives copy and paste."""
    return secrets.token_urlsafe(16)


def _prehash(password: str) -> bytes:
    raw = password.encode("utf-8", "surrogatepass")
    return base64.b64encode(hashlib.sha256(raw).digest())


def hash_password(password: str, rounds: int) -> str:
    return SCHEME + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; unknown schemes fail closed."""
    if not stored.startswith(SCHEME):
        return False
    try:
        return bcrypt.checkpw(_prehash(password), stored[len(SCHEME):].encode())
    except ValueError:
        return False


def cost_of(stored: str) -> int | None:
    """The bcrypt cost a stored hash was made with (``bcrypt-sha256$$2b$12$...``), or None."""
    if not stored.startswith(SCHEME):
        return None
    parts = stored[len(SCHEME):].split("$")
    try:
        return int(parts[2])
    except (IndexError, ValueError):
        return None


def needs_rehash(stored: str, rounds: int) -> bool:
    """True when a hash was made at another cost than the configured one: the next successful
    login re-hashes it, so a changed ``bcrypt_rounds`` reaches every active account."""
    return cost_of(stored) != rounds


class DummyHash:
    """A hash of a given cost to verify against when there is no real one to check (an unknown
    user), or to pad a cheap refusal with, so that timing reveals nothing.  Which costs are
    needed is the password verifier's business (services/authn/password.py, RefusalCost)."""

    def __init__(self, rounds: int):
        self.rounds = rounds
        self._hash = hash_password("not-a-real-password", rounds)

    def burn(self, password: str) -> None:
        verify_password(password, self._hash)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
