"""Every HTTP error as JSON, in one place: ``{"errors": [{"code": ..., "message": ...}]}``.

The shape is the registry's own error format, so a client that shows the
registry's errors shows ours the same way.  Unexpected exceptions become a
500 with a generic message; the traceback goes to the log, never the client.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ..services.errors import ServiceError, Unauthorized

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
        return json_error(exc.http_status, exc.code, exc.message, field=exc.field)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        return json_error(status, _HTTP_CODES.get(status, "ERROR"), exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return json_error(500, "INTERNAL", "internal error; see the server log")


__all__ = ["json_error", "register", "Unauthorized"]
