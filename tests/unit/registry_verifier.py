"""A Python model of how the CNCF distribution registry verifies bearer tokens.

No registry 3 binary can run on the test machines, so this module re-states,
rule by rule, what ``registry/auth/token/`` does in each generation, and the
compatibility tests check authsvc's tokens against it.  It is written from a
reading of the sources listed below; no code was copied.

Sources (file, version) the rules come from:

* **v2.8** -- distribution v2.8.2 as packaged by Debian
  (``golang-github-docker-distribution-dev 2.8.2+ds1-1``):
  ``registry/auth/token/token.go`` (``NewToken``, ``Verify``,
  ``VerifySigningKey``, ``parseAndVerifyCertChain``, ``parseAndVerifyRawJWK``),
  ``registry/auth/token/accesscontroller.go`` (``newAccessController``,
  ``Authorized``, ``accessSet.contains``), ``registry/auth/token/util.go``
  (``actionSet.contains``), and ``github.com/docker/libtrust``
  (``util.go`` ``keyIDFromCryptoKey``; ``ec_key.go`` / ``rsa_key.go`` ``Verify``;
  ``hash.go``).
* **v3.x** -- distribution/distribution ``main`` after PR #4349 (x5c is tried
  first again) and PR #4471 (RFC 7638 key IDs for ``rootcertbundle`` keys),
  i.e. what v3.0.0 and v3.1.x ship: ``registry/auth/token/token.go``
  (``NewToken`` = go-jose v4 ``jwt.ParseSigned`` with an algorithm allow-list,
  ``Verify``, ``VerifySigningKey``, ``verifyCertChain``, ``verifyJWK``),
  ``registry/auth/token/accesscontroller.go`` (``checkOptions``,
  ``newAccessController``, ``getRootCerts``, ``getJwks``,
  ``getSigningAlgorithms``, ``Authorized``), ``registry/auth/token/util.go``
  (``GetRFC7638Thumbprint``), ``registry/auth/token/types.go``
  (``AudienceList``).  The EC thumbprint bug (the curve's generator point
  ``Gx``/``Gy`` hashed instead of the key's ``X``/``Y``) is issue #4683, fixed
  by PR #4684 for v3.1.0.

Model limits, stated where they matter: the x509 chain check is a faithful
subset of Go's ``crypto/x509`` ``Certificate.Verify`` (exact-root match, issuer
by subject name, CA and key-usage constraints, validity dates, unhandled
critical extensions, path length) -- no name constraints, no policy checks.
HTTP parsing of the ``Authorization`` header is not modelled; pass the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import ExtensionOID

# registry/auth/token/token.go (v2.8.2 and v3.x): ``Leeway = 60 * time.Second``,
# added to ``exp`` and taken off ``nbf``.
LEEWAY_SECONDS = 60

# v3.x registry/auth/token/token.go: ``signingAlgorithms`` (names accepted in
# ``auth.token.signingalgorithms``) and ``defaultSigningAlgorithms`` (used when
# the option is absent or empty) -- the same thirteen names in both.
V3_KNOWN_ALGORITHMS = ("EdDSA", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
                       "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
V3_DEFAULT_ALGORITHMS = V3_KNOWN_ALGORITHMS

_EC_ALG = {"ES256": (ec.SECP256R1, hashes.SHA256), "ES384": (ec.SECP384R1, hashes.SHA384),
           "ES512": (ec.SECP521R1, hashes.SHA512)}
_RSA_HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_JWK_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
_GO_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_B64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")


# --------------------------------------------------------------------------- errors

class RegistryConfigError(Exception):
    """The registry would refuse to start with this ``auth.token`` configuration."""


class TokenRejected(Exception):
    """The registry answers 401 with a ``WWW-Authenticate: Bearer`` challenge.

    ``reason`` is a short machine-readable cause (``"issuer"``, ``"audience"``,
    ``"expired"``, ``"certificate"``, ``"untrusted-key"``, ...); ``error`` is
    the challenge's ``error=`` value the real registry sends, if any.
    """

    error: str | None = "invalid_token"

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class MalformedToken(TokenRejected):
    """``ErrMalformedToken``: the token could not be parsed (or, in v3, its ``alg`` is not allowed)."""


class InvalidToken(TokenRejected):
    """``ErrInvalidToken`` (or, in v3, a go-jose error from signature or claims decoding)."""


class InsufficientScope(TokenRejected):
    """``ErrInsufficientScope``: a valid token whose ``access`` does not cover the request."""

    error = "insufficient_scope"


@dataclass(frozen=True)
class Accepted:
    """What a successful verification yields: the claims and how the key was found."""

    claims: dict
    key_source: str  # "x5c", "jwk" or "kid"
    kid: str = ""


# --------------------------------------------------------------------------- helpers

def _now(now: float | None) -> float:
    return time.time() if now is None else float(now)


def _b64url_v2(part: str) -> bytes:
    """registry v2.8.2 util.go ``joseBase64UrlDecode``: re-pad, then padded URL alphabet."""
    if len(part) % 4 == 1 or not _B64URL.match(part):
        raise ValueError("illegal base64url string")
    part += "=" * {0: 0, 2: 2, 3: 1}[len(part) % 4]
    return base64.b64decode(part.replace("-", "+").replace("_", "/"), validate=True)


def _b64url_v3(part: str) -> bytes:
    """go-jose v4 compact parsing: ``base64.RawURLEncoding`` -- no padding allowed."""
    if "=" in part or len(part) % 4 == 1 or not _B64URL.match(part):
        raise ValueError("illegal base64 data")
    part += "=" * (-len(part) % 4)
    return base64.b64decode(part.replace("-", "+").replace("_", "/"), validate=True)


def _b64std(value: str) -> bytes:
    """Go ``base64.StdEncoding``: standard alphabet, padding required (x5c entries, RFC 7515 §4.1.6)."""
    if not isinstance(value, str):
        raise ValueError("x5c entry is not a string")
    return base64.b64decode(value, validate=True)


def _go_get(obj: dict, name: str, *, fold: bool):
    """A struct field as Go's JSON decoder fills it.

    encoding/json (used by v2.8 for header and claims) matches keys
    case-insensitively, last one wins; go-jose's json fork (v3) is
    case-sensitive.
    """
    if not fold:
        return obj.get(name)
    value = None
    for key, item in obj.items():
        if key.lower() == name.lower():
            value = item
    return value


def _go_string(value, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what}: cannot unmarshal {type(value).__name__} into string")
    return value


def _go_int64(value, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: cannot unmarshal {value!r} into int64")
    if not -(2 ** 63) <= value < 2 ** 63:
        raise ValueError(f"{what}: {value} overflows int64")
    return value


def _object(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what}: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what}: not a JSON object")
    return value


def _audience_v3(value) -> list[str]:
    """v3.x types.go ``AudienceList.UnmarshalJSON``: a string, a list of strings, or null."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"aud: unsupported type {type(value).__name__}")


def _access(value, *, fold: bool) -> list[dict]:
    """The private ``access`` claim: a list of ``{type, class, name, actions}`` objects."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("access: not a list")
    entries = []
    for item in value:
        if item is None:
            # Both versions dereference the nil pointer in accessSet(): a panic, not a 401.
            raise ValueError("access: null entry (the real registry panics)")
        if not isinstance(item, dict):
            raise ValueError("access: entry is not an object")
        actions = _go_get(item, "actions", fold=fold)
        if actions is not None and not (isinstance(actions, list) and all(isinstance(a, str) for a in actions)):
            raise ValueError("access.actions: not a list of strings")
        entries.append({"type": _go_string(_go_get(item, "type", fold=fold), "access.type"),
                        "class": _go_string(_go_get(item, "class", fold=fold), "access.class"),
                        "name": _go_string(_go_get(item, "name", fold=fold), "access.name"),
                        "actions": list(actions or [])})
    return entries


def _needed_items(needed) -> list[tuple[str, str, str]]:
    if needed is None:
        return []
    if isinstance(needed, tuple) and len(needed) == 3 and all(isinstance(p, str) for p in needed):
        return [needed]
    return [tuple(item) for item in needed]


def check_access(access: list[dict], needed) -> None:
    """accesscontroller.go ``Authorized`` + token.go ``accessSet`` + util.go ``actionSet.contains``.

    Identical in v2.8.2 and v3.x: entries are keyed by ``(type, name)`` only
    (``class`` is ignored), actions of entries with the same key are merged,
    names and types must match exactly (no wildcards there), and an action
    set containing ``"*"`` grants every action.  Every requested item must be
    covered, else ``insufficient_scope``.
    """
    granted: dict[tuple[str, str], set[str]] = {}
    for entry in access:
        granted.setdefault((entry["type"], entry["name"]), set()).update(entry["actions"])
    for type_, name, action in _needed_items(needed):
        actions = granted.get((type_, name))
        if actions is None or not ("*" in actions or action in actions):
            raise InsufficientScope("scope", f"{type_}:{name}:{action} not granted")


def load_pem_certificates(rootcert_pems) -> list[x509.Certificate]:
    """The ``rootcertbundle`` file: every PEM block of type CERTIFICATE, others skipped.

    (v2.8.2 accesscontroller.go ``newAccessController``; v3.x ``getRootCerts``.)
    Accepts one bundle (bytes/str) or a sequence of them.
    """
    if rootcert_pems is None:
        return []
    if isinstance(rootcert_pems, (bytes, str)):
        rootcert_pems = [rootcert_pems]
    certs = []
    for bundle in rootcert_pems:
        data = bundle.encode() if isinstance(bundle, str) else bytes(bundle)
        for match in re.finditer(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", data, re.S):
            if match.group(1) != b"CERTIFICATE":
                continue
            try:
                der = base64.b64decode(re.sub(rb"\s+", b"", match.group(2)), validate=True)
                certs.append(x509.load_der_x509_certificate(der))
            except (ValueError, binascii.Error) as exc:
                raise RegistryConfigError(f"unable to parse token auth root certificate: {exc}") from None
    return certs


# --------------------------------------------------------------------------- key ids

def libtrust_key_id(public_key) -> str:
    """libtrust util.go ``keyIDFromCryptoKey``: the key ID registry 2.8 puts in its trusted-keys map.

    SHA-256 over the DER SubjectPublicKeyInfo, first 30 bytes (240 bits),
    base32 without padding, cut into 4-character groups joined by ``:``.
    """
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


def _go_bytes(value: int) -> bytes:
    """Go ``big.Int.Bytes()``: minimal big-endian, no leading zero bytes (empty for zero)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _raw_b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# P-256/384/521 generator points, which v3.0.x hashed instead of the key's point.
_GENERATORS = {
    "secp256r1": (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
                  0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5),
    "secp384r1": (0xAA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7,
                  0x3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F),
    "secp521r1": (0x00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66,
                  0x011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650),
}


def go_rfc7638_thumbprint(public_key, version: str = "3.1") -> str:
    """v3.x util.go ``GetRFC7638Thumbprint``: the ``kid`` a ``rootcertbundle`` key is trusted under.

    The canonical JSON is built by hand (``{"e","kty","n"}`` /
    ``{"crv","kty","x","y"}``), SHA-256, base64url without padding.  Numbers
    are Go ``big.Int.Bytes()`` -- minimal length, no left padding.

    * v3.0.x (``version="3.0"``): for EC keys the curve's generator point
      ``Gx``/``Gy`` is hashed instead of the key's point, so every P-256
      certificate gets the same ID and none gets its RFC 7638 thumbprint
      (issue #4683).
    * v3.1.x (``version="3.1"``): the key's ``X``/``Y`` (PR #4684).  Inferred
      from that PR: they are still ``.Bytes()``, so a coordinate with a
      leading zero byte (about 1 key in 128) yields a shorter ``x``/``y``
      than RFC 7518 §6.2.1.2 asks for, and an ID that differs from a strict
      RFC 7638 thumbprint such as ``authsvc.signing.keys.jwk_thumbprint``.

    Returns ``""`` for key types the registry skips (Ed25519 and others).
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        payload = '{"e":"%s","kty":"RSA","n":"%s"}' % (_raw_b64url(_go_bytes(numbers.e)),
                                                       _raw_b64url(_go_bytes(numbers.n)))
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        if curve not in _GO_CURVE_NAMES:
            return ""
        if version.startswith("3.0"):
            x, y = _GENERATORS[curve]
        else:
            numbers = public_key.public_numbers()
            x, y = numbers.x, numbers.y
        payload = '{"crv":"%s","kty":"EC","x":"%s","y":"%s"}' % (
            _GO_CURVE_NAMES[curve], _raw_b64url(_go_bytes(x)), _raw_b64url(_go_bytes(y)))
    else:
        return ""
    return _raw_b64url(hashlib.sha256(payload.encode()).digest())


def trusted_keys_v2(certs: Sequence[x509.Certificate]) -> dict[str, object]:
    """v2.8.2 accesscontroller.go ``newAccessController``: libtrust key ID -> root cert key.

    At least one certificate is required; a key libtrust cannot wrap (only
    RSA and EC P-256/384/521 are supported) stops the registry from starting.
    """
    if not certs:
        raise RegistryConfigError("token auth requires at least one token signing root certificate")
    keys = {}
    for cert in certs:
        key = cert.public_key()
        if not (isinstance(key, rsa.RSAPublicKey)
                or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _GO_CURVE_NAMES)):
            raise RegistryConfigError("unable to get public key from token auth root certificate")
        keys[libtrust_key_id(key)] = key
    return keys


def parse_jwk(obj: dict):
    """A public key from a JWK as go-jose v4 ``JSONWebKey.UnmarshalJSON`` accepts it.

    EC coordinates must be exactly the curve's size and on the curve; RSA
    needs ``n`` and ``e``; OKP/Ed25519 needs a 32-byte ``x``.  Symmetric
    ``oct`` keys parse, but ``Public()`` of them is empty, so they never
    verify anything (returned as ``None``).
    """
    if not isinstance(obj, dict):
        raise ValueError("jwk is not an object")
    kty = obj.get("kty")
    try:
        if kty == "EC":
            curve_cls = _JWK_CURVES.get(obj.get("crv"))
            if curve_cls is None:
                raise ValueError(f"unsupported curve {obj.get('crv')!r}")
            size = (curve_cls.key_size + 7) // 8
            x, y = _b64url_v3(obj["x"]), _b64url_v3(obj["y"])
            if len(x) != size or len(y) != size:
                raise ValueError("invalid EC public key, wrong length for x/y")
            return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                                 curve_cls()).public_key()
        if kty == "RSA":
            n, e = _b64url_v3(obj["n"]), _b64url_v3(obj["e"])
            return rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()
        if kty == "OKP" and obj.get("crv") == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(_b64url_v3(obj["x"]))
        if kty == "oct":
            _b64url_v3(obj["k"])
            return None
    except (KeyError, TypeError, binascii.Error) as exc:
        raise ValueError(f"invalid JWK: {exc}") from None
    raise ValueError(f"unknown json web key type {kty!r}")


def load_jwks(jwks) -> list[tuple[str, object]]:
    """v3.x accesscontroller.go ``getJwks``: the ``auth.token.jwks`` file as ``(kid, key)`` pairs.

    Accepts the parsed document, its JSON text, or a path.  Any invalid key
    makes the registry refuse to start.
    """
    if isinstance(jwks, os.PathLike) or (isinstance(jwks, str) and not jwks.lstrip().startswith("{")):
        with open(jwks, "rb") as fh:
            jwks = fh.read()
    if isinstance(jwks, (str, bytes)):
        try:
            jwks = json.loads(jwks)
        except ValueError as exc:
            raise RegistryConfigError(f"failed to parse jwks: {exc}") from None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if keys is None:
        keys = []
    if not isinstance(keys, list):
        raise RegistryConfigError("failed to parse jwks: keys is not a list")
    pairs = []
    for obj in keys:
        try:
            key = parse_jwk(obj)
        except ValueError as exc:
            raise RegistryConfigError(f"failed to parse jwks: {exc}") from None
        kid = obj.get("kid", "")
        if not isinstance(kid, str):
            raise RegistryConfigError("failed to parse jwks: kid is not a string")
        pairs.append((kid, key))
    return pairs


def trusted_keys_v3(certs: Sequence[x509.Certificate], jwks_pairs: Sequence[tuple[str, object]] | None,
                    version: str = "3.1") -> dict[str, object]:
    """v3.x accesscontroller.go ``newAccessController``: the ``kid`` -> key map.

    Needs certificates, or a JWKS with at least one key.  Each root
    certificate's key is filed under ``GetRFC7638Thumbprint`` (see
    :func:`go_rfc7638_thumbprint`; later certificates overwrite earlier ones
    with the same ID, which for EC keys in v3.0.x means all of them), then
    every JWKS key under its ``kid`` (overwriting).  Libtrust IDs are never
    computed.
    """
    if not certs and (jwks_pairs is None or len(jwks_pairs) == 0):
        raise RegistryConfigError("token auth requires at least one token signing key")
    keys: dict[str, object] = {}
    for cert in certs:
        thumbprint = go_rfc7638_thumbprint(cert.public_key(), version)
        if thumbprint:
            keys[thumbprint] = cert.public_key()
    for kid, key in jwks_pairs or ():
        keys[kid] = key
    return keys


# --------------------------------------------------------------------------- x509

# Extensions Go's crypto/x509 parser understands; any other critical one makes
# Verify fail with UnhandledCriticalExtension.
_GO_HANDLED_EXTENSIONS = {
    ExtensionOID.KEY_USAGE, ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.EXTENDED_KEY_USAGE, ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
}


def _ext(cert: x509.Certificate, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _check_cert_valid(cert: x509.Certificate, now: float, role: str, chain_len: int) -> None:
    """Go ``Certificate.isValid``: critical extensions, validity window (no leeway), CA path length."""
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _GO_HANDLED_EXTENSIONS:
            raise ValueError(f"unhandled critical extension {ext.oid.dotted_string}")
    if now < cert.not_valid_before_utc.timestamp():
        raise ValueError(f"certificate is not yet valid (valid from {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ})")
    if now > cert.not_valid_after_utc.timestamp():
        raise ValueError(f"certificate has expired (valid until {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})")
    if role != "leaf":
        constraints = _ext(cert, x509.BasicConstraints)
        if constraints is not None and constraints.path_length is not None and chain_len - 1 > constraints.path_length:
            raise ValueError("too many intermediates for path length constraint")


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Go ``checkSignatureFrom``: the parent must be a CA allowed to sign certificates."""
    constraints = _ext(parent, x509.BasicConstraints)
    if parent.version == x509.Version.v3 and (constraints is None or not constraints.ca):
        return False
    usage = _ext(parent, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _san(cert: x509.Certificate):
    try:
        return cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value.public_bytes()
    except x509.ExtensionNotFound:
        return None


def _already_in_chain(candidate: x509.Certificate, chain: Sequence[x509.Certificate]) -> bool:
    """Go ``alreadyInChain``: same subject, same public key and same SANs count as the same certificate.

    So a renewed self-signed certificate (same key, same subject) never
    chains to its predecessor in the root pool: the renewed one itself must
    be in the ``rootcertbundle``.
    """
    spki = candidate.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    for cert in chain:
        if cert.subject != candidate.subject:
            continue
        if cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo) != spki:
            continue
        if _san(cert) == _san(candidate):
            return True
    return False


def verify_cert_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                      roots: Sequence[x509.Certificate], now: float) -> list[x509.Certificate]:
    """Go ``(*x509.Certificate).Verify`` with ``KeyUsages: [ExtKeyUsageAny]`` and the current time.

    Both generations call it on the ``x5c`` leaf: v2.8.2 token.go
    ``parseAndVerifyCertChain``; v3.x token.go ``verifyCertChain`` through
    go-jose ``Header.Certificates``.  The leaf's validity dates are checked
    first, with no leeway; a leaf byte-identical to a root is a chain by
    itself; otherwise parents are searched by subject among the roots and
    the other ``x5c`` entries, and each must be a valid CA that signed its
    child.  Returns the chain, leaf first; raises ``ValueError``.
    """
    _check_cert_valid(leaf, now, "leaf", 1)
    root_ders = {r.public_bytes(serialization.Encoding.DER) for r in roots}
    if leaf.public_bytes(serialization.Encoding.DER) in root_ders:
        return [leaf]

    def build(chain: list[x509.Certificate], budget: list[int]) -> list[x509.Certificate] | None:
        current = chain[-1]
        for role, pool in (("root", roots), ("intermediate", intermediates)):
            for candidate in pool:
                if candidate.subject != current.issuer or _already_in_chain(candidate, chain):
                    continue
                budget[0] -= 1
                if budget[0] < 0 or not _signed_by(current, candidate):
                    continue
                try:
                    _check_cert_valid(candidate, now, role, len(chain))
                except ValueError:
                    continue
                if role == "root":
                    return chain + [candidate]
                found = build(chain + [candidate], budget)
                if found:
                    return found
        return None

    chain = build([leaf], [100])
    if chain is None:
        raise ValueError("x509: certificate signed by unknown authority")
    return chain


def _parse_x5c(entries) -> list[x509.Certificate]:
    if not isinstance(entries, list):
        raise ValueError("x5c is not a list")
    certs = []
    for entry in entries:
        try:
            certs.append(x509.load_der_x509_certificate(_b64std(entry)))
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"unable to parse x5c certificate: {exc}") from None
    return certs


# --------------------------------------------------------------------------- signatures

def _verify_v2_signature(key, alg: str, signing_input: bytes, signature: bytes) -> None:
    """libtrust ``Verify`` (v2.8.2): EC keys accept only their curve's ES alg, RSA only RS256/384/512."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        wanted = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[key.curve.name]
        if alg != wanted:
            raise ValueError(f"EC key on {key.curve.name} does not support {alg!r}")
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            raise ValueError(f"signature length is {len(signature)} octets long, should be {2 * size}")
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        key.verify(utils.encode_dss_signature(r, s), signing_input, ec.ECDSA(_EC_ALG[alg][1]()))
    elif isinstance(key, rsa.RSAPublicKey):
        if alg not in ("RS256", "RS384", "RS512"):
            raise ValueError(f"RSA Digital Signature Algorithm {alg!r} not supported")
        key.verify(signature, signing_input, padding.PKCS1v15(), _RSA_HASH[alg[2:]]())
    else:
        raise ValueError("unsupported key type")


def _verify_v3_signature(key, alg: str, signing_input: bytes, signature: bytes) -> None:
    """go-jose v4 verifiers: the key type must fit ``alg``; ECDSA also checks curve size and ``r||s`` length."""
    if alg in _EC_ALG:
        curve_cls, hash_cls = _EC_ALG[alg]
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("invalid key type for ECDSA")
        if key.curve.key_size != curve_cls.key_size:
            raise ValueError(f"expected {curve_cls.key_size} bit key, got {key.curve.key_size} bits instead")
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            raise ValueError("invalid signature size")
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        key.verify(utils.encode_dss_signature(r, s), signing_input, ec.ECDSA(hash_cls()))
    elif alg[:2] in ("RS", "PS"):
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("invalid key type for RSA")
        hash_cls = _RSA_HASH[alg[2:]]
        pad = (padding.PKCS1v15() if alg.startswith("RS")
               else padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=padding.PSS.AUTO))
        key.verify(signature, signing_input, pad, hash_cls())
    elif alg == "EdDSA":
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError("invalid key type for EdDSA")
        key.verify(signature, signing_input)
    else:
        # HS256/384/512 need a []byte key; every trusted key is a public key.
        raise ValueError(f"no public key can verify {alg}")


# --------------------------------------------------------------------------- registry 2.8

def verify_v2(token: str, *, issuer: str, service: str, rootcert_pems, needed=None,
              now: float | None = None) -> Accepted:
    """Verify ``token`` as distribution **v2.8.2** would; raise :class:`TokenRejected` if it would not.

    Rules, in the registry's order (v2.8.2 ``registry/auth/token/token.go``
    unless noted):

    1. ``NewToken``: three dot-separated parts, base64url (re-padded), header
       and claims decoded by encoding/json into fixed structs (keys matched
       case-insensitively) -- ``aud`` must be a **string** (a list makes the
       token malformed), ``exp``/``nbf``/``iat`` JSON integers, ``x5c`` a
       list of strings.  Any failure: ``MalformedToken``.
    2. ``Verify``: ``iss`` == the configured issuer; ``aud`` == the
       configured service; not after ``exp + 60 s``; not before
       ``nbf - 60 s``; a non-empty signature.
    3. ``VerifySigningKey``, first matching branch only:
       a non-empty ``x5c`` -> the chain must verify to a ``rootcertbundle``
       certificate (Go x509, current time, so the certificate's validity
       dates are enforced) and the leaf's key signs -- ``kid`` is then
       ignored; else a ``jwk`` header -> trusted by libtrust key ID, or via
       its own ``x5c`` whose leaf has the same key; else ``kid`` -> must be
       the libtrust key ID of a ``rootcertbundle`` certificate's key
       (accesscontroller.go ``newAccessController``); else rejected.
    4. libtrust ``Verify``: EC keys accept only the ES alg of their curve
       (ES256 for P-256) with a raw ``r||s`` signature, RSA keys only
       RS256/RS384/RS512.  PS*, EdDSA and HS* are never accepted.
    5. accesscontroller.go ``Authorized``: every ``needed`` item
       ``(type, name, action)`` must be granted (:func:`check_access`).
    """
    now = _now(now)
    roots = load_pem_certificates(rootcert_pems)
    trusted = trusted_keys_v2(roots)

    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("malformed", "not three parts")
    try:
        header = _object(_b64url_v2(parts[0]), "header")
        claims_obj = _object(_b64url_v2(parts[1]), "claims")
        signature = _b64url_v2(parts[2])
        alg = _go_string(_go_get(header, "alg", fold=True), "alg")
        kid = _go_string(_go_get(header, "kid", fold=True), "kid")
        x5c = _go_get(header, "x5c", fold=True)
        if x5c is not None and not (isinstance(x5c, list) and all(isinstance(v, str) for v in x5c)):
            raise ValueError("x5c: not a list of strings")
        jwk = _go_get(header, "jwk", fold=True)
        iss = _go_string(_go_get(claims_obj, "iss", fold=True), "iss")
        aud = _go_string(_go_get(claims_obj, "aud", fold=True), "aud")
        exp = _go_int64(_go_get(claims_obj, "exp", fold=True), "exp")
        nbf = _go_int64(_go_get(claims_obj, "nbf", fold=True), "nbf")
        _go_int64(_go_get(claims_obj, "iat", fold=True), "iat")
        _go_string(_go_get(claims_obj, "sub", fold=True), "sub")
        _go_string(_go_get(claims_obj, "jti", fold=True), "jti")
        access = _access(_go_get(claims_obj, "access", fold=True), fold=True)
    except (ValueError, binascii.Error) as exc:
        raise MalformedToken("malformed", str(exc)) from None

    if iss != issuer:
        raise InvalidToken("issuer", f"token from untrusted issuer {iss!r}")
    if aud != service:
        raise InvalidToken("audience", f"token intended for another audience {aud!r}")
    if now > exp + LEEWAY_SECONDS:
        raise InvalidToken("expired", f"token not to be used after exp+{LEEWAY_SECONDS}s")
    if now < nbf - LEEWAY_SECONDS:
        raise InvalidToken("not-yet-valid", f"token not to be used before nbf-{LEEWAY_SECONDS}s")
    if not signature:
        raise InvalidToken("no-signature")

    if x5c:
        source = "x5c"
        try:
            certs = _parse_x5c(x5c)
            verify_cert_chain(certs[0], certs[1:], roots, now)
        except ValueError as exc:
            raise InvalidToken("certificate", str(exc)) from None
        key = certs[0].public_key()
        if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
            raise InvalidToken("certificate", "unable to make libtrust public key from leaf certificate")
    elif jwk is not None:
        source = "jwk"
        key = _v2_key_from_jwk(jwk, trusted, roots, now)
    elif kid:
        source = "kid"
        key = trusted.get(kid)
        if key is None:
            raise InvalidToken("untrusted-key", f"token signed by untrusted key with ID: {kid!r}")
    else:
        raise InvalidToken("untrusted-key", "unable to get token signing key")

    try:
        _verify_v2_signature(key, alg, f"{parts[0]}.{parts[1]}".encode(), signature)
    except (ValueError, InvalidSignature) as exc:
        raise InvalidToken("signature", str(exc) or "invalid signature") from None

    check_access(access, needed)
    return Accepted(claims=claims_obj, key_source=source, kid=kid)


def _v2_key_from_jwk(jwk, trusted: dict, roots, now: float):
    """v2.8.2 token.go ``parseAndVerifyRawJWK`` with libtrust ``UnmarshalPublicKeyJWK``."""
    try:
        if not isinstance(jwk, dict):
            raise ValueError("jwk is not an object")
        kty = jwk.get("kty")
        if kty == "EC":
            curve_cls = _JWK_CURVES.get(jwk.get("crv"))
            if curve_cls is None:
                raise ValueError("JWK EC Public Key curve identifier not supported")
            size = (curve_cls.key_size + 7) // 8
            x, y = _b64url_v2(jwk["x"]), _b64url_v2(jwk["y"])
            if len(x) != size or len(y) != size:
                raise ValueError("invalid number of octets")
            key = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                                curve_cls()).public_key()
        elif kty == "RSA":
            key = rsa.RSAPublicNumbers(int.from_bytes(_b64url_v2(jwk["e"]), "big"),
                                       int.from_bytes(_b64url_v2(jwk["n"]), "big")).public_key()
        else:
            raise ValueError(f"JWK Public Key type not supported: {kty!r}")
        if "kid" in jwk and jwk["kid"] != libtrust_key_id(key):
            raise ValueError("JWK key ID does not match the key")
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise InvalidToken("untrusted-key", f"unable to decode raw JWK value: {exc}") from None
    chain = jwk.get("x5c")
    if not isinstance(chain, list):
        if libtrust_key_id(key) not in trusted:
            raise InvalidToken("untrusted-key", "untrusted JWK with no certificate chain")
        return key
    if not all(isinstance(c, str) and c for c in chain):
        raise InvalidToken("certificate", "malformed certificate chain")
    try:
        certs = _parse_x5c(chain)
        verify_cert_chain(certs[0], certs[1:], roots, now)
    except (ValueError, IndexError) as exc:
        raise InvalidToken("certificate", f"could not verify JWK certificate chain: {exc}") from None
    if libtrust_key_id(certs[0].public_key()) != libtrust_key_id(key):
        raise InvalidToken("untrusted-key", "leaf certificate public key ID does not match JWK key ID")
    return key


# --------------------------------------------------------------------------- registry 3.x

@dataclass
class V3Config:
    """The ``auth.token`` options of a v3.x registry that matter for verification."""

    issuer: str
    service: str
    rootcert_pems: object = None
    jwks: object = None
    algorithms: Sequence[str] | None = None
    version: str = "3.1"
    roots: list = field(init=False)
    trusted: dict = field(init=False)
    allowed_algs: tuple = field(init=False)

    def __post_init__(self):
        self.roots = load_pem_certificates(self.rootcert_pems)
        pairs = load_jwks(self.jwks) if self.jwks is not None else None
        self.trusted = trusted_keys_v3(self.roots, pairs, self.version)
        algorithms = list(self.algorithms or ())
        unknown = [a for a in algorithms if a not in V3_KNOWN_ALGORITHMS]
        if unknown:
            raise RegistryConfigError(f"unsupported signing algorithm: {unknown[0]}")
        self.allowed_algs = tuple(algorithms) or V3_DEFAULT_ALGORITHMS


def verify_v3(token: str, *, issuer: str, service: str, rootcert_pems=None, jwks=None,
              algorithms: Sequence[str] | None = None, needed=None, now: float | None = None,
              version: str = "3.1") -> Accepted:
    """Verify ``token`` as distribution **v3.x** would; raise :class:`TokenRejected` if it would not.

    ``version`` is ``"3.1"`` (v3.1.x, the default) or ``"3.0"`` (v3.0.x, with
    the EC thumbprint bug); nothing else differs between them here.

    Configuration (v3.x accesscontroller.go ``checkOptions`` /
    ``newAccessController``): ``rootcertbundle`` and ``jwks`` are each
    optional but one must provide a key; ``signingalgorithms`` names must be
    known, and when absent every one of ``V3_DEFAULT_ALGORITHMS`` (including
    HS*, PS*, EdDSA) is allowed.  Trusted ``kid`` values:
    :func:`trusted_keys_v3`.

    Rules, in the registry's order (v3.x ``registry/auth/token/token.go``):

    1. ``NewToken`` = go-jose ``jwt.ParseSigned(raw, allowedAlgs)``: compact
       form with unpadded base64url, header JSON (case-sensitive keys),
       ``alg`` in the allow-list, every ``x5c`` entry standard-base64 DER
       that parses, an embedded ``jwk`` a valid public key.  Any failure:
       ``MalformedToken``.
    2. ``VerifySigningKey``: if the header has certificates (``x5c``), the
       chain must verify against the ``rootcertbundle`` pool -- which is empty
       when only ``jwks`` is configured -- at the current time (validity
       dates enforced, no leeway); a failure rejects the token, there is no
       fallback to ``kid``, and ``kid`` is not consulted when it succeeds.
       Only when ``x5c`` is absent: a ``jwk`` header (no certificates: its
       own ``kid`` member must be a trusted ID; with certificates: they must
       verify), else the header ``kid`` looked up in the trusted map (JWKS
       ``kid`` values and ``GetRFC7638Thumbprint`` of root certificate keys --
       never libtrust IDs), else rejected.
    3. go-jose ``Claims``: the signature must verify with that key under the
       header ``alg`` (key type and size must fit it), then the claims decode
       -- ``aud`` may be a string or a list of strings, ``exp``/``nbf``/``iat``
       integers.
    4. ``iss`` == the configured issuer; the configured service among ``aud``;
       not after ``exp + 60 s``; not before ``nbf - 60 s``.
    5. accesscontroller.go ``Authorized``: :func:`check_access`, as in v2.8.

    Model choice: for a ``jwk`` header without certificates the trusted key
    is used to check the signature (current ``main``); some v3.0 builds used
    the embedded key instead.  authsvc never sends ``jwk``.
    """
    config = V3Config(issuer, service, rootcert_pems, jwks, algorithms, version)
    return verify_v3_with(config, token, needed=needed, now=now)


def verify_v3_with(config: V3Config, token: str, *, needed=None, now: float | None = None) -> Accepted:
    """:func:`verify_v3` against an already-built :class:`V3Config`."""
    now = _now(now)
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("malformed", "compact JWS format must have three parts")
    try:
        header = _object(_b64url_v3(parts[0]), "header")
        payload = _b64url_v3(parts[1])
        signature = _b64url_v3(parts[2])
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise ValueError("missing alg")
        kid = _go_string(header.get("kid"), "kid")
        x5c_certs = _parse_x5c(header["x5c"]) if header.get("x5c") is not None else []
        jwk = header.get("jwk")
        jwk_key = jwk_certs = None
        if jwk is not None:
            jwk_key = parse_jwk(jwk)
            if jwk_key is None:
                raise ValueError("invalid embedded jwk, must be public key")
            jwk_certs = _parse_x5c(jwk["x5c"]) if jwk.get("x5c") is not None else []
    except (ValueError, binascii.Error) as exc:
        raise MalformedToken("malformed", str(exc)) from None
    if alg not in config.allowed_algs:
        raise MalformedToken("algorithm",
                             f"unexpected signature algorithm {alg!r}; expected {list(config.allowed_algs)}")

    if x5c_certs:
        source = "x5c"
        try:
            chain = verify_cert_chain(x5c_certs[0], x5c_certs[1:], config.roots, now)
        except ValueError as exc:
            raise InvalidToken("certificate", str(exc)) from None
        key = chain[0].public_key()
    elif jwk is not None:
        source = "jwk"
        if not jwk_certs:
            jwk_kid = jwk.get("kid", "")
            if jwk_kid not in config.trusted:
                raise InvalidToken("untrusted-key", "untrusted JWK with no certificate chain")
            key = config.trusted[jwk_kid]
        else:
            try:
                chain = verify_cert_chain(jwk_certs[0], jwk_certs[1:], config.roots, now)
            except ValueError as exc:
                raise InvalidToken("certificate", str(exc)) from None
            key = chain[0].public_key()
    elif kid:
        source = "kid"
        if kid not in config.trusted:
            raise InvalidToken("untrusted-key", f"token signed by untrusted key with ID: {kid!r}")
        key = config.trusted[kid]
    else:
        raise InvalidToken("untrusted-key", "no x5c, jwk or kid")

    if key is None:
        raise InvalidToken("signature", "symmetric JWKS keys have no public part")
    try:
        _verify_v3_signature(key, alg, f"{parts[0]}.{parts[1]}".encode(), signature)
    except (ValueError, InvalidSignature) as exc:
        raise InvalidToken("signature", str(exc) or "error in cryptographic primitive") from None

    try:
        claims_obj = _object(payload, "claims")
        iss = _go_string(claims_obj.get("iss"), "iss")
        aud = _audience_v3(claims_obj.get("aud"))
        exp = _go_int64(claims_obj.get("exp"), "exp")
        nbf = _go_int64(claims_obj.get("nbf"), "nbf")
        _go_int64(claims_obj.get("iat"), "iat")
        _go_string(claims_obj.get("sub"), "sub")
        _go_string(claims_obj.get("jti"), "jti")
        access = _access(claims_obj.get("access"), fold=False)
    except ValueError as exc:
        raise InvalidToken("claims", str(exc)) from None

    if iss != config.issuer:
        raise InvalidToken("issuer", f"token from untrusted issuer {iss!r}")
    if config.service not in aud:
        raise InvalidToken("audience", f"token intended for another audience {aud!r}")
    if now > exp + LEEWAY_SECONDS:
        raise InvalidToken("expired", f"token not to be used after exp+{LEEWAY_SECONDS}s")
    if now < nbf - LEEWAY_SECONDS:
        raise InvalidToken("not-yet-valid", f"token not to be used before nbf-{LEEWAY_SECONDS}s")

    check_access(access, needed)
    return Accepted(claims=claims_obj, key_source=source, kid=kid)


__all__ = [
    "Accepted", "InsufficientScope", "InvalidToken", "LEEWAY_SECONDS", "MalformedToken", "RegistryConfigError",
    "TokenRejected", "V3Config", "V3_DEFAULT_ALGORITHMS", "check_access", "go_rfc7638_thumbprint", "libtrust_key_id",
    "load_jwks", "load_pem_certificates", "parse_jwk", "trusted_keys_v2", "trusted_keys_v3", "verify_cert_chain",
    "verify_v2", "verify_v3", "verify_v3_with",
]
