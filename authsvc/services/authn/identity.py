"""What a verifier is given (a presented credential) and what it returns (an :class:`Identity`)."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.policy import ANONYMOUS, Principal


@dataclass(frozen=True)
class NameAndSecret:
    """A login name with a password, a personal access token or a robot secret (HTTP Basic, or
    the OAuth2 password grant containerd sends)."""

    name: str
    secret: str


@dataclass(frozen=True)
class RefreshTokenPresented:
    """The refresh token docker keeps after ``docker login`` (OAuth2 ``grant_type=refresh_token``)."""

    token: str


@dataclass(frozen=True)
class BearerTokenPresented:
    """A token we signed for the REST API's audience (``Authorization: Bearer``)."""

    token: str


Credential = NameAndSecret | RefreshTokenPresented | BearerTokenPresented


@dataclass(frozen=True)
class Identity:
    """Who authenticated, and with what.

    ``kind`` is the credential this request presented (``password``, ``personal_token``,
    ``robot``, ``identity_token``, ``oidc``, ``refresh_token``, ``api_token``, or ``anonymous``);
    ``principal.credential`` is the root it derives from, which is what policy judges.  ``user_id`` and
    ``credential_version`` name the account row exactly as it was when the credential was
    checked (None for anonymous callers and robots), so that anything derived from this
    identity -- a refresh token, an API token -- dies with that row or its next password.
    """

    principal: Principal
    kind: str
    user_id: int | None = None
    credential_version: int | None = None
    #: When the presented credential itself expires (an identity token's ``exp``, in seconds since
    #: the epoch): no token issued for it may outlive it.  None: the credential sets no such bound.
    not_after: int | None = None

    @property
    def name(self) -> str:
        return self.principal.subject

    @property
    def may_refresh(self) -> bool:
        """Only a real password login is handed a refresh token: one obtained with a personal
        token would outlive that token's expiry or revocation."""
        return self.kind == "password"


ANONYMOUS_IDENTITY = Identity(ANONYMOUS, kind="anonymous")
