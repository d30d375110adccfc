"""The request log line written straight to authsvc's stderr handler (logs.direct_handler).

Under gunicorn nothing but authsvc's own handler sees the request log's records, and the line is
then written without a ``LogRecord`` (web/requestlog.py, logs.write_line).  Those bytes must be
exactly what the logging module writes, in both formats, for every kind of line; and anything
else listening (another handler, a filter, a level) must get the ordinary record.
"""

from __future__ import annotations

import io
import logging
import time

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from authsvc import logs
from authsvc.web import requestlog

#: Instants around second and millisecond boundaries (the time field's two parts).
INSTANTS = (1767225600.0, 1767225600.0005, 1767225600.9995, 1767225600.999999, 1767225601.001, 1767225661.25)
LINES = [  # status, token endpoint, the decision's outcome, request id
    (200, True, "granted", "rid-1"),
    (200, True, "partial", "0f8fad5b-d9cb-469f-a165-70867728950e"),
    (401, True, None, "a" * 128),
    (503, True, None, "x"),  # a WARNING
    (200, False, None, "-"),
    (500, False, None, "r"),
]


@pytest.fixture
def stderr(monkeypatch):
    """Installs authsvc's own stderr handler as under gunicorn (no root handler), writing to a
    buffer; pytest's capture handlers are back on the root logger after the test."""
    root, ours = logging.getLogger(), logging.getLogger(logs.LOGGER)
    saved_root, saved_ours = root.handlers[:], ours.handlers[:]
    stream = io.StringIO()
    monkeypatch.setattr(logs, "_installed", [])

    def install(log_format: str) -> io.StringIO:
        saved_root[:] = root.handlers  # pytest's, added for the test's call
        monkeypatch.setattr("sys.stderr", stream)
        root.handlers.clear()
        logs.configure(log_format)
        return stream

    yield install
    for handler in [h for h in ours.handlers if h not in saved_ours]:
        ours.removeHandler(handler)
    root.handlers[:] = saved_root


def _request(path: str, query: str, remote: str = "10.0.0.7") -> Request:
    return Request(EnvironBuilder(path=path, query_string=query, environ_base={"REMOTE_ADDR": remote}).get_environ())


REQUESTS = [
    _request("/token", "service=registry&scope=repository:priv/app:pull,push"),
    _request("/token", "service=registry&password=oops&scope=repository%3Apub%2Fapp%3Apull"),
    _request('/no/such"path\n2026 INFO forged', "", remote="::1"),
    _request("/caf\u00e9", "account=d\u00e9j\u00e0"),
]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_direct_line_is_the_logging_modules_byte_for_byte(stderr, monkeypatch, log_format):
    stream = stderr(log_format)
    direct = []
    write_line = logs.write_line
    monkeypatch.setattr(logs, "write_line", lambda *a: (direct.append(a), write_line(*a)))
    pairs = 0
    for created in INSTANTS:
        monkeypatch.setattr(time, "time", lambda created=created: created)
        for req in REQUESTS:
            for status, token, outcome, request_id in LINES:
                for path in ("direct", "logging"):
                    with monkeypatch.context() as patch:
                        if path == "logging":
                            patch.setattr(logs, "direct_handler", lambda *_: None)
                        requestlog.answered(req, status, 0.01234, request_id, token=token, token_outcome=outcome)
                pairs += 1
    lines = stream.getvalue().splitlines(keepends=True)
    assert len(direct) == pairs and len(lines) == 2 * pairs
    for by_direct, by_logging in zip(lines[::2], lines[1::2], strict=True):
        assert by_direct == by_logging


def test_any_other_listener_gets_the_ordinary_record(stderr, monkeypatch):
    stderr("text")
    request_logger = logging.getLogger("authsvc.request")
    assert logs.direct_handler(request_logger, logging.INFO) is logs._installed[0]
    assert logs.direct_handler(logging.getLogger("authsvc.audit"), logging.WARNING) is logs._installed[0]

    other = logging.Handler()
    for place in (logging.getLogger(), logging.getLogger(logs.LOGGER), request_logger):
        place.addHandler(other)
        assert logs.direct_handler(request_logger, logging.INFO) is None, place.name
        place.removeHandler(other)
    with monkeypatch.context() as patch:
        patch.setattr(request_logger, "filters", [logging.Filter("elsewhere")])
        assert logs.direct_handler(request_logger, logging.INFO) is None
    with monkeypatch.context() as patch:
        patch.setattr(logs._installed[0], "level", logging.WARNING)
        assert logs.direct_handler(request_logger, logging.INFO) is None
        assert logs.direct_handler(request_logger, logging.WARNING) is logs._installed[0]
    with monkeypatch.context() as patch:
        patch.setattr(request_logger, "level", logging.ERROR)
        request_logger._cache.clear()
        assert logs.direct_handler(request_logger, logging.INFO) is None
    request_logger._cache.clear()
    with monkeypatch.context() as patch:
        patch.setattr(logs._installed[0], "formatter", logging.Formatter("%(message)s"))
        assert logs.direct_handler(request_logger, logging.INFO) is None
    assert logs.direct_handler(request_logger, logging.INFO) is logs._installed[0]


def test_pytests_own_capture_keeps_the_records(caplog):
    """With a root handler (pytest's, a --log-config), configure installs nothing and every line is
    a record, as the rest of the suite relies on."""
    logs.configure("text")
    with caplog.at_level(logging.INFO, logger="authsvc.request"):
        requestlog.answered(REQUESTS[0], 200, 0.001, "rid-c", token=True, token_outcome="granted")
    assert [r.request_id for r in caplog.records if r.name == "authsvc.request"] == ["rid-c"]
