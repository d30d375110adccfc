"""A token request, from credentials to a signed answer: the registry's hot path.

    parse scopes (reject garbage before paying for bcrypt)
    -> authenticate (the verifier chain: refresh token, robot, personal token, password)
    -> load every named project with the caller's membership, in one query
    -> core.policy.decide: requested ∩ permitted
    -> sign

Lacking rights is never an error here: the token simply holds fewer actions,
and the registry answers the client's request with its own 401/403.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import metrics
from ..core.policy import Principal, decide, projects_named
from ..core.scopes import Scope, ScopeError, parse_scopes
from ..store import queries
from . import audit
from .authn import NameAndSecret, RefreshTokenPresented
from .authn.bearer import claims_for
from .credentials import refresh_tokens
from .errors import Invalid
from .unit_of_work import UnitOfWork


@dataclass(frozen=True)
class TokenRequest:
    """What a client asked for, already taken out of its HTTP form."""

    service: str | None
    scopes: list[str] = field(default_factory=list)
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    offline: bool = False
    client_id: str = ""
    #: An RFC 8693 token exchange: the answer says what it issued, as that RFC asks.
    token_exchange: bool = False

    @property
    def credential(self):
        if self.refresh_token is not None:
            return RefreshTokenPresented(self.refresh_token)
        if self.username is not None:
            return NameAndSecret(self.username, self.password or "")
        return None


@dataclass(frozen=True)
class TokenGrant:
    body: dict
    principal: Principal
    granted: list[Scope]
    #: "granted" (every requested action), "partial" or "denied" (none), for metrics and the log.
    outcome: str = "granted"


def issue_token(uow: UnitOfWork, request: TokenRequest) -> TokenGrant:
    """Authenticate, decide and sign; raises Invalid (400), Unauthorized (401) or Throttled (429)."""
    settings = uow.settings
    service = request.service or settings.services[0]
    for_api = service == settings.api_audience
    if service not in settings.services and not for_api:
        raise Invalid(f"unknown service {service[:80]!r}", field="service")
    try:
        scopes = parse_scopes(request.scopes)
    except ScopeError as exc:
        raise Invalid(str(exc), field="scope") from None

    named = projects_named(scopes)
    # The credential's read brings the named projects along: one round trip (store/queries.py).
    uow.reads = queries.reading_ahead(uow.reads, named)
    identity = uow.context.authenticator.authenticate(uow, request.credential)
    principal = identity.principal

    views = queries.project_views(uow.reads, identity.user_id, named, principal.groups)
    # A token for the REST API only proves who the caller is; it never carries registry access,
    # and it is bound to the account row (id, credential version) and the credential behind it.
    granted = [] if for_api else decide(principal, scopes, views, anonymous_pull=settings.anonymous_pull)
    outcome = metrics.token_decided(scopes, granted)
    issued = uow.signer.issue(subject=principal.subject, audience=service,
                              access=[scope.to_access() for scope in granted],
                              extra_claims=claims_for(identity) if for_api and identity.user_id else None,
                              not_after=identity.not_after)
    if settings.audit_token_grants:
        audit.record_grant(uow, principal, service, requested=[str(s) for s in scopes],
                           granted=[str(s) for s in granted], client=request.client_id[:64])
    body = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if request.token_exchange:
        body.update(issued_token_type="urn:ietf:params:oauth:token-type:access_token", token_type="Bearer")
    if request.offline and identity.may_refresh and settings.refresh_tokens:
        body["refresh_token"] = refresh_tokens.issue(uow, identity, request.client_id)
    return TokenGrant(body=body, principal=principal, granted=granted, outcome=outcome)
