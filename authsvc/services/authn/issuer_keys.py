"""The public keys of the trusted issuers (CI platforms, Kubernetes clusters), kept per process.

An issuer's keys come from the ``jwks_uri`` of its discovery document, or from the JWKS an
administrator stored for it (a cluster whose issuer is not reachable from here).  Fetched keys
are kept for :data:`REFRESH_SECONDS`; a token with a ``kid`` they lack makes one fetch (so the
platform may rotate its key without a restart: its next job works), at most one a second per
issuer, and a ``kid`` a fetch did not find waits :data:`REFETCH_SECONDS` before it may ask again
(so forged ``kid`` values cannot make us hammer the issuer).  When the issuer cannot be reached, the
keys last fetched keep working for :data:`STALE_SECONDS` after that fetch, and not a moment
longer -- a CI platform's short outage does not stop deployments -- and after that its tokens
are refused with 503; an issuer that failed us with no usable keys kept is not asked again for
:data:`REFETCH_SECONDS` either (any caller can name it in a token, and each ask may wait out
the timeouts).

What counts as a key is narrow: public RSA (2048 bits at least), EC and OKP keys only; a JWKS
document over :data:`MAX_JWKS_BYTES` is refused whole.  An issuer that answers with no usable
key (:class:`UnusableKeys`) has its tokens refused (401): nothing vouches for them; only an
issuer that does not answer at all is a 503.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from ..errors import ServiceError

REFRESH_SECONDS = 3600
REFETCH_SECONDS = 30
NEW_KID_SECONDS = 1
STALE_SECONDS = 24 * 3600
MAX_JWKS_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
TIMEOUT_SECONDS = 5.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class IssuerUnavailable(ServiceError):
    """The issuer's keys could not be read and none are kept: 503, not a refusal of the token."""

    code = "UNAVAILABLE"
    http_status = 503
    retry_after = 5


class UnusableKeys(ValueError):
    """A JWKS document that holds no usable key, or is not one; the message says why."""


def parse_jwks(text: str | bytes) -> KeySet:
    """The usable public keys of a JWKS document; :class:`UnusableKeys` when there are none."""
    if len(text) > MAX_JWKS_BYTES:
        raise UnusableKeys(f"the JWKS is larger than {MAX_JWKS_BYTES // 1024} KiB")
    try:
        document = json.loads(text)
    except ValueError:
        raise UnusableKeys("the JWKS is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise UnusableKeys('the JWKS is not a {"keys": [...]} document')
    usable = []
    for key in document["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC", "OKP") or "d" in key:
            continue
        try:
            imported = KeySet.import_key_set({"keys": [key]}).keys[0]
        except (JoseError, ValueError, TypeError, KeyError):
            continue
        if isinstance(imported, RSAKey) and imported.raw_value.key_size < MIN_RSA_BITS:
            continue  # too weak to trust, whatever the issuer says
        usable.append(imported)
    if not usable:
        raise UnusableKeys(f"the JWKS holds no usable public key (RSA of {MIN_RSA_BITS} bits or more, EC, OKP)")
    return KeySet(usable)


@dataclass
class _Kept:
    keys: KeySet
    fetched_at: float
    tried_at: float


class IssuerKeys:
    """Every trusted issuer's keys, shared by a worker's threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._fetched: dict[str, _Kept] = {}
        self._stored: dict[str, tuple[str, KeySet]] = {}
        #: When a fetch last failed for an issuer with no usable keys kept, and how.
        self._failed: dict[str, tuple[float, Exception]] = {}
        #: Per issuer, the kids a fetch did not find (a fetch for them waits REFETCH_SECONDS).
        self._unknown: dict[str, set[str]] = {}

    def keys_for(self, issuer: str, stored_jwks: str | None, kid: str | None) -> KeySet:
        """The keys to check a token of ``issuer`` with (``kid``: the token's, if it names one)."""
        if stored_jwks:
            digest = hashlib.sha256(stored_jwks.encode()).hexdigest()
            kept = self._stored.get(issuer)
            if kept is None or kept[0] != digest:
                try:
                    kept = self._stored[issuer] = (digest, parse_jwks(stored_jwks))
                except UnusableKeys as exc:
                    raise UnusableKeys(f"the stored keys of issuer {issuer} are unusable: {exc}") from None
            return kept[1]
        with self._lock:
            now = time.monotonic()
            kept = self._fetched.get(issuer)
            failed_at = self._failed.get(issuer)
            usable = kept is not None and now - kept.fetched_at < STALE_SECONDS
            if usable:
                fresh = now - kept.fetched_at < REFRESH_SECONDS
                known = kid is None or any(key.kid == kid for key in kept.keys)
                if fresh and known:
                    return kept.keys
                since = now - kept.tried_at
                # A kid never looked for yet may fetch after NEW_KID_SECONDS (the platform just
                # rotated: its next job must work); one already looked for waits REFETCH_SECONDS.
                new_kid = not known and kid not in self._unknown.get(issuer, ())
                if since < REFETCH_SECONDS and not (new_kid and since >= NEW_KID_SECONDS):
                    return kept.keys
            elif failed_at is not None and now - failed_at[0] < REFETCH_SECONDS:
                # No usable keys and the issuer just failed us: say so again without asking it
                # (each ask may wait out two timeouts, and any caller can name the issuer).
                raise failed_at[1]
            try:
                keys = _fetch(issuer)
            except (IssuerUnavailable, UnusableKeys) as exc:
                if usable:
                    kept.tried_at = now
                    return kept.keys  # the issuer is briefly away: what it said last still holds
                self._failed[issuer] = (now, exc)
                raise
            self._failed.pop(issuer, None)
            self._fetched[issuer] = _Kept(keys, now, now)
            unknown = self._unknown.setdefault(issuer, set())
            if kid is not None and not any(key.kid == kid for key in keys):
                if len(unknown) >= 1000:
                    unknown.clear()
                unknown.add(kid)
            return keys


def _get(url: str, what: str, issuer: str) -> bytes:
    try:
        with requests.get(url, timeout=TIMEOUT_SECONDS, stream=True, headers={"Accept": "application/json"}) as answer:
            answer.raise_for_status()
            body = answer.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise IssuerUnavailable(f"the {what} of issuer {issuer} could not be read ({type(exc).__name__})") from None
    if len(body) > MAX_JWKS_BYTES:  # the issuer answered, with something we refuse to read
        raise UnusableKeys(f"the {what} of issuer {issuer} is larger than {MAX_JWKS_BYTES // 1024} KiB")
    return body


def _fetch(issuer: str) -> KeySet:
    try:
        discovery = json.loads(_get(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery document",
                                    issuer))
    except ValueError:
        raise IssuerUnavailable(f"the discovery document of issuer {issuer} is not JSON") from None
    if not isinstance(discovery, dict) or discovery.get("issuer") != issuer:
        raise IssuerUnavailable(f"the discovery document at {issuer} names another issuer")
    jwks_uri = discovery.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
        raise IssuerUnavailable(f"the discovery document of issuer {issuer} has no jwks_uri")
    # The keys decide whose tokens count: never read them over plain HTTP from an https://
    # issuer (anyone on the path could substitute their own); http:// is for loopback tests.
    if not jwks_uri.startswith("https://") and urlsplit(jwks_uri).hostname not in _LOOPBACK:
        raise IssuerUnavailable(f"the discovery document of issuer {issuer} names a jwks_uri that is not https://")
    try:
        return parse_jwks(_get(jwks_uri, "keys (JWKS)", issuer))
    except UnusableKeys as exc:
        raise UnusableKeys(f"the keys of issuer {issuer} are unusable: {exc}") from None


__all__ = ["IssuerKeys", "IssuerUnavailable", "UnusableKeys", "parse_jwks"]
