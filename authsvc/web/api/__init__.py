"""The REST API under ``/api/v1``: JSON over the same service layer as the CLI and ``/token``.

Authentication: HTTP Basic (name and password) or ``Authorization: Bearer``
with a token from ``/token?service=<api_audience>``; no header means
anonymous, who sees only public projects.  Every rule is the service
layer's; this package only parses, calls and renders.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, request

from ...core.policy import ANONYMOUS
from ...services.errors import Forbidden, NotFound, Unauthorized
from ..errors import json_error
from . import machines, projects, repositories, users
from .auth import PRINCIPAL_KEY, caller

OPENAPI_PATH = Path(__file__).with_name("openapi.json")

def create_blueprint() -> Blueprint:
    blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

    @blueprint.before_request
    def authenticate_first():
        # Wrong credentials are a 401 before anything else is looked at: not a 400 about the
        # body or the query string that happened to be checked first.
        caller()
        # No user or project name holds a NUL character, and PostgreSQL refuses one even as a
        # query parameter (a 500): answer as for any other name that does not exist.
        if any("\x00" in str(value) for value in (request.view_args or {}).values()):
            raise NotFound("no such name: names never contain NUL characters")

    @blueprint.errorhandler(Forbidden)
    def forbidden(exc: Forbidden):
        # Refused to an anonymous caller: logging in may help, so it is a 401 (with
        # WWW-Authenticate), as for every other request that lacks credentials.  A logged-in
        # caller who lacks the right gets the 403.
        if request.environ.get(PRINCIPAL_KEY, ANONYMOUS).is_anonymous:
            return json_error(401, Unauthorized.code, f"authentication required: {exc.message}")
        return json_error(exc.http_status, exc.code, exc.message, field=exc.field)

    users.register(blueprint)
    machines.register(blueprint)
    projects.register(blueprint)
    repositories.register(blueprint)

    @blueprint.get("/openapi.json")
    def openapi():
        return Response(OPENAPI_PATH.read_text(), mimetype="application/json")

    return blueprint


def openapi_document() -> dict:
    return json.loads(OPENAPI_PATH.read_text())
