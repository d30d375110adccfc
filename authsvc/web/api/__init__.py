"""The REST API under ``/api/v1``: JSON over the same service layer as the CLI and ``/token``.

Authentication: HTTP Basic (name and password) or ``Authorization: Bearer``
with a token from ``/token?service=<api_audience>``; no header means
anonymous, who sees only public projects.  Every rule is the service
layer's; this package only parses, calls and renders.

Requests from other web sites (security review, finding 7): a browser sends
the credentials it holds for authsvc with any request a hostile page makes,
and such a page can send a body only as an HTML form would
(``application/x-www-form-urlencoded``, ``multipart/form-data``,
``text/plain``) or with no type; JSON needs a CORS pre-flight, which authsvc
never grants.  So a state-changing request is taken only as JSON or with no
body (415 otherwise), and a 401 challenges with ``Bearer``, which browsers do
not prompt for, naming where an API client gets its token.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import UnsupportedMediaType

from ...core.policy import ANONYMOUS
from ...services.errors import Forbidden, NotFound, Unauthorized
from ..errors import json_error
from . import machines, projects, repositories, trust, users
from .auth import PRINCIPAL_KEY, caller

OPENAPI_PATH = Path(__file__).with_name("openapi.json")

#: The methods that may change something: only these are held to :func:`_refuse_form_bodies`.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

def _refuse_form_bodies() -> None:
    """415 for a state-changing request that is neither JSON nor bodiless.

    Any declared type but JSON is refused even with an empty body (an HTML form with no fields
    sends one), and so is a body without a type (what ``fetch`` sends for a Blob).  It runs
    before authentication, so such a request does not even count as a failed login: a hostile
    page cannot spend a user's attempts and get them throttled.
    """
    if request.method not in STATE_CHANGING or request.is_json:
        return
    has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if request.mimetype or has_body:
        raise UnsupportedMediaType(
            f"{request.method} takes a JSON body (Content-Type: application/json) or none, "
            f"not {request.mimetype[:60] or 'a body without a Content-Type'}")


def challenge() -> str:
    """``WWW-Authenticate`` of the API's 401s: get a token from the realm for ``api_audience``.

    Never Basic: a browser answers that with a password prompt and then sends the typed
    credentials along with every request to authsvc, those made by other web sites included.
    """
    settings = current_app.extensions["authsvc"].settings
    return f'Bearer realm="{_quoted(settings.realm)}",service="{_quoted(settings.api_audience)}"'


def _quoted(value: str) -> str:
    """The inside of an RFC 9110 quoted-string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def create_blueprint() -> Blueprint:
    blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

    # Before authenticate_first: a request no API client sends is refused without touching anything.
    blueprint.before_request(_refuse_form_bodies)

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

    @blueprint.after_request
    def bearer_challenge(response: Response) -> Response:
        # Every 401 of the API, whatever refused it (a service, the Forbidden handler above).
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = challenge()
        return response

    users.register(blueprint)
    machines.register(blueprint)
    projects.register(blueprint)
    repositories.register(blueprint)
    trust.register(blueprint)

    @blueprint.get("/openapi.json")
    def openapi():
        return Response(OPENAPI_PATH.read_text(), mimetype="application/json")

    return blueprint


def openapi_document() -> dict:
    return json.loads(OPENAPI_PATH.read_text())
