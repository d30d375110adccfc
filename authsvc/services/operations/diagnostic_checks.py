"""The verdicts ``authsvc doctor`` gives, and the certificate helpers several checks share.

Their own module, so that the local checks (:mod:`.diagnostics`) and the checks of a
registry's configuration (:mod:`.diagnostics_registry_config`) both use them without
importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ...signing import keys

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass(frozen=True)
class Check:
    """One verdict: ``status`` is ok, warn, fail, or skip (could not be checked: an earlier failure)."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def certificates_in(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle; raises OSError or ValueError."""
    return x509.load_pem_x509_certificates(path.read_bytes())


def missing_from(bundle: list[x509.Certificate], wanted: dict[str, keys.SigningMaterial | None]) -> list[str]:
    """Which of the wanted certificates (by role) are not in the bundle, compared as DER."""
    ders = {c.public_bytes(serialization.Encoding.DER) for c in bundle}
    return [role for role, material in wanted.items() if material is not None
            and material.certificate.public_bytes(serialization.Encoding.DER) not in ders]
