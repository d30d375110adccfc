"""The REST API under ``/api/v1``: JSON over the same service layer as the CLI and ``/token``.

Authentication: HTTP Basic (name and password) or ``Authorization: Bearer``
with a token from ``/token?service=<api_audience>``; no header means
anonymous, who sees only public projects.  Every rule is the service
layer's; this package only parses, calls and renders.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, current_app, g, request

from ...core.policy import ANONYMOUS, Principal
from ...services import credentials
from ...services.errors import Unauthorized
from ..token import basic_credentials

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def caller() -> Principal:
    """The authenticated principal of this request (resolved once, then kept in ``g``)."""
    if "principal" not in g:
        g.principal = _authenticate(request.headers.get("Authorization"))
    return g.principal


def _authenticate(header: str | None) -> Principal:
    if not header:
        return ANONYMOUS
    ctx = current_app.extensions["authsvc"]
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        user = credentials.by_api_token(ctx, value.strip())
    elif scheme.lower() == "basic":
        name, password = basic_credentials(header)
        user = ctx.authenticator.by_password(name, password)
    else:
        raise Unauthorized("use Basic or Bearer credentials")
    return Principal(user.name, user.is_admin)


def create_blueprint() -> Blueprint:
    from . import projects, users

    blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
    users.register(blueprint)
    projects.register(blueprint)

    @blueprint.get("/openapi.json")
    def openapi():
        return Response(OPENAPI_PATH.read_text(), mimetype="application/json")

    return blueprint


def openapi_document() -> dict:
    return json.loads(OPENAPI_PATH.read_text())
