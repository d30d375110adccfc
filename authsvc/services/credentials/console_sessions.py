"""Console sessions kept on the server: what a signed-in browser is, and how it ends.

A sign-in (``authn/session.sign_in``) is followed by :func:`open_session`: a random secret goes
into the browser's cookie and its SHA-256 into ``console_sessions``, with the account's
credential version, the browser's User-Agent and the times.  Every console request then calls
:func:`resume`: one indexed read of that row joined to its account, which is the read the
console made for the account anyway.  So signing out (:func:`end`), ending a browser from My
account (:func:`revoke`), a password change, deactivation or deletion end the session on every
worker and instance at the next request, and a copy of the cookie is worth nothing afterwards.

Rows are deleted, not marked ended: an ended session has nothing left to show, and a browser
ended from My account is in the audit log (``session.revoke``, as ``token.revoke`` for a docker
login).  Expired rows go at the next sign-in of anyone (:func:`open_session` deletes them in the
same transaction, through the two time indexes), so the table holds at most the sessions opened
within ``console_max_hours``.

The last use is written at most every :func:`stamp_interval` (a few minutes), never on every
page view, and on the unit's early-write connection at the very start of the request, before
the request writes anything: it then commits at once and holds no lock that a later early write
of the same request (a wrong current password, say) would wait for.  The idle limit is judged
exactly by the browser's own cookie (web/console/session.py); the row judges it too, with the
stamp's slack, so that the server alone also ends a session left idle.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, insert, or_, select, update

from ...core.credential_secrets import digest, new_secret
from ...core.text import storable_copy
from ...store.models import CONSOLE_CLIENT_MAX, ConsoleSession, User
from .. import audit
from ..authn import Identity
from ..authn.session import USER_COLUMNS, identity_of
from ..errors import NotFound
from ..unit_of_work import UnitOfWork

_sessions = ConsoleSession.__table__
#: The longest a session's last use may go unwritten; shorter for short idle limits.
MAX_STAMP_INTERVAL = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Limits:
    """The console's two session limits (``console_idle_minutes``, ``console_max_hours``)."""

    idle: dt.timedelta
    absolute: dt.timedelta


@dataclass(frozen=True)
class Resumed:
    """A live session: who it is, and which row (My account marks it "this browser")."""

    identity: Identity
    session_id: int


@dataclass(frozen=True)
class BrowserSession:
    """One signed-in browser, as My account lists it."""

    id: int
    client: str
    created_at: dt.datetime
    last_used_at: dt.datetime


def stamp_interval(limits: Limits) -> dt.timedelta:
    """How stale a row's ``last_used_at`` may be: a few minutes, and a fifth of a short idle limit."""
    return min(MAX_STAMP_INTERVAL, limits.idle / 5)


def _live(limits: Limits, now: dt.datetime):
    """The SQL condition of a row neither limit has ended (idle with the stamp's slack)."""
    return ((_sessions.c.created_at > now - limits.absolute)
            & (_sessions.c.last_used_at > now - limits.idle - stamp_interval(limits)))


def open_session(uow: UnitOfWork, identity: Identity, client: str, now: dt.datetime, limits: Limits) -> str:
    """A new session for a password sign-in; the secret for the cookie (shown nowhere else).
    Expired sessions of everyone are deleted in the same transaction."""
    connection = uow.session.connection()
    connection.execute(delete(_sessions).where(or_(_sessions.c.created_at <= now - limits.absolute,
                                                _sessions.c.last_used_at <= now - limits.idle
                                                - stamp_interval(limits))))
    secret = new_secret()
    connection.execute(insert(_sessions).values(
        token_hash=digest(secret), user_id=identity.user_id, credential_version=identity.credential_version,
        client=storable_copy(client, CONSOLE_CLIENT_MAX), created_at=now, last_used_at=now))
    return secret


def resume(uow: UnitOfWork, secret: str, now: dt.datetime, limits: Limits) -> Resumed | None:
    """The session a cookie's secret names, or None when it was ended, has expired, or its
    account changed (password, deactivation) or is gone."""
    row = uow.session.execute(
        select(_sessions.c.id.label("session_id"), _sessions.c.credential_version.label("session_version"),
               _sessions.c.created_at.label("session_created_at"), _sessions.c.last_used_at.label("session_used_at"),
               *USER_COLUMNS)
        .join(User, User.id == _sessions.c.user_id)
        .where(_sessions.c.token_hash == digest(secret))).first()
    if (row is None or row.session_version != row.credential_version
            or row.session_created_at <= now - limits.absolute
            or row.session_used_at <= now - limits.idle - stamp_interval(limits)):
        return None
    if now - row.session_used_at >= stamp_interval(limits):
        # Before anything else in the request writes (see the module's docstring).
        with uow.write_now() as connection:
            connection.execute(update(_sessions).where(_sessions.c.id == row.session_id)
                               .values(last_used_at=now))
    identity = identity_of(uow, row)
    return Resumed(identity, row.session_id) if identity is not None else None


def end(uow: UnitOfWork, secret: str) -> None:
    """Sign-out: the session is deleted, so no copy of its cookie opens it again.  Not audited,
    as signing in is not: only ending a browser from My account is (like a docker login's)."""
    uow.session.execute(delete(_sessions).where(_sessions.c.token_hash == digest(secret)))


def list_sessions(uow: UnitOfWork, owner: Identity, now: dt.datetime, limits: Limits) -> list[BrowserSession]:
    """The live sessions of the signed-in person ``owner``, newest first."""
    rows = uow.session.execute(
        select(_sessions.c.id, _sessions.c.client, _sessions.c.created_at, _sessions.c.last_used_at)
        .where(_sessions.c.user_id == owner.user_id, _sessions.c.credential_version == owner.credential_version,
               _live(limits, now))
        .order_by(_sessions.c.created_at.desc(), _sessions.c.id.desc())).all()
    return [BrowserSession(*row) for row in rows]


def revoke(uow: UnitOfWork, owner: Identity, session_id: int) -> None:
    """End one of the person's own sessions (another browser, or this one); :class:`NotFound`
    for a session that is not theirs or no longer exists -- the two read alike, so nobody learns
    of another person's sessions."""
    if not 0 < session_id < 2**31:  # an id no row can have (and no database integer can hold)
        raise NotFound(f"you have no signed-in browser {session_id}")
    count = uow.session.execute(delete(_sessions).where(_sessions.c.id == session_id,
                                                        _sessions.c.user_id == owner.user_id)).rowcount
    if not count:
        raise NotFound(f"you have no signed-in browser {session_id}")
    audit.record(uow, owner.principal, "session.revoke", owner.name, id=session_id)


def renew(uow: UnitOfWork, session_id: int, credential_version: int) -> None:
    """After the person changed their own password: this session moves to the new credential
    version (the others stay on the old one, which ended them)."""
    uow.session.execute(update(_sessions).where(_sessions.c.id == session_id)
                        .values(credential_version=credential_version))
