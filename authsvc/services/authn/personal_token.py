"""The personal-access-token verifier: a user name with an ``asvc_pat_…`` token as the password.

Looked up by SHA-256 (256 random bits need no bcrypt or throttle).  A token
works only for the name it belongs to, while its owner is active, before it
expires, and until the owner's next password change (it remembers the
``credential_version`` it was made under).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from ...core.credential_secrets import digest, is_personal_token
from ...core.policy import CredentialKind, Principal
from ...store import queries
from ...store.models import PersonalToken, utcnow
from ..unit_of_work import UnitOfWork
from .identity import Identity, NameAndSecret
from .password import storable
from .standing import AccountStanding

#: Writing last-use on every request would put a write on the hot path; once a minute is enough
#: (the refresh-token verifier uses the same resolution).
LAST_USE_RESOLUTION = dt.timedelta(minutes=1)
_tokens = PersonalToken.__table__


class PersonalTokenVerifier:
    def __init__(self, standing: AccountStanding):
        self.standing = standing  # a directory or OIDC person's groups, asked again once they age out

    kind = "personal_token"
    throttled = False

    def claimed_name(self, uow: UnitOfWork, credential: NameAndSecret) -> str:
        """Whom a refused attempt claimed to be, as the audit log and the throttle store it."""
        return storable(credential.name.lower())

    def accepts(self, credential) -> bool:
        return isinstance(credential, NameAndSecret) and is_personal_token(credential.secret)

    def verify(self, uow: UnitOfWork, credential: NameAndSecret) -> Identity | None:
        row = queries.personal_token_owner(uow.reads, digest(credential.secret))
        now = utcnow()
        if (row is None or row.name != credential.name.lower() or not row.is_active
                or row.token_version != row.credential_version
                or (row.expires_at is not None and row.expires_at <= now)):
            return None
        standing = self.standing.of(uow, row)
        if standing is None:  # groups aged out and their source no longer vouches
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USE_RESOLUTION:
            with uow.lasting() as connection:  # a console sign-in refusing the token keeps the stamp
                connection.execute(update(_tokens).where(_tokens.c.id == row.token_id).values(last_used_at=now))
        principal = Principal(row.name, standing[0], credential=CredentialKind.PERSONAL_TOKEN, groups=standing[1])
        return Identity(principal, self.kind, row.id, row.credential_version)
