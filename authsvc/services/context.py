"""The long-lived objects the services share within one process.

Built once by ``create_app`` and kept in ``app.extensions['authsvc']``:
settings, the authenticator with its credential cache, and the token signer
(whose key is loaded on first use, so CLI commands that never sign do not
need the key to exist yet).
"""

from __future__ import annotations

from functools import cached_property

from flask import current_app

from ..settings import Settings
from ..signing import keys
from ..signing.jwt import TokenSigner


class ServiceContext:
    def __init__(self, settings: Settings):
        # Imported here: the services import ``current`` from this module.
        from .credentials import Authenticator, VerifiedCredentialCache

        self.settings = settings
        self.authenticator = Authenticator(VerifiedCredentialCache(settings.credential_cache_ttl), settings)

    @cached_property
    def signing_material(self) -> keys.SigningMaterial:
        return keys.load(self.settings.signing_key_path, self.settings.signing_cert_path)

    @cached_property
    def signer(self) -> TokenSigner:
        return TokenSigner(self.signing_material, issuer=self.settings.issuer,
                           lifetime=self.settings.token_ttl, kid_format=self.settings.kid_format)

    def ensure_keys(self) -> bool:
        """Generate the signing key and certificate if absent; True if they were created."""
        material, created = keys.ensure(self.settings.signing_key_path, self.settings.signing_cert_path,
                                        common_name=self.settings.issuer,
                                        validity_days=self.settings.cert_validity_days)
        self.__dict__["signing_material"] = material
        self.__dict__.pop("signer", None)
        return created


def current() -> ServiceContext:
    """The context of the running app.

    The services already live inside an app context (Flask-SQLAlchemy's
    session is bound to it), so reading settings from the same place keeps
    every caller from having to pass them, and from passing different ones.
    """
    return current_app.extensions["authsvc"]
