"""A token request, from credentials to a signed answer: the registry's hot path.

    parse scopes (reject garbage before paying for bcrypt)
    -> authenticate (refresh token, password with cache, or anonymous)
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
from ..store.models import db
from . import audit, refresh_tokens
from .credentials import ANONYMOUS_IDENTITY
from .errors import Invalid


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


@dataclass(frozen=True)
class TokenGrant:
    body: dict
    principal: Principal
    granted: list[Scope]
    #: "granted" (every requested action), "partial" or "denied" (none), for metrics and the log.
    outcome: str = "granted"


def issue_token(ctx, request: TokenRequest) -> TokenGrant:
    """Authenticate, decide and sign; raises Invalid (400) or Unauthorized (401)."""
    settings = ctx.settings
    service = request.service or settings.services[0]
    for_api = service == settings.api_audience
    if service not in settings.services and not for_api:
        raise Invalid(f"unknown service {service[:80]!r}", field="service")
    try:
        scopes = parse_scopes(request.scopes)
    except ScopeError as exc:
        raise Invalid(str(exc), field="scope") from None

    identity = ANONYMOUS_IDENTITY
    if request.refresh_token is not None:
        identity = ctx.authenticator.by_refresh_token(request.refresh_token)
    elif request.username is not None:
        identity = ctx.authenticator.by_password(request.username, request.password or "")
    principal = identity.principal

    views = queries.project_views(identity.user_id, projects_named(scopes))
    # A token for the REST API only proves who the caller is; it never carries registry access.
    granted = [] if for_api else decide(principal, scopes, views, anonymous_pull=settings.anonymous_pull)
    outcome = metrics.token_decided(scopes, granted)
    issued = ctx.signer.issue(subject=principal.subject, audience=service,
                              access=[scope.to_access() for scope in granted])
    if settings.audit_token_grants:
        audit.record(principal, "token.grant", service, requested=[str(s) for s in scopes],
                     granted=[str(s) for s in granted], client=request.client_id[:64])
    body = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if request.offline and identity.refreshable is not None and settings.refresh_tokens:
        body["refresh_token"] = refresh_tokens.issue(identity.refreshable, request.client_id)  # commits the audit event too
    elif settings.audit_token_grants:
        db.session.commit()
    return TokenGrant(body=body, principal=principal, granted=granted, outcome=outcome)
