"""The audit log: who was granted what, who failed to log in, who changed what.

Service functions call :func:`record` inside their unit of work, so an event
is stored exactly when the change it describes is (the adapter's commit
stores both).  A failed login is the exception: it is written with
:func:`record_now` on the unit's early-write connection, so that the refusal
that follows does not erase it.  Where a request comes from (client address
for HTTP, ``cli:<user>`` for the command line) and its request id come from
the unit.  Details never hold a secret.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Connection, delete, insert, or_, select

from ..core.policy import Principal, may_manage_users
from ..core.text import storable_copy
from ..store.models import PRINCIPAL_NAME_MAX, AuditEvent, utcnow
from .errors import Forbidden
from .unit_of_work import UnitOfWork

_events = AuditEvent.__table__
#: ``json.dumps(details, separators=(",", ":"))`` without building an encoder per event (every
#: token grant is one: the encoder's construction cost a third of the encoding).
_DETAILS = json.JSONEncoder(separators=(",", ":"))


def _row(uow: UnitOfWork, actor: Principal | str, action: str, target: str, details: dict) -> dict:
    subject = actor.subject if isinstance(actor, Principal) else actor
    return dict(at=utcnow(), actor=subject[:PRINCIPAL_NAME_MAX], source=uow.source, action=action,
                target=storable_copy(target, 300), details=_DETAILS.encode(details),
                request_id=uow.request_id)


def record(uow: UnitOfWork, actor: Principal | str, action: str, target: str = "", **details) -> None:
    """Add an event to the unit's transaction; the adapter's commit stores it."""
    # A Core insert on the session's connection: same transaction, without the ORM's unit of
    # work, which would cost more than the insert itself on the token path.
    uow.session.connection().execute(insert(_events).values(**_row(uow, actor, action, target, details)))


def record_grant(uow: UnitOfWork, actor: Principal, target: str, **details) -> None:
    """A ``token.grant`` event: queued for the worker's batch writer (services/grant_log.py), or
    written in the unit when ``audit_flush_interval`` is 0."""
    if uow.settings.audit_flush_interval <= 0:
        record(uow, actor, "token.grant", target, **details)
    else:
        uow.queue_grant(_row(uow, actor, "token.grant", target, details))


def record_now(connection: Connection, uow: UnitOfWork, actor: Principal | str, action: str,
               target: str = "", **details) -> None:
    """Write an event on an early-write connection (:meth:`UnitOfWork.write_now`)."""
    connection.execute(insert(_events).values(**_row(uow, actor, action, target, details)))


def list_events(uow: UnitOfWork, actor: Principal, *, since: dt.datetime | None = None,
                who: str | None = None, action: str | None = None, request_id: str | None = None,
                limit: int = 100) -> list[AuditEvent]:
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
    return list(uow.session.execute(query).scalars())


def search_events(uow: UnitOfWork, actor: Principal, *, who: str = "", project: str = "", action: str = "",
                  since: dt.datetime | None = None, until: dt.datetime | None = None, offset: int = 0,
                  limit: int = 50) -> tuple[list[AuditEvent], bool]:
    """One page of events, newest first, and whether another page follows (no count: the log is
    large).  ``project`` matches the events about the project itself, its members
    (``PROJECT/user``) and its robots (``robot.PROJECT.name``); system administrators only."""
    if not may_manage_users(actor):
        raise Forbidden("only system administrators may read the audit log")
    query = select(AuditEvent)
    if who:
        query = query.where(AuditEvent.actor == who)
    if project:
        query = query.where(or_(AuditEvent.target == project,
                                AuditEvent.target.startswith(project + "/", autoescape=True),
                                AuditEvent.target.startswith(f"robot.{project}.", autoescape=True)))
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    rows = list(uow.session.execute(query.order_by(AuditEvent.id.desc()).offset(offset).limit(limit + 1)).scalars())
    return rows[:limit], len(rows) > limit


def purge(uow: UnitOfWork, actor: Principal, older_than: dt.timedelta) -> int:
    """Delete events older than ``older_than``; the purge itself is recorded."""
    if not may_manage_users(actor):
        raise Forbidden("only system administrators may purge the audit log")
    cutoff = utcnow() - older_than
    count = uow.session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff)).rowcount
    record(uow, actor, "audit.purge", "", before=cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"), deleted=count)
    return count


def event_summary(event: AuditEvent) -> dict:
    return {"id": event.id, "at": event.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "actor": event.actor,
            "source": event.source, "action": event.action, "target": event.target,
            "details": json.loads(event.details), "request_id": event.request_id}
