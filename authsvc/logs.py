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
import sys
import time

LOGGER = "authsvc"
FORMATS = ("text", "json")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("authsvc_request_id", default="-")
_OURS = "_authsvc_handler"


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


def _utc_time(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO authsvc.request rid=… message``."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s rid=%(request_id)s %(message)s")

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return _utc_time(record)


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
    if logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _OURS, True)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(_RequestIdFilter())
    logger.addHandler(handler)


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
