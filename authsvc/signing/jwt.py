"""Issue the bearer tokens the registry verifies.

One token must satisfy two registry generations:

* registry 2.8 looks up the key by the libtrust key ID in ``kid``, or by an
  ``x5c`` chain ending in a trusted certificate;
* registry 3.x tries ``x5c`` first (verified against its ``rootcertbundle``),
  then a ``kid`` matching its JWKS file or a certificate key's RFC 7638
  thumbprint; libtrust IDs alone are rejected.

So every token carries the libtrust ``kid``, which 2.8 finds among its bundle's keys and 3.x in
the JWKS file ``registry-config`` names; by default nothing else (the ``token_x5c`` setting): a
token without ``x5c`` is shorter and spares the registry parsing and chain-checking a certificate
on every request, about half of what checking a token costs it.  With ``token_x5c`` the header
also holds the signing certificate (needed by a registry 3 given ``rootcertbundle`` alone, or with
``kid_format = "thumbprint"``, which 2.8 cannot look up); settings validation refuses the
combination 2.8 cannot take.  ``aud`` is a single string because 2.8 accepts
nothing else; ``nbf`` is set a few seconds back to absorb clock skew between
us and the registry.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .keys import SigningMaterial, jwk_thumbprint, libtrust_key_id, public_jwk

CLOCK_SKEW_SECONDS = 5
#: Tokens kept for reuse per signer (per worker); past it the memory starts again empty.
REUSE_MAX_ENTRIES = 4096
#: The access list of a reuse key as ``json.dumps(access, separators=(",", ":"))`` writes it, with
#: one encoder for every request instead of a new one each.
_ACCESS_KEY = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class IssuedToken:
    token: str
    issued_at: dt.datetime
    expires_in: int


class TokenSigner:
    """Signs access tokens with one key; built once per process, reused for every request."""

    def __init__(self, material: SigningMaterial, *, issuer: str, lifetime: int, kid_format: str = "libtrust",
                 retired_keys: tuple = (), reuse_seconds: int = 0, x5c: bool = True):
        """``retired_keys``: public keys of earlier signing keys (a rotation's *previous*), whose
        tokens :meth:`verify` still accepts until they expire -- of either key type, since a
        rotation may change the algorithm.

        ``x5c``: whether the header carries the signing certificate (the ``token_x5c`` setting).

        ``reuse_seconds``: a token signed for exactly the same subject, audience, access and
        extra claims within this many seconds is handed out again instead of signing a new one.
        Every request is still authenticated and decided; only an identical decision reuses the
        token, so a change of rights is a new token at once.  The reused token keeps its own
        ``exp``, so its lifetime is never extended (``expires_in`` says what is left).
        """
        self.material = material
        self.reuse_seconds = reuse_seconds
        self._recent: dict[tuple, tuple[int, IssuedToken]] = {}
        self.issuer = issuer
        self.lifetime = lifetime
        self.kid = material.thumbprint if kid_format == "thumbprint" else material.libtrust_kid
        self._key = material.private_key
        self._algorithm = material.algorithm
        # The header never changes for a key: encoded once here (sorted keys, compact, as PyJWT
        # writes it), so each token costs one json.dumps of its claims and one signature.
        header = {"alg": self._algorithm, "kid": self.kid, "typ": "JWT"}
        if x5c:
            header["x5c"] = [material.certificate_der_b64]
        self._header_segment = _b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode()) + b"."
        self._sign = _es256 if isinstance(self._key, ec.EllipticCurvePrivateKey) else _rs256
        # kid -> (public key, the one algorithm a token under that kid may use)
        self._verification_keys = {self.kid: (material.private_key.public_key(), self._algorithm)}
        for public_key in retired_keys:
            kid = jwk_thumbprint(public_jwk(public_key)) if kid_format == "thumbprint" else libtrust_key_id(public_key)
            self._verification_keys.setdefault(kid, (public_key, _algorithm_of(public_key)))

    def issue(self, *, subject: str, audience: str, access: list[dict], now: dt.datetime | None = None,
              extra_claims: dict | None = None, not_after: int | None = None) -> IssuedToken:
        """A signed token; ``extra_claims`` (never a registry token's: the REST API's own binding
        of a token to one account) are added beside the standard ones.  ``not_after`` caps its
        ``exp`` (the credential it was issued for expires then); such a token is never reused."""
        reuse_key = None
        if self.reuse_seconds and now is None and not_after is None:
            issued = int(time.time())
            reuse_key = (subject, audience, _ACCESS_KEY(access),
                         tuple(sorted(extra_claims.items())) if extra_claims else ())
            recent = self._recent.get(reuse_key)
            if recent is not None and 0 <= issued - recent[0] < self.reuse_seconds:
                earlier = recent[1]
                return IssuedToken(earlier.token, earlier.issued_at, earlier.expires_in - (issued - recent[0]))
            now = dt.datetime.fromtimestamp(issued, dt.UTC)
        now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        issued = int(now.timestamp())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": issued,
            "nbf": issued - CLOCK_SKEW_SECONDS,
            "exp": min(issued + self.lifetime, not_after) if not_after is not None else issued + self.lifetime,
            "jti": secrets.token_urlsafe(16),
            "access": access,
        }
        if extra_claims:
            claims.update(extra_claims)
        signing_input = self._header_segment + _b64(json.dumps(claims, separators=(",", ":")).encode())
        token = (signing_input + b"." + _b64(self._sign(self._key, signing_input))).decode("ascii")
        signed = IssuedToken(token=token, issued_at=now, expires_in=claims["exp"] - issued)
        if reuse_key is not None:
            if len(self._recent) >= REUSE_MAX_ENTRIES:
                self._recent.clear()
            self._recent[reuse_key] = (issued, signed)
        return signed

    def verify(self, token: str, *, audience: str) -> dict:
        """Claims of a token we signed for ``audience``; raises ``jwt.InvalidTokenError`` otherwise.

        Used by the REST API, which accepts our own tokens as bearer credentials -- also those
        signed by the key a rotation has just replaced, for the rest of their lifetime.
        """
        kid = jwt.get_unverified_header(token).get("kid")
        known = self._verification_keys.get(kid) if isinstance(kid, str) else None
        if known is None:
            raise jwt.InvalidTokenError("token signed by a key we do not know")
        public_key, algorithm = known
        return jwt.decode(token, public_key, algorithms=[algorithm], audience=audience,
                          issuer=self.issuer, leeway=CLOCK_SKEW_SECONDS,
                          options={"require": ["exp", "iat", "sub", "aud", "iss"]})


def _algorithm_of(public_key) -> str:
    return "ES256" if isinstance(public_key, ec.EllipticCurvePublicKey) else "RS256"


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _es256(key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    """ECDSA P-256 over SHA-256, as JWS wants it: r and s, 32 bytes each (RFC 7518, 3.4), not DER."""
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _rs256(key, signing_input: bytes) -> bytes:
    return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
