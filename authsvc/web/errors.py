"""Every HTTP error as JSON, in one place: ``{"errors": [{"code": ..., "message": ...}]}``.

The shape is the registry's own error format, so a client that shows the
registry's errors shows ours the same way.  Unexpected exceptions become a
500 with a generic message; the traceback goes to the log, never the client.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from sqlalchemy.exc import DBAPIError

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
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="authsvc", charset="UTF-8"'
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return json_error(exc.http_status, exc.code, exc.message, field=exc.field, headers=headers)

    @app.errorhandler(DBAPIError)
    def _database_down(exc: DBAPIError):
        # Unreachable or overloaded database: tell clients to retry, never hang or 500.
        db.session.rollback()
        log.error("database error: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        return json_error(503, "UNAVAILABLE", "the database is unavailable; retry shortly",
                          headers={"Retry-After": "5"})

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
