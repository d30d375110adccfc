"""The random secrets authsvc hands out, and how they are stored: pure, no storage, no Flask.

Personal access tokens, robot secrets and refresh tokens all carry 256 random
bits, so a plain SHA-256 is a sufficient one-way store and lets a lookup be one
indexed query (no bcrypt).  Checking a credential and managing it both need
these functions; keeping them here means the verifiers never import the
management modules.
"""

from __future__ import annotations

import hashlib
import secrets

#: Personal access tokens carry a recognisable prefix so that secret scanners can find leaked
#: ones, and so that authentication knows to look them up instead of running bcrypt.
PERSONAL_TOKEN_PREFIX = "asvc_pat_"
SECRET_BYTES = 32


def digest(secret: str) -> str:
    """The stored form of a random secret (hex SHA-256; any string, even a lone surrogate)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def is_personal_token(text: str) -> bool:
    return text.startswith(PERSONAL_TOKEN_PREFIX)
