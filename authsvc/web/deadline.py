"""A deadline for every request, so a database that stops answering cannot hang a worker.

connect_timeout covers new connections only: a PostgreSQL that accepts
connections but never replies (frozen, overloaded, a half-dead network
path) leaves a query blocked in a socket read with no client-side limit,
until gunicorn's worker timeout kills the worker and the client gets no
answer at all.  Under gunicorn's sync workers each request runs in the
process's main thread, so an interval timer (SIGALRM) can interrupt that
read; the handler raises :class:`DeadlineExceeded`, which the JSON error
layer answers as 503 with ``Retry-After``, and the broken connection is
dropped from the pool.  Where requests do not run in the main thread (a
threaded development server), no timer is set.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from flask import Flask
from sqlalchemy.exc import StatementError

from ..services.errors import ServiceError
from ..store.models import db
from .errors import json_error

log = logging.getLogger("authsvc")


class DeadlineExceeded(ServiceError):
    code = "UNAVAILABLE"
    http_status = 503
    retry_after = 5

    def __init__(self):
        super().__init__("the request took too long (is the database answering?); retry shortly")


#: Set by the fast token path (web/fast_token.py) on a request whose deadline it has already spent:
#: the time it started, so that the full path answers the 503 at once and logs the whole duration.
SPENT_SINCE = "authsvc.deadline_spent_since"


def deadline_in(exc: BaseException | None) -> DeadlineExceeded | None:
    """The DeadlineExceeded behind ``exc`` (itself, its ``orig``, cause or context), if any."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, DeadlineExceeded):
            return exc
        orig = getattr(exc, "orig", None)
        if isinstance(orig, DeadlineExceeded):
            return orig
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


#: This process's id, kept current across forks (gunicorn's workers) without a getpid() syscall on
#: every request.
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


def _expire(_signum, _frame):
    raise DeadlineExceeded()


class Timer:
    """Arms SIGALRM for each request of the main thread (gunicorn's sync workers)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._installed_in: int | None = None  # the pid whose SIGALRM handler is ours (gunicorn forks)

    def start(self) -> None:
        if threading.current_thread() is threading.main_thread():
            # The handler once per process, not once per request: signal.signal() costs a syscall
            # and a Python-level lookup on the token path's every call.
            if self._installed_in != _pid[0]:
                signal.signal(signal.SIGALRM, _expire)
                self._installed_in = _pid[0]
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def stop(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.setitimer(signal.ITIMER_REAL, 0)


def timer(seconds: float) -> Timer | None:
    """The request timer, or None when disabled (0) or unsupported (no setitimer)."""
    return Timer(seconds) if seconds > 0 and hasattr(signal, "setitimer") else None


def register_errors(app: Flask) -> None:
    def abandon(exc: DeadlineExceeded):
        # The connection may be stuck mid-reply: a rollback would wait on it again, so drop it.
        db.session().invalidate()
        return json_error(exc.http_status, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)})

    def unwrap(exc: StatementError):
        # The timer can go off where SQLAlchemy wraps our exception, or where the interrupted
        # connection then makes the driver's clean-up fail (psycopg: ProgrammingError with our
        # exception as its context).  Either way the cause is the deadline.
        deadline = deadline_in(exc)
        if deadline is not None:
            return abandon(deadline)
        db.session.rollback()
        log.error("database error: %s", type(exc.orig or exc).__name__)
        return json_error(500, "INTERNAL", "internal error; see the server log")

    app.register_error_handler(DeadlineExceeded, abandon)
    app.register_error_handler(StatementError, unwrap)
