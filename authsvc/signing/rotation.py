"""Signing-key rotation without a failed pull.

A registry only accepts tokens signed by a key whose certificate is in its
``rootcertbundle`` (and, for registry 3, in its JWKS), and it reads those
files only when it starts.  So a rotation has three steps, each safe on its
own and each leaving files that every registry generation understands:

1. **stage** (``authsvc keys rotate``): make the *next* key and publish a
   bundle and JWKS holding the active and the next certificate.  Nothing
   signs with the next key yet; the registries are restarted at leisure and
   then trust both.
2. **activate** (``authsvc keys activate``, or ``rotate --registry`` once the
   registry accepts a token signed with the next key): the next key becomes
   the active one; the old certificate is kept as *previous*, still
   published, because tokens it signed are valid for up to their lifetime.
   Running authsvc workers notice the changed key files and switch.
3. **retire** (``authsvc keys retire``): once every token of the previous key
   has expired, drop its certificate from the bundle.

The files live beside the active pair (names from the settings):
``signing.key/.crt`` (active), ``signing.next.key/.crt`` (staged),
``signing.previous.crt`` (only the certificate: the old private key is
deleted at activation -- nothing may sign with it any more), the bundle,
``jwks.json``, and ``rotation.json`` recording when the last activation
happened (what ``retire`` waits on).

This module knows files and keys only; the CLI and the service layer decide
when to call it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from . import keys

#: A certificate this close to expiry is reported (``keys show``, ``doctor``, start-up log).
EXPIRY_WARNING_DAYS = 30


class RotationError(Exception):
    """A rotation step that cannot be taken now; the message says what to do instead."""


@dataclass(frozen=True)
class KeyPaths:
    """Where one installation keeps its keys, certificates and published trust files."""

    key: Path
    cert: Path
    next_key: Path
    next_cert: Path
    previous_cert: Path
    bundle: Path
    jwks: Path

    @property
    def state(self) -> Path:
        return self.cert.with_name("rotation.json")

    @classmethod
    def from_settings(cls, settings) -> KeyPaths:
        return cls(key=settings.signing_key_path, cert=settings.signing_cert_path,
                   next_key=settings.next_key_path, next_cert=settings.next_cert_path,
                   previous_cert=settings.previous_cert_path, bundle=settings.trust_bundle_path,
                   jwks=settings.jwks_path)


@dataclass(frozen=True)
class TrustedKey:
    """A certificate the registry must trust, and what it is in the rotation."""

    role: str  # "active", "next" or "previous"
    certificate: x509.Certificate

    @property
    def public_key(self):
        return self.certificate.public_key()


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise keys.KeyFileError(f"certificate {path} does not exist; run 'authsvc init'") from None
    except (ValueError, OSError) as exc:
        raise keys.KeyFileError(f"cannot read certificate {path}: {exc}") from None


def trusted_keys(paths: KeyPaths) -> list[TrustedKey]:
    """Every certificate that belongs in the bundle right now: active, then next, then previous."""
    found = [TrustedKey("active", _load_cert(paths.cert))]
    if paths.next_cert.exists():
        found.append(TrustedKey("next", _load_cert(paths.next_cert)))
    if paths.previous_cert.exists():
        found.append(TrustedKey("previous", _load_cert(paths.previous_cert)))
    return found


def key_id(public_key, kid_format: str) -> str:
    """The ``kid`` a token signed by this key carries (see :class:`~.jwt.TokenSigner`)."""
    if kid_format == "thumbprint":
        return keys.jwk_thumbprint(keys.public_jwk(public_key))
    return keys.libtrust_key_id(public_key)


def _write_public(path: Path, data: bytes) -> None:
    """Replace a published (public) file in one step, so a registry starting meanwhile never
    reads half a bundle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def bundle_pem(trusted: list[TrustedKey]) -> bytes:
    """The registry's ``rootcertbundle``: the certificates, PEM, one after the other."""
    return b"".join(t.certificate.public_bytes(serialization.Encoding.PEM) for t in trusted)


def algorithm_of(public_key) -> str:
    """The JWS ``alg`` tokens of this key carry."""
    return "ES256" if keys.public_jwk(public_key)["kty"] == "EC" else "RS256"


def algorithms(trusted: list[TrustedKey], configured: str) -> list[str]:
    """What registry 3's ``signingalgorithms`` allow-list must hold: the algorithm of every
    trusted key (active first, then a staged next and the previous), and the configured
    ``signing_algorithm``, so that the next rotation's key is not refused by a config written
    today."""
    found = [algorithm_of(t.public_key) for t in trusted] + [configured]
    return list(dict.fromkeys(found))


def jwks_document(trusted: list[TrustedKey], *, kid_format: str) -> dict:
    """Registry 3's ``auth.token.jwks``: each trusted key under the ``kid`` its tokens carry."""
    jwks = []
    for t in trusted:
        jwk = keys.public_jwk(t.public_key)
        jwk.update({"kid": key_id(t.public_key, kid_format), "use": "sig", "alg": algorithm_of(t.public_key)})
        jwks.append(jwk)
    return {"keys": jwks}


def publish(paths: KeyPaths, *, kid_format: str) -> list[TrustedKey]:
    """Write the bundle and the JWKS from the certificates present; returns what they hold."""
    trusted = trusted_keys(paths)
    _write_public(paths.bundle, bundle_pem(trusted))
    _write_public(paths.jwks, (json.dumps(jwks_document(trusted, kid_format=kid_format), indent=2) + "\n").encode())
    return trusted


def published_bundle_is_current(paths: KeyPaths) -> bool:
    """Whether the bundle on disk holds exactly the certificates that should be trusted."""
    try:
        on_disk = x509.load_pem_x509_certificates(paths.bundle.read_bytes())
    except (ValueError, OSError):
        return False
    want = [t.certificate for t in trusted_keys(paths)]
    fingerprints = [sorted(c.fingerprint(hashes.SHA256()) for c in certs) for certs in (on_disk, want)]
    return fingerprints[0] == fingerprints[1]


def stage(paths: KeyPaths, *, common_name: str, validity_days: int,
          kid_format: str, algorithm: str = "ES256") -> tuple[keys.SigningMaterial, bool]:
    """Create the next key (unless one is staged already) and publish it; returns it and whether
    it is new.  Running it again only re-publishes, so a lost bundle is easily rewritten.

    ``algorithm`` (the ``signing_algorithm`` setting) may differ from the active key's: a
    rotation is how an installation changes key type.  The bundle then holds an EC and an RSA
    certificate side by side and the JWKS both keys, each with its own ``alg``, so either
    generation accepts tokens of both keys through the overlap (registry 3's
    ``signingalgorithms`` must list both: see :func:`algorithms`)."""
    if paths.next_key.exists() and paths.next_cert.exists():
        material, created = keys.load(paths.next_key, paths.next_cert), False
    elif paths.next_key.exists() or paths.next_cert.exists():
        raise RotationError(f"only half of the next key pair exists ({paths.next_key}, {paths.next_cert}); "
                            "remove the remaining file and run 'authsvc keys rotate' again")
    else:
        material, created = keys.generate(paths.next_key, paths.next_cert, common_name=common_name,
                                          validity_days=validity_days, algorithm=algorithm), True
    publish(paths, kid_format=kid_format)
    return material, created


def staged(paths: KeyPaths) -> keys.SigningMaterial | None:
    if not paths.next_key.exists():
        return None
    return keys.load(paths.next_key, paths.next_cert)


def last_activation(paths: KeyPaths) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(json.loads(paths.state.read_text())["activated_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def activate(paths: KeyPaths, *, kid_format: str, token_lifetime: int, now: dt.datetime | None = None) -> None:
    """Make the staged key the active one; the old certificate stays trusted as *previous*.

    Refused while a previous certificate still covers unexpired tokens: replacing it would
    leave those tokens without a trusted key.  Order matters for a crash halfway: the old
    certificate is saved first, then the key, then the certificate move; a worker that sees
    a key and certificate that do not match keeps signing with what it had.
    """
    now = now or dt.datetime.now(dt.UTC)
    if not (paths.next_key.exists() and paths.next_cert.exists()):
        raise RotationError("no next key is staged; run 'authsvc keys rotate' first")
    keys.load(paths.next_key, paths.next_cert)  # a damaged pair must not become the active one
    if paths.previous_cert.exists():
        wait = retire_wait(paths, token_lifetime=token_lifetime, now=now)
        if wait > 0:
            raise RotationError(f"the previous key may still have valid tokens for {wait} s; "
                                "retry then (or run 'authsvc keys retire' once it is safe)")
    _write_public(paths.previous_cert, paths.cert.read_bytes())
    os.replace(paths.next_key, paths.key)
    os.replace(paths.next_cert, paths.cert)
    _write_public(paths.state, (json.dumps({"activated_at": now.isoformat()}) + "\n").encode())
    publish(paths, kid_format=kid_format)


def retire_wait(paths: KeyPaths, *, token_lifetime: int, now: dt.datetime | None = None) -> int:
    """Seconds until the previous key's last token has expired (0: retiring it is safe)."""
    now = now or dt.datetime.now(dt.UTC)
    activated = last_activation(paths)
    if activated is None:  # no record (copied files, hand-made state): assume just now
        activated = dt.datetime.fromtimestamp(paths.previous_cert.stat().st_mtime, dt.UTC)
    # + clock skew the signer back-dates nbf by and a margin for a token issued at the switch
    remaining = (activated + dt.timedelta(seconds=token_lifetime + 10) - now).total_seconds()
    return max(0, int(remaining + 0.999))


def retire(paths: KeyPaths, *, kid_format: str, token_lifetime: int, force: bool = False,
           now: dt.datetime | None = None) -> x509.Certificate:
    """Drop the previous certificate from the bundle once its tokens have expired."""
    if not paths.previous_cert.exists():
        raise RotationError("there is no previous key to retire")
    wait = retire_wait(paths, token_lifetime=token_lifetime, now=now)
    if wait > 0 and not force:
        raise RotationError(f"tokens signed by the previous key may be valid for another {wait} s; "
                            "retry then (--force drops it now and fails those tokens)")
    certificate = _load_cert(paths.previous_cert)
    paths.previous_cert.unlink()
    publish(paths, kid_format=kid_format)
    return certificate


def days_left(certificate: x509.Certificate, now: dt.datetime | None = None) -> float:
    now = now or dt.datetime.now(dt.UTC)
    return (certificate.not_valid_after_utc - now).total_seconds() / 86400


def files_stamp(paths: KeyPaths) -> tuple:
    """What changes when any key file is replaced: workers compare it to notice a rotation."""
    stamp = []
    for path in (paths.key, paths.cert, paths.previous_cert):
        try:
            st = path.stat()
            stamp.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append(None)
    return tuple(stamp)
