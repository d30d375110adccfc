"""Calling the service layer from a test the way an adapter does: one unit of work per call.

The services never commit; the HTTP layer and the CLI each make a unit of
work, pass it down, and commit it when the request or command succeeded.
:func:`call` does exactly that for a test that sets state up or checks it
through the services directly.
"""

from __future__ import annotations

from flask import current_app

from authsvc.services.unit_of_work import UnitOfWork
from authsvc.store.models import db


def unit(source: str = "test") -> UnitOfWork:
    """A unit of work on the current app's session (inside an app context)."""
    return UnitOfWork(current_app.extensions["authsvc"], db.session, source=source)


def call(service, *args, **kwargs):
    """``service(unit, *args, **kwargs)`` as one unit of work: committed if it returns, rolled
    back if it raises."""
    with unit().committing() as work:
        return service(work, *args, **kwargs)


def flush_grants() -> int:
    """Write the token grants the app's batch writer still holds (services/grant_log.py), as its
    thread would within ``audit_flush_interval``: a test reads the audit log right away."""
    return current_app.extensions["authsvc"].grant_log.flush()
