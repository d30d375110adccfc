"""The audit log: who was granted what, who failed to log in, who changed what.

Service functions call :func:`record` inside their own transaction, so an
event is stored exactly when the change it describes is.  The source of a
request (client address for HTTP, ``cli`` for the command line) is set once
by the front end in a context variable rather than threaded through every
call.  Details never hold a secret.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json

from sqlalchemy import delete, insert, select

from ..core.policy import Principal, may_manage_users
from ..core.text import storable_copy
from ..logs import current_request_id
from ..store.models import PRINCIPAL_NAME_MAX, AuditEvent, db, utcnow
from .errors import Forbidden

_events = AuditEvent.__table__
_source: contextvars.ContextVar[str] = contextvars.ContextVar("authsvc_source", default="")


def set_source(source: str) -> None:
    """Declare where the current request or command comes from (an address, or ``cli``)."""
    _source.set(source[:64])


def current_source() -> str:
    return _source.get()


def record(actor: Principal | str, action: str, target: str = "", **details) -> None:
    """Add an event to the current transaction; the caller's commit stores it."""
    subject = actor.subject if isinstance(actor, Principal) else actor
    # A Core insert on the session's connection: same transaction, without the ORM's unit of
    # work, which would cost more than the insert itself on the token path.
    db.session.connection().execute(insert(_events).values(
        at=utcnow(), actor=subject[:PRINCIPAL_NAME_MAX], source=current_source(), action=action,
        target=storable_copy(target, 300),
        details=json.dumps(details, separators=(",", ":")), request_id=current_request_id()))


def list_events(actor: Principal, *, since: dt.datetime | None = None, who: str | None = None,
                action: str | None = None, request_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
    """Newest first, filtered; for system administrators only."""
    if not may_manage_users(actor):
        raise Forbidden("only system administrators may read the audit log")
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if who is not None:
        query = query.where(AuditEvent.actor == who)
    if action is not None:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if request_id is not None:  # not indexed: combine with --since on a big log
        query = query.where(AuditEvent.request_id == request_id)
    return list(db.session.execute(query).scalars())


def purge(actor: Principal, older_than: dt.timedelta) -> int:
    """Delete events older than ``older_than``; the purge itself is recorded."""
    if not may_manage_users(actor):
        raise Forbidden("only system administrators may purge the audit log")
    cutoff = utcnow() - older_than
    count = db.session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff)).rowcount
    record(actor, "audit.purge", "", before=cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"), deleted=count)
    db.session.commit()
    return count


def event_summary(event: AuditEvent) -> dict:
    return {"id": event.id, "at": event.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "actor": event.actor,
            "source": event.source, "action": event.action, "target": event.target,
            "details": json.loads(event.details), "request_id": event.request_id}
