"""Every HTTP error as JSON, in one place: ``{"errors": [{"code": ..., "message": ...}]}``.

The shape is the registry's own error format, so a client that shows the
registry's errors shows ours the same way.  Unexpected exceptions become a
500 with a generic message; the traceback goes to the log, never the client.

A 401 carries whatever challenge its front end names (the API a Bearer one,
web/api/__init__.py; the metrics theirs), and never a Basic one: a browser
answers ``WWW-Authenticate: Basic`` with a password prompt and then sends
what was typed with every later request to authsvc's origin, cross-site ones
included (security review, finding 7).  No client of authsvc needs it:
docker, podman, skopeo and containerd send their credentials to the token
endpoint unasked, and API clients send a header they chose.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from ..services.errors import ServiceError, Unauthorized
from ..store.models import db

log = logging.getLogger("authsvc")

_HTTP_CODES = {400: "INVALID", 401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND",
               405: "UNSUPPORTED", 413: "TOO_LARGE", 415: "UNSUPPORTED", 429: "TOO_MANY_REQUESTS",
               503: "UNAVAILABLE"}


def json_error(status: int, code: str, message: str, *, field: str | None = None, headers=None):
    error = {"code": code, "message": message}
    if field:
        error["detail"] = {"field": field}
    response = jsonify({"errors": [error]})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return json_error(exc.http_status, exc.code, exc.message, field=exc.field, headers=headers)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_down(exc: DBAPIError):
        # Unreachable, restarting or locked database: tell clients to retry, never hang or 500.
        db.session.rollback()
        log.error("database unavailable: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        return json_error(503, "UNAVAILABLE", "the database is unavailable; retry shortly",
                          headers={"Retry-After": "5"})

    @app.errorhandler(IntegrityError)
    def _lost_race(exc: IntegrityError):
        # Two requests created the same thing at once; the loser is told, as for any duplicate.
        db.session.rollback()
        return json_error(409, "CONFLICT", "a concurrent change conflicts with this one; retry")

    @app.errorhandler(DataError)
    def _unstorable(exc: DataError):
        # Input the database refuses (not an outage: retrying cannot help).
        db.session.rollback()
        return json_error(400, "INVALID", "the request holds a value that cannot be stored")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        # Keep the headers the exception carries besides its HTML content type: a 405 must say
        # which methods are allowed (RFC 9110, section 15.5.6).
        headers = {key: value for key, value in exc.get_headers() if key.lower() != "content-type"}
        return json_error(status, _HTTP_CODES.get(status, "ERROR"), exc.description or exc.name,
                          headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return json_error(500, "INTERNAL", "internal error; see the server log")


__all__ = ["json_error", "register", "Unauthorized"]
