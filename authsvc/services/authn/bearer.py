"""The API-token verifier: ``Authorization: Bearer`` with a token from ``/token?service=<api_audience>``.

Such a token names its account by id and credential version, not by name
alone (claims ``uid`` and ``cv``), so it dies with a password change or
deactivation, and a deleted account's token never works for a new account
of the same name.  It also carries ``cred``, the kind of credential it was
obtained with: a token minted with a personal access token is no stronger
than that token.
"""

from __future__ import annotations

import jwt

from ...core.policy import CredentialKind, Principal
from ...store import queries
from ..unit_of_work import UnitOfWork
from .identity import BearerTokenPresented, Identity
from .standing import AccountStanding

USER_ID_CLAIM = "uid"
VERSION_CLAIM = "cv"
CREDENTIAL_CLAIM = "cred"


def claims_for(identity: Identity) -> dict:
    """The claims that bind an API token to the identity that asked for it."""
    return {USER_ID_CLAIM: identity.user_id, VERSION_CLAIM: identity.credential_version,
            CREDENTIAL_CLAIM: identity.principal.credential.value}


class BearerTokenVerifier:
    def __init__(self, standing: AccountStanding):
        self.standing = standing  # a directory or OIDC person's groups, asked again once they age out

    kind = "api_token"
    throttled = False

    def claimed_name(self, uow: UnitOfWork, credential: BearerTokenPresented) -> str:
        return ""  # nothing in a refused token can be trusted, not even its subject

    def accepts(self, credential) -> bool:
        return isinstance(credential, BearerTokenPresented)

    def verify(self, uow: UnitOfWork, credential: BearerTokenPresented) -> Identity | None:
        try:
            claims = uow.signer.verify(credential.token, audience=uow.settings.api_audience)
        except jwt.InvalidTokenError:
            return None
        user_id, version = claims.get(USER_ID_CLAIM), claims.get(VERSION_CLAIM)
        try:
            root = CredentialKind(claims.get(CREDENTIAL_CLAIM))
        except ValueError:
            return None
        if type(user_id) is not int or type(version) is not int:
            return None
        user = queries.user_by_id(uow.reads, user_id)
        if (user is None or not user.is_active or user.name != claims.get("sub")
                or user.credential_version != version):
            return None
        standing = self.standing.of(uow, user)
        if standing is None:  # groups aged out and their source no longer vouches
            return None
        principal = Principal(user.name, standing[0], credential=root, groups=standing[1])
        return Identity(principal, self.kind, user.id, user.credential_version)
