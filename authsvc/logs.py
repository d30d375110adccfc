"""authsvc's log lines: one format for every record, each tagged with its request id.

Why authsvc formats its own lines instead of relying on gunicorn's access
log: an operator following one failed ``docker pull`` needs the request id
(also returned in ``X-Request-ID``), the token request's outcome, and the
same id on any warning the request caused; gunicorn knows none of these.

``configure`` installs one stderr handler on the ``authsvc`` logger, in
``text`` (one line, ``key=value`` tail) or ``json`` (one object per line)
form.  If the embedding program already configured logging (a root handler
exists: pytest, a ``--log-config``), it is left in charge, so no line is
printed twice.  Nothing here ever sees a password or token: callers log
only what they chose to (see ``web/requestlog.py``).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time

LOGGER = "authsvc"
FORMATS = ("text", "json")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("authsvc_request_id", default="-")
_OURS = "_authsvc_handler"
#: The stderr handler :func:`configure` installed in this process, if it did (see :func:`direct_handler`).
_installed: list[logging.StreamHandler] = []


def set_request_id(value: str) -> None:
    """Tag every record logged from now on in this context (the current request) with ``value``."""
    _request_id.set(value)


def current_request_id() -> str | None:
    """The id of the request being served, or None outside a request (the CLI)."""
    value = _request_id.get()
    return None if value == "-" else value


def clear_request_id() -> None:
    """Back to '-': a sync worker's next log record may belong to no request at all."""
    _request_id.set("-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


#: The last second formatted, as (whole seconds, text): one per second instead of a strftime per
#: line.  One tuple, replaced whole, so a thread never reads one second's number with another's text.
_last_second: tuple[int, str] = (-1, "")


def _utc_seconds(created: float) -> str:
    global _last_second
    seconds = int(created)
    last = _last_second
    if last[0] != seconds:
        last = _last_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return last[1]


def _utc_time(record: logging.LogRecord) -> str:
    return _utc_seconds(record.created) + f".{int(record.msecs):03d}Z"


def _utc_time_at(created: float) -> str:
    """:func:`_utc_time` of a record created at ``created`` (``LogRecord`` computes its msecs so)."""
    return _utc_seconds(created) + f".{int((created - int(created)) * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO authsvc.request rid=… message``."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s rid=%(request_id)s %(message)s")

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return _utc_time(record)

    @staticmethod
    def line(created: float, level: str, name: str, request_id: str, message: str, _fields: dict) -> str:
        """What :meth:`format` makes of a record without exception or stack (:func:`write_line`)."""
        return f"{_utc_time_at(created)} {level} {name} rid={request_id} {message}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a request line adds its fields (``record.http``) at the top level.
    ``pid`` tells gunicorn's workers apart."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": _utc_time(record), "level": record.levelname, "logger": record.name, "pid": record.process,
                "request_id": getattr(record, "request_id", "-"), "message": record.getMessage()}
        line.update(getattr(record, "http", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=True, separators=(",", ":"))

    @staticmethod
    def line(created: float, level: str, name: str, request_id: str, message: str, fields: dict) -> str:
        """What :meth:`format` makes of a record without exception (:func:`write_line`)."""
        line = {"time": _utc_time_at(created), "level": level, "logger": name,
                "pid": os.getpid() if logging.logProcesses else None, "request_id": request_id, "message": message}
        line.update(fields)
        return _JSON_LINE.encode(line)


#: ``json.dumps(..., ensure_ascii=True, separators=(",", ":"))`` without a new encoder per line.
_JSON_LINE = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
_DIRECT_FORMATTERS = (TextFormatter, JsonFormatter)


def direct_handler(logger: logging.Logger, level: int) -> logging.StreamHandler | None:
    """Our stderr handler, when a record of ``logger`` at ``level`` would go to it and nowhere else.

    Then :func:`write_line` writes the line the logging module would have written, without
    building a ``LogRecord`` and walking the handler chain: about half of the request log
    line's cost, on the token path's every request.  Anything unusual -- another handler
    anywhere on the way (pytest's capture, a ``--log-config``), a filter, a level, a changed
    formatter -- returns None, and the caller logs through the logging module as usual."""
    if not _installed or not logger.isEnabledFor(level) or logger.filters:
        return None
    handler = _installed[0]
    if (handler.level > level or len(handler.filters) != 1 or type(handler.filters[0]) is not _RequestIdFilter
            or type(handler).emit is not logging.StreamHandler.emit
            or type(handler.formatter) not in _DIRECT_FORMATTERS):
        return None
    seen = 0
    current: logging.Logger | None = logger
    while current is not None:
        for other in current.handlers:
            if other is not handler:
                return None
            seen += 1
        current = current.parent if current.propagate else None
    return handler if seen == 1 else None


def write_line(handler: logging.StreamHandler, logger: logging.Logger, level: int, message: str,
               request_id: str, fields: dict) -> None:
    """Write the line ``logger.log(level, ...)`` would have, with ``message`` already formatted and
    ``fields`` as a request line's ``extra={"http": fields}`` (see :func:`direct_handler`).  Byte
    for byte the logging module's (tests/http/test_request_log.py checks both formats)."""
    created = time.time()
    handler.acquire()
    try:
        try:
            line = handler.formatter.line(created, logging.getLevelName(level), logger.name, request_id,
                                          message, fields)
            handler.stream.write(line + handler.terminator)
            handler.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as StreamHandler.emit: report, never fail the request
            handler.handleError(logging.makeLogRecord({"name": logger.name, "levelno": level, "msg": message}))
    finally:
        handler.release()


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(log_format: str) -> None:
    """Send the ``authsvc`` logger's INFO and above to stderr in ``log_format``, once.

    Called by every ``create_app``: a handler this function installed
    earlier is replaced, never doubled.
    """
    _skip_unused_record_fields()
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    for handler in [h for h in logger.handlers if getattr(h, _OURS, False)]:
        logger.removeHandler(handler)
    _installed.clear()
    if logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _OURS, True)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(_RequestIdFilter())
    logger.addHandler(handler)
    _installed.append(handler)


def _skip_unused_record_fields() -> None:
    """Stop the logging module gathering what no authsvc line prints, for every record of a
    serving process (the request log writes one per request; the token path's is the hot one):
    the caller's source file and line (a stack walk per record), the thread's name and the
    multiprocessing process name.  The process id stays: the JSON form prints it.  These are the
    switches the logging documentation's "Optimization" section names."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    if hasattr(logging, "logAsyncioTasks"):
        logging.logAsyncioTasks = False
