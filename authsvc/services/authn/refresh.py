"""The refresh-token verifier: what docker sends after ``docker login`` instead of a password.

A refresh token is issued only to a password login and stands for it, but it
lives on a developer's disk: the principal it yields carries
``CredentialKind.REFRESH_TOKEN``, so it may pull and push but never mint
credentials.  It dies with its user, with a password change or deactivation
(``credential_version``), after ``refresh_token_days``, or when revoked.
Its last use is written at most once a minute (``LAST_USE_RESOLUTION``), for the console's list
of docker logins, as a lasting write of the unit (``UnitOfWork.lasting``); on the fast token path
that write hands the request to the Flask path.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from ...core.credential_secrets import digest
from ...core.policy import CredentialKind, Principal
from ...store import queries
from ...store.models import RefreshToken, utcnow
from ..unit_of_work import UnitOfWork
from .identity import Identity, RefreshTokenPresented
from .personal_token import LAST_USE_RESOLUTION
from .standing import AccountStanding

_tokens = RefreshToken.__table__


class RefreshTokenVerifier:
    def __init__(self, standing: AccountStanding):
        self.standing = standing  # a directory or OIDC person's groups, asked again once they age out

    kind = "refresh_token"
    throttled = False

    def claimed_name(self, uow: UnitOfWork, credential: RefreshTokenPresented) -> str:
        """The owner of a refused refresh token, if it exists (an expired or outdated one)."""
        owner = queries.refresh_token_owner(uow.reads, digest(credential.token))
        return owner.name if owner is not None else ""

    def accepts(self, credential) -> bool:
        return isinstance(credential, RefreshTokenPresented)

    def verify(self, uow: UnitOfWork, credential: RefreshTokenPresented) -> Identity | None:
        user = queries.refresh_token_owner(uow.reads, digest(credential.token))
        lifetime = dt.timedelta(days=uow.settings.refresh_token_days)
        now = utcnow()
        if (user is None or not user.is_active or user.token_version != user.credential_version
                or (lifetime and user.token_created_at + lifetime < now)):
            return None
        standing = self.standing.of(uow, user)
        if standing is None:  # groups aged out and their source no longer vouches
            return None
        # Stamped only once the token is accepted: a refused one leaves no trace but the refusal's.
        if user.last_used_at is None or now - user.last_used_at >= LAST_USE_RESOLUTION:
            with uow.lasting() as connection:
                connection.execute(update(_tokens).where(_tokens.c.id == user.token_id).values(last_used_at=now))
        principal = Principal(user.name, standing[0], credential=CredentialKind.REFRESH_TOKEN, groups=standing[1])
        return Identity(principal, self.kind, user.id, user.credential_version)
