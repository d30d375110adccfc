"""The long-lived objects the services share within one process.

Built once by ``create_app`` and kept in ``app.extensions['authsvc']``:
settings, the authenticator with its credential cache, and the token signer
(whose key is loaded on first use, so CLI commands that never sign do not
need the key to exist yet, and re-loaded when a rotation replaces it).
Services reach it through the :class:`~.unit_of_work.UnitOfWork` their
adapter passes them, never through a global.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.engine import Engine

from ..settings import Settings
from ..signing import keys, rotation
from ..signing.jwt import TokenSigner
from ..store.reads import KeptConnectionReads
from .authn import Authenticator
from .authn.cache import VerifiedCredentialCache
from .authn.directory import DirectoryAccounts
from .authn.oidc import OidcAccounts
from .grant_log import GrantLog

log = logging.getLogger("authsvc")

#: How often a worker looks whether the key files were replaced (one ``stat`` per file).
KEY_RECHECK_SECONDS = 2.0


class ServiceContext:
    def __init__(self, settings: Settings):
        self.settings = settings
        cache = VerifiedCredentialCache(settings.credential_cache_ttl)
        self.authenticator = Authenticator(cache, DirectoryAccounts(settings, cache), OidcAccounts(settings))
        self.grant_log = GrantLog(settings.audit_flush_interval)
        self._kept_reads: KeptConnectionReads | None = None
        self.key_paths = rotation.KeyPaths.from_settings(settings)
        self._signer: TokenSigner | None = None
        self._key_stamp: tuple | None = None
        self._key_check_due = 0.0

    @property
    def signer(self) -> TokenSigner:
        """The signer, re-read when the key files change (a rotation's ``activate``).

        Every worker of every instance checks the files' identity at most every
        ``KEY_RECHECK_SECONDS``, so a rotation reaches them all without a restart -- including
        a Kubernetes Secret update, which swaps the mounted files.  A pair caught half-replaced
        fails to load; the worker then keeps its current key and looks again later.
        """
        now = time.monotonic()
        if self._signer is None or now >= self._key_check_due:
            self._key_check_due = now + KEY_RECHECK_SECONDS
            stamp = rotation.files_stamp(self.key_paths)
            if self._signer is None or stamp != self._key_stamp:
                try:
                    self._signer = self._load_signer()
                    self._key_stamp = stamp
                except keys.KeyFileError:
                    if self._signer is None:
                        raise
                    log.warning("signing key files changed but do not load yet; still signing with %s",
                                self._signer.kid)
        return self._signer

    def kept_reads(self, engine: Engine) -> KeptConnectionReads:
        """The token path's reads on a connection each worker keeps (store/reads.py)."""
        if self._kept_reads is None or self._kept_reads.engine is not engine:
            self._kept_reads = KeptConnectionReads(engine)
        return self._kept_reads

    @property
    def signing_material(self) -> keys.SigningMaterial:
        return self.signer.material

    def _load_signer(self) -> TokenSigner:
        material = keys.load(self.key_paths.key, self.key_paths.cert)
        retired = ()
        if self.key_paths.previous_cert.exists():
            retired = tuple(t.public_key for t in rotation.trusted_keys(self.key_paths) if t.role == "previous")
        signer = TokenSigner(material, issuer=self.settings.issuer, lifetime=self.settings.token_ttl,
                             reuse_seconds=self.settings.token_reuse_seconds,
                             kid_format=self.settings.kid_format, retired_keys=retired,
                             x5c=self.settings.token_x5c)
        if self._signer is not None and signer.kid != self._signer.kid:
            log.info("signing key changed: now signing with %s", signer.kid)
        return signer

    def publish_trust(self) -> None:
        """Rewrite the trust bundle and JWKS from the key files (which must exist: 'authsvc init')."""
        keys.load(self.key_paths.key, self.key_paths.cert)
        rotation.publish(self.key_paths, kid_format=self.settings.kid_format)

    def ensure_keys(self) -> bool:
        """Generate the signing key and certificate if absent, and (re)publish the registry's trust
        bundle and JWKS; True if the key was created."""
        _, created = keys.ensure(self.key_paths.key, self.key_paths.cert, common_name=self.settings.issuer,
                                 validity_days=self.settings.cert_validity_days,
                                 algorithm=self.settings.signing_algorithm)
        rotation.publish(self.key_paths, kid_format=self.settings.kid_format)
        self._signer = None
        return created

