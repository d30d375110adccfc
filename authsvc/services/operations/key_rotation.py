"""Key rotation as the operator drives it: stage, prove the registries trust the new key, switch, retire.

The file mechanics are in :mod:`authsvc.signing.rotation`; this layer adds
what needs settings and the network: a token signed with the *next* key is
shown to each registry named, and the switch happens only once all of them
accept it -- i.e. once they have been restarted with the new bundle.  That
check is what makes "rotate without a failed pull" hold even when someone
forgets a registry.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from ...core.policy import OPERATOR
from ...signing import rotation
from ...signing.jwt import TokenSigner
from .. import audit
from ..errors import ServiceError
from ..unit_of_work import UnitOfWork
from . import registry_probe

#: The subject of the probe tokens; they grant nothing (empty ``access``) and live one minute.
PROBE_SUBJECT = "authsvc-key-rotation"
PROBE_LIFETIME = 60


@dataclass(frozen=True)
class RegistryVerdict:
    url: str
    accepted: bool
    detail: str


def stage(uow: UnitOfWork) -> tuple[str, bool]:
    """Create (or re-publish) the next key; returns its kid and whether it is new."""
    s = uow.settings
    material, created = _rotation_call(rotation.stage, uow.context.key_paths, common_name=s.issuer,
                                       validity_days=s.cert_validity_days, kid_format=s.kid_format,
                                       algorithm=s.signing_algorithm)
    kid = rotation.key_id(material.private_key.public_key(), s.kid_format)
    if created:
        _audit(uow, "key.staged", kid)
    return kid, created


def probe_next_key(uow: UnitOfWork, registries: list[str], *, service: str | None = None,
                   ca_file: str | None = None) -> list[RegistryVerdict]:
    """Whether each registry accepts a token signed with the staged key."""
    material = rotation.staged(uow.context.key_paths)
    if material is None:
        raise ServiceError("no next key is staged; run 'authsvc keys rotate' first")
    signer = TokenSigner(material, issuer=uow.settings.issuer, lifetime=PROBE_LIFETIME,
                         kid_format=uow.settings.kid_format, x5c=uow.settings.token_x5c)
    token = signer.issue(subject=PROBE_SUBJECT, audience=service or uow.settings.services[0], access=[]).token
    verdicts = []
    for url in registries:
        try:
            accepted, detail = registry_probe.token_accepted(url, token, ca_file=ca_file)
        except registry_probe.RegistryUnreachable as exc:
            accepted, detail = False, f"unreachable: {exc}"
        verdicts.append(RegistryVerdict(url, accepted, detail))
    return verdicts


def wait_until_trusted(uow: UnitOfWork, registries: list[str], *, timeout: float, service: str | None = None,
                       ca_file: str | None = None, interval: float = 1.0) -> list[RegistryVerdict]:
    """Poll until every registry accepts the next key or ``timeout`` passes; the last verdicts."""
    deadline = time.monotonic() + timeout
    while True:
        verdicts = probe_next_key(uow, registries, service=service, ca_file=ca_file)
        if all(v.accepted for v in verdicts) or time.monotonic() >= deadline:
            return verdicts
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def activate(uow: UnitOfWork) -> str:
    """Switch signing to the staged key; returns the new kid.  Callers check the registries first."""
    s = uow.settings
    _rotation_call(rotation.activate, uow.context.key_paths, kid_format=s.kid_format, token_lifetime=s.token_ttl)
    kid = rotation.key_id(rotation.trusted_keys(uow.context.key_paths)[0].public_key, s.kid_format)
    _audit(uow, "key.activated", kid)
    return kid


def retire(uow: UnitOfWork, *, force: bool = False) -> str:
    """Drop the previous key from the trust files; returns its kid."""
    s = uow.settings
    certificate = _rotation_call(rotation.retire, uow.context.key_paths, kid_format=s.kid_format,
                                 token_lifetime=s.token_ttl, force=force)
    kid = rotation.key_id(certificate.public_key(), s.kid_format)
    _audit(uow, "key.retired", kid, forced=force)
    return kid


def status(uow: UnitOfWork, now: dt.datetime | None = None) -> dict:
    """The keys the registry must trust now, their kids and expiry, and what to do next."""
    s = uow.settings
    paths = uow.context.key_paths
    now = now or dt.datetime.now(dt.UTC)
    entries = []
    for trusted in rotation.trusted_keys(paths):
        cert = trusted.certificate
        entries.append({"role": trusted.role, "kid": rotation.key_id(trusted.public_key, s.kid_format),
                        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "days_left": int(rotation.days_left(cert, now))})
    roles = {e["role"] for e in entries}
    if "next" in roles:
        step = ("restart every registry (it reads the bundle at start), then "
                "'authsvc keys activate --registry URL'")
    elif "previous" in roles:
        wait = rotation.retire_wait(paths, token_lifetime=s.token_ttl, now=now)
        step = (f"'authsvc keys retire' in {wait} s" if wait else "'authsvc keys retire'") + \
            ", then restart the registries"
    else:
        step = None
    return {"keys": entries, "bundle": str(paths.bundle), "bundle_current": rotation.published_bundle_is_current(paths),
            "next_step": step}


def _audit(uow: UnitOfWork, action: str, kid: str, **details) -> None:
    """Rotation is an administrative change: on the record, like every other one."""
    audit.record(uow, OPERATOR, action, kid, **details)


def _rotation_call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except rotation.RotationError as exc:
        raise ServiceError(str(exc)) from None
