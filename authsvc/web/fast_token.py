"""The token endpoint's everyday requests, answered in front of Flask's request machinery.

Every pull asks for a token, and the registry clients repeat the same few requests: a cached
password, a robot secret, a refresh token, or nobody.  For those, Flask's machinery -- an app and
a request context, URL routing, a session interface, the hooks, the response object -- costs more
than the answer itself.  :class:`FastTokenPath` sits in front of the Flask app (a WSGI
middleware) and answers them with the same code as the Flask view: the same parsing
(:func:`.token.token_request` on a werkzeug request), the same service (``issue_token``), the
same body (:func:`.token.answer_body`), the same log line and metrics
(:func:`.requestlog.answered`) and the same headers.

It answers only what it can answer without a side effect of its own.  The services run on a
:class:`~authsvc.services.unit_of_work.ReadOnlyUnit`, with the metrics they count held back
(:class:`authsvc.metrics.Deferred`); anything else -- a refusal (whose audit event and throttle
count are writes), a throttle counter to clear, a password not in the verified-credential cache
(bcrypt), a refresh token to store, a database error, an unusual request (another method, a
body that is not a small form) -- makes it drop what it did and hand the untouched request to
the Flask path, which answers it as if the fast path were not there.  Only once the answer is
decided does anything leave: the held-back counts, the grant for the audit log's batch writer,
the log line.

``token_fast_path = false`` turns it off; the HTTP test suite runs with it on and off
(tests/run), which is what proves the two paths give the same answers.
"""

from __future__ import annotations

import io
import time

from flask import Flask
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.formparser import FormDataParser
from werkzeug.wrappers import Request

from .. import logs, metrics
from ..services.unit_of_work import ReadOnlyUnit
from . import deadline, requestlog, token
from .deadline import Timer

_FORM = "application/x-www-form-urlencoded"
#: Parsed query strings of recent requests: registry clients repeat the same few, and werkzeug's
#: parse costs more than the rest of the request's parsing.  Only queries of parameters the
#: request log shows are kept (as its own cache of logged targets), so nothing redacted is held.
_ARGS: dict[str, ImmutableMultiDict] = {}
_ARGS_MAX = 1024
_ARGS_LONGEST = 2048  # characters of a query kept: a token request's are a few hundred


class FastTokenPath:
    """WSGI middleware: the token endpoint's common requests here, everything else to ``app``."""

    def __init__(self, app: Flask, *, path: str, engine, timer: Timer | None, max_body: int):
        self.full_path = app.wsgi_app
        self.context = app.extensions["authsvc"]
        self.path = path
        self.engine = engine
        self.timer = timer
        self.max_body = max_body

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == self.path and environ.get("REQUEST_METHOD") in ("GET", "POST"):
            answer = self._answer(environ)
            if answer is not None:
                headers, body = answer
                start_response("200 OK", headers)
                return [body]
        return self.full_path(environ, start_response)

    def _answer(self, environ) -> tuple[list[tuple[str, str]], bytes] | None:
        """The answer's headers and body, or None (and the request as it came) for the full path."""
        started = time.perf_counter()
        if environ["REQUEST_METHOD"] == "POST" and not self._buffer_form(environ):
            return None
        req = _request(environ)
        request_id = requestlog.begin(req.headers.get(requestlog.HEADER, ""))
        context = self.context
        uow = ReadOnlyUnit(context, self.engine, reads=context.kept_reads(self.engine),
                           source=req.remote_addr or "", request_id=request_id)
        timer = self.timer
        try:
            if timer is not None:
                timer.start()
            with metrics.Deferred() as counts:
                grant = token.grant_for(uow, req)
        except Exception as exc:  # noqa: BLE001 - FullPathNeeded, a refusal, a database error: not ours
            uow.rollback()
            logs.clear_request_id()
            _rewind(environ)
            if deadline.deadline_in(exc) is not None:
                # The request's time is spent: the full path answers its 503 at once, timed from
                # here, instead of waiting on the database a second time.
                environ[deadline.SPENT_SINCE] = started
            return None
        finally:
            if timer is not None:
                timer.stop()
        counts.apply()
        uow.finish()
        body = token.answer_body(grant)
        headers = [*token.NO_STORE.items(), ("Content-Type", "application/json"),
                   ("Content-Length", str(len(body))), (requestlog.HEADER, request_id)]
        requestlog.answered(req, 200, time.perf_counter() - started, request_id, token=True,
                            token_outcome=grant.outcome)
        logs.clear_request_id()
        return headers, body

    def _buffer_form(self, environ) -> bool:
        """Read a small form body into memory, so that both paths can read it; False for any
        other body (the Flask path then answers it: 413, 400, or whatever it is)."""
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != _FORM:
            return False
        if "HTTP_TRANSFER_ENCODING" in environ:
            return False
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or int(length) > self.max_body:
            return False
        body = environ["wsgi.input"].read(int(length))
        environ["authsvc.form_body"] = body
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return True


def _request(environ) -> Request:
    """The werkzeug request the Flask path would parse, with its ``args`` from :data:`_ARGS` and a
    small form's ``form`` parsed from the bytes already read (werkzeug's own parser, without the
    request's stream and content-type machinery around it: most of a refresh POST's parsing)."""
    req = Request(environ)
    query = environ.get("QUERY_STRING", "")
    args = _ARGS.get(query)
    if args is not None:
        req.__dict__["args"] = args  # what the cached property would compute, and immutable
    else:
        args = req.args
        if len(query) <= _ARGS_LONGEST and all(name in requestlog.SAFE_PARAMETERS for name in args):
            if len(_ARGS) >= _ARGS_MAX:
                _ARGS.clear()
            _ARGS[query] = args
    body = environ.get("authsvc.form_body")
    if body is not None and req.mimetype == _FORM:
        _, form, files = FormDataParser(cls=ImmutableMultiDict).parse(io.BytesIO(body), _FORM, len(body))
        req.__dict__["form"], req.__dict__["files"] = form, files
    return req


def _rewind(environ) -> None:
    """Give the Flask path the body the fast path read (a fresh stream over the same bytes)."""
    body = environ.get("authsvc.form_body")
    if body is not None:
        environ["wsgi.input"] = io.BytesIO(body)


def install(app: Flask, *, path: str, engine, timer: Timer | None, max_body: int) -> None:
    """Put the fast path in front of ``app``'s WSGI callable (before any proxy fix-up is added
    around it: it must see the client address the full path sees)."""
    app.wsgi_app = FastTokenPath(app, path=path, engine=engine, timer=timer, max_body=max_body)
