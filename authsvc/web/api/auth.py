"""Who is calling the REST API: HTTP Basic (name and password, personal token or robot secret) or
``Authorization: Bearer`` with a token from ``/token?service=<api_audience>``; no header means
anonymous.  The verifier chain (``services/authn``) decides; this module only reads the header."""

from __future__ import annotations

from flask import request

from ...core.policy import ANONYMOUS, Principal
from ...services.authn import BearerTokenPresented, NameAndSecret
from ...services.errors import Unauthorized
from ..token import basic_credentials
from ..unit import unit

#: Where the principal is kept for the rest of the request.  Not ``g``: ``g`` lives as long as the
#: app context, and a request handled inside an already pushed app context (the test client in a
#: fixture's ``app.app_context()``, a script) shares it, so one request's caller would leak into the next.
PRINCIPAL_KEY = "authsvc.api.principal"


def caller() -> Principal:
    """The authenticated principal of this request (resolved once per request)."""
    environ = request.environ
    if PRINCIPAL_KEY not in environ:
        environ[PRINCIPAL_KEY] = _authenticate(request.headers.get("Authorization"))
    return environ[PRINCIPAL_KEY]


def _authenticate(header: str | None) -> Principal:
    if not header:
        return ANONYMOUS
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        credential = BearerTokenPresented(value.strip())
    elif scheme.lower() == "basic":
        credential = NameAndSecret(*basic_credentials(header))
    else:
        raise Unauthorized("use Basic or Bearer credentials")
    work = unit()
    return work.context.authenticator.authenticate(work, credential).principal
