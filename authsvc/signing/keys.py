"""Signing keys and the certificate the registry trusts, and the key IDs each registry wants.

The registry never talks to us: it trusts tokens whose signing key it can
tie to a certificate in its ``rootcertbundle``.  Both generations check an
``x5c`` header chain against that bundle first; without one, registry 2.8
looks the key up by the libtrust key ID in ``kid``, while registry 3.x
dropped libtrust and looks ``kid`` up in its JWKS file or among the RFC 7638
thumbprints of the bundle's keys.  This module computes every one of those
from the same key, so one token is accepted by both.

Which key is generated (P-256 for ES256, RSA 2048 for RS256) is the
``signing_algorithm`` setting; a loaded key may be either, whatever the setting.

Private key files are written with mode 0600 from the moment they exist
(never written first and chmod-ed after).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID


class KeyFileError(Exception):
    """A key or certificate file that is missing, unreadable or does not match."""


@dataclass(frozen=True)
class SigningMaterial:
    """A loaded private key with its certificate and derived identifiers."""

    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def algorithm(self) -> str:
        return "ES256" if isinstance(self.private_key, ec.EllipticCurvePrivateKey) else "RS256"

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def certificate_der_b64(self) -> str:
        """The certificate as an ``x5c`` entry: standard base64 of DER (RFC 7515 §4.1.6)."""
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()

    def derived_secret(self, purpose: bytes) -> bytes:
        """A 32-byte secret for ``purpose`` derived from the private key (HKDF-SHA256): the same
        wherever this key is (every worker, every instance), new when the key is rotated, and
        telling nothing about the key itself.  The web console signs its cookies with one."""
        secret = self.private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)

    @property
    def libtrust_kid(self) -> str:
        return libtrust_key_id(self.private_key.public_key())

    @property
    def thumbprint(self) -> str:
        return jwk_thumbprint(public_jwk(self.private_key.public_key()))

    def jwks(self, kid: str) -> dict:
        """A JWKS document for registry 3.x's ``auth.token.jwks`` option."""
        key = public_jwk(self.private_key.public_key())
        key.update({"kid": kid, "use": "sig", "alg": self.algorithm})
        return {"keys": [key]}


def libtrust_key_id(public_key) -> str:
    """The libtrust key ID registry 2.8 expects in ``kid``.

    SHA-256 of the DER SubjectPublicKeyInfo, truncated to 240 bits, base32
    without padding, in 12 groups of four characters joined by ``:``.
    """
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i:i + 4] for i in range(0, 48, 4))


def _b64url_uint(value: int, length: int | None = None) -> str:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return base64.urlsafe_b64encode(value.to_bytes(length, "big")).decode().rstrip("=")


def public_jwk(public_key) -> dict:
    """The public key as a JWK with only its required members (RFC 7517/7518)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[public_key.curve.name]
        return {"kty": "EC", "crv": curve, "x": _b64url_uint(numbers.x, size),
                "y": _b64url_uint(numbers.y, size)}
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
    raise KeyFileError(f"unsupported key type {type(public_key).__name__}")


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding).

    Only the required members, in lexicographic order, with no white space.
    """
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "oct": ("k", "kty")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 atomically enough: it never exists with wider bits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # umask may have narrowed it further; make it exact
    os.replace(tmp, path)


#: What :func:`generate` can make (the ``signing_algorithm`` setting), both accepted by registry
#: 2.8 and 3.x, with or without ``x5c``.
ALGORITHMS = ("ES256", "RS256")
#: RSA modulus of a generated RS256 key.  2048 bits: both registry generations (and Go's
#: crypto/rsa, which refuses less than 1024) accept it, and verification cost grows with the
#: modulus -- 3072 bits costs the registry roughly twice as much per token for a margin these
#: short-lived, rotatable tokens do not need.
RSA_KEY_BITS = 2048


def new_private_key(algorithm: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """A fresh key for ``algorithm`` (one of :data:`ALGORITHMS`)."""
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    raise KeyFileError(f"cannot generate a key for {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")


def generate(key_path: Path, cert_path: Path, *, common_name: str, validity_days: int,
             now: dt.datetime | None = None, algorithm: str = "ES256") -> SigningMaterial:
    """Create a key for ``algorithm`` and a self-signed certificate for it.

    ES256 (P-256) signs fast and its keys and tokens are small; RS256 (RSA, see
    :data:`RSA_KEY_BITS`) signs slower but the registry verifies it several times faster.
    Both registry generations accept either; the ``signing_algorithm`` setting chooses.
    """
    key_path, cert_path = Path(key_path), Path(cert_path)
    now = now or dt.datetime.now(dt.UTC)
    key = new_private_key(algorithm)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SigningMaterial(key, cert)


def load(key_path: Path, cert_path: Path) -> SigningMaterial:
    """Load the key and certificate, checking that they belong together."""
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyFileError(f"signing key {key_path} does not exist; run 'authsvc init'") from None
    except (ValueError, TypeError, OSError) as exc:
        raise KeyFileError(f"cannot read signing key {key_path}: {exc}") from None
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    except FileNotFoundError:
        raise KeyFileError(f"signing certificate {cert_path} does not exist; run 'authsvc init'") from None
    except (ValueError, OSError) as exc:
        raise KeyFileError(f"cannot read signing certificate {cert_path}: {exc}") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise KeyFileError(f"signing key {key_path} must be an EC (P-256) or RSA key")
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name != "secp256r1":
        raise KeyFileError(f"signing key {key_path}: only the P-256 curve is supported (ES256)")
    if public_jwk(cert.public_key()) != public_jwk(key.public_key()):
        raise KeyFileError(f"certificate {cert_path} does not match signing key {key_path}")
    return SigningMaterial(key, cert)


def ensure(key_path: Path, cert_path: Path, *, common_name: str, validity_days: int,
           algorithm: str = "ES256") -> tuple[SigningMaterial, bool]:
    """Load the key pair, generating it first (for ``algorithm``) if neither file exists.

    Returns the material and whether it was created.  If only one of the two
    files exists something is wrong, and we refuse to overwrite it.  An existing
    key of another algorithm is kept: it is replaced only by a rotation.
    """
    key_exists, cert_exists = Path(key_path).exists(), Path(cert_path).exists()
    if key_exists != cert_exists:
        missing = cert_path if key_exists else key_path
        raise KeyFileError(f"{missing} is missing while its partner exists; refusing to overwrite")
    if key_exists:
        return load(key_path, cert_path), False
    return generate(Path(key_path), Path(cert_path), common_name=common_name,
                    validity_days=validity_days, algorithm=algorithm), True
