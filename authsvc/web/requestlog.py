"""One log line per request, a request id, and the token endpoint's outcome and latency metrics.

Every request gets an id: the caller's ``X-Request-ID`` when it is sane
(bounded length and characters, so nobody can inject text into the log),
else a fresh random one.  It is returned in ``X-Request-ID`` and tagged on
every log record the request causes (``authsvc.logs``), so a proxy's or a
client's id leads straight to authsvc's lines.

The line says who (client address), what (method, path, query), the status,
the duration and, for ``/token``, the outcome.  Only what is listed here is
logged, so secrets cannot slip in: no header (Authorization, cookies), no
body (the OAuth2 form's ``password`` and ``refresh_token``), and of the
query string only the values of known harmless parameters — ``scope``,
``service``, ``account`` (the user name docker sends: already what the audit
log records), ``client_id``, ``offline_token`` and paging; any other
parameter's value is replaced by ``REDACTED``.

The token request metrics are counted here rather than in the view because
only here is every answer seen, including the 400/401/429/503 ones the error
handlers produce.
"""

from __future__ import annotations

import logging
import os
import re
import time
from urllib.parse import quote, urlencode

from flask import g, request

from .. import logs, metrics

HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:+=@/-]{1,128}")
SAFE_PARAMETERS = frozenset({"service", "scope", "account", "client_id", "offline_token", "page", "page_size"})
MAX_TARGET = 1000
TOKEN_ENDPOINT = "token.token"

log = logging.getLogger("authsvc.request")
_LINE = '%s "%s %s %s" %d %.1fms%s'


def start(started: float | None = None) -> None:
    """Time the request from now, or from ``started`` (a fast path that handed it over)."""
    # The proxies (request, g) are resolved once per function: each access costs a lookup.
    req, ctx = request._get_current_object(), g._get_current_object()
    ctx.request_started = time.perf_counter() if started is None else started
    ctx.request_id = begin(req.headers.get(HEADER, ""))


def begin(incoming: str) -> str:
    """The request id for a request that sent ``incoming`` in X-Request-ID; tags the log with it."""
    request_id = incoming if _SANE_ID.fullmatch(incoming) else os.urandom(16).hex()
    logs.set_request_id(request_id)
    return request_id


def finish(response):
    ctx = g._get_current_object()
    started = ctx.get("request_started")
    if started is None:  # a hook before ours failed; nothing was timed
        return response
    req = request._get_current_object()
    seconds = time.perf_counter() - started
    response.headers[HEADER] = ctx.request_id
    token_outcome = ctx.get("token_outcome") if req.endpoint == TOKEN_ENDPOINT else None
    answered(req, response.status_code, seconds, ctx.request_id, token=req.endpoint == TOKEN_ENDPOINT,
             token_outcome=token_outcome)
    return response


def answered(req, status: int, seconds: float, request_id: str, *, token: bool = False,
             token_outcome: str | None = None) -> None:
    """Count (for /token) and log one answered request.  ``req`` is a werkzeug request: Flask's,
    or the fast token path's (web/fast_token.py), which must write the very same line."""
    outcome = metrics.token_answered(status, token_outcome, seconds) if token else None
    client = _printable(req.remote_addr or "-", 64)
    method, target = _printable(req.method, 16), target_of_request(req)
    protocol = _printable(req.environ.get("SERVER_PROTOCOL", "HTTP/1.1"), 16)
    fields = {"client": client, "method": method, "path": target, "status": status,
              "duration_ms": round(seconds * 1000, 1)}
    if outcome:
        fields["outcome"] = outcome
    level = logging.WARNING if status >= 500 else logging.INFO
    args = (client, method, target, protocol, status, seconds * 1000, f" outcome={outcome}" if outcome else "")
    handler = logs.direct_handler(log, level)
    if handler is not None:  # only our stderr handler would see the record: write its line directly
        logs.write_line(handler, log, level, _LINE % args, request_id, fields)
    else:
        log.log(level, _LINE, *args, extra={"http": fields, "request_id": request_id})


def forget() -> None:
    logs.clear_request_id()


#: Logged targets of recent (path, query string) pairs: registry clients repeat the same token
#: requests, and re-encoding a query costs more than the rest of the log line.  Only queries of
#: safe parameters are kept, so no redacted value is ever held here either.
_TARGETS: dict[tuple[str, bytes], str] = {}
_TARGETS_MAX = 1024


def target_of_request(req=None) -> str:
    """Path and query as logged: re-encoded (no space, quote or newline can reach the line) and
    with every value outside :data:`SAFE_PARAMETERS` redacted."""
    req = req if req is not None else request._get_current_object()
    key = (req.path, req.query_string)
    target = _TARGETS.get(key)
    if target is None:
        target = _encode_target(req)
        if all(name in SAFE_PARAMETERS for name in req.args):
            if len(_TARGETS) >= _TARGETS_MAX:
                _TARGETS.clear()
            _TARGETS[key] = target
    return target


def _encode_target(req) -> str:
    target = quote(req.path, safe="/:@!$&'()*+,;=")
    if req.args:
        pairs = [(name, value if name in SAFE_PARAMETERS else "REDACTED")
                 for name, value in req.args.items(multi=True)]
        target += "?" + urlencode(pairs, quote_via=quote, safe=":/,*")
    return target if len(target) <= MAX_TARGET else target[:MAX_TARGET] + "..."


def _printable(value: str, limit: int) -> str:
    if value.isprintable() and " " not in value and '"' not in value and len(value) <= limit:
        return value
    return quote(value[:limit], safe="")
