"""One unit of work: an HTTP request or a CLI command, and what the services need for it.

The adapter that serves a request or runs a command makes one
:class:`UnitOfWork`, passes it to every service it calls, and ends it: commit
when the request succeeded, roll back otherwise.  Services never commit, so a
request that fails half-way leaves nothing half-done, and one request can call
several services as one change.

The one exception is named: :meth:`UnitOfWork.write_now` writes what must
survive the refusal of the very request that caused it (a failed login in the
audit log, a throttle counter), in a transaction of its own.

One rule keeps that second transaction from waiting on the first: *before the
early write starts, the unit's session is ended* -- committed when the unit
declared lasting writes (which are all it can have written by then: see
below), rolled back otherwise.  A lasting write is a
verifier's side effect of a credential it accepted, made in the session with
:meth:`UnitOfWork.lasting`: a throttle counter cleared by a correct password, a
hash re-made at a new cost, a last-use stamp, a directory account's row.  They
must survive a refusal that comes later in the same request (a wrong
``old_password`` after a correct Basic login, a console sign-in refused for a
personal token) just as the refusal's own record must.  Anything else in the
session -- a service's change, or anything not declared -- is rolled back, as
the refusal would roll it back anyway.  Without the rule, SQLite's early-write
connection waits for the write lock its own session holds (and every other
writer of the service waits behind it) until the request deadline; on
PostgreSQL it waits on the row lock of the throttle counter the session cleared.

Losing a lasting write is always safe (the throttle clears at the next
success, the re-hash and the stamp happen again), committing a service's
half-done change is not: so the session is committed only when the unit
declared lasting writes and holds no pending ORM change, and authentication
(with the old-password check of a password change) comes before anything a
service writes -- the verifiers' writes are the first a unit makes.

:class:`ReadOnlyUnit` is the fast token path's unit (web/fast_token.py): it
can only read, and anything more -- a write, the session, slow work such as
bcrypt -- raises :class:`FullPathNeeded`, so that the request goes to the full
path before any side effect.

Nothing here knows Flask: a service-level test builds a unit on a plain
SQLAlchemy session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Connection
from sqlalchemy.orm import Session, scoped_session

from ..settings import Settings
from ..signing.jwt import TokenSigner
from ..store.reads import Reads, SessionReads


class UnitOfWork:
    """The session a request's changes go into, with the process's shared objects beside it.

    ``context`` is the process's :class:`~.context.ServiceContext` (not imported here: it holds the
    authenticator, whose verifiers take units of work).  ``source`` names where the request comes
    from (a client address, or ``cli:<user>``) and
    ``request_id`` the HTTP request id; both go into every audit event and throttle counter the
    unit writes, without being threaded through each call.
    """

    def __init__(self, context, session: Session | scoped_session, *, source: str = "",
                 request_id: str | None = None, reads: Reads | None = None):
        self.context = context
        self.session = session
        #: Where the token path's reads (store/queries.py) run: the session by default, so a unit
        #: reads what it wrote; the token endpoint passes a connection its worker keeps.
        self.reads = reads if reads is not None else SessionReads(session)
        self.source = source[:64]
        self.request_id = request_id
        #: Whether the session holds lasting writes (:meth:`lasting`), to be committed before an
        #: early write rather than rolled back.
        self._lasting = False

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def signer(self) -> TokenSigner:
        return self.context.signer

    def before_slow_work(self) -> None:
        """Called by a service just before costly work (a bcrypt run, a directory bind): nothing
        to do here; a :class:`ReadOnlyUnit` refuses, so the fast path never pays for it twice."""

    def queue_grant(self, row: dict) -> None:
        """A ``token.grant`` audit row for the worker's batch writer (services/grant_log.py)."""
        self.context.grant_log.add(row, self.session.get_bind)

    def commit(self) -> None:
        """Commit what the unit did; a unit that never touched the session (a token request whose
        reads went elsewhere, a refused request) costs nothing."""
        self._lasting = False
        session = self._used_session()
        if session is not None and (session.in_transaction() or session.new or session.dirty or session.deleted):
            session.commit()

    def rollback(self) -> None:
        self._lasting = False
        session = self._used_session()
        if session is not None:
            session.rollback()

    def _used_session(self) -> Session | None:
        """The session, if this unit ever made it (a scoped session is made on first use)."""
        if isinstance(self.session, scoped_session):
            return self.session() if self.session.registry.has() else None
        return self.session

    @contextlib.contextmanager
    def committing(self) -> Iterator[UnitOfWork]:
        """The adapter's end of a unit, as a block: committed if the block ends normally, rolled
        back if it raises (the CLI's command, a test's service call)."""
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    @contextlib.contextmanager
    def lasting(self) -> Iterator[Connection]:
        """The session's connection, for a verifier's write that must survive a refusal later in
        this request (see the module's docstring): committed with the unit as any write, and
        committed *first* if the unit then writes early.  Only for side effects of a credential
        that was accepted; a block that raises declares nothing."""
        connection = self.session.connection()
        yield connection
        self._lasting = True

    @contextlib.contextmanager
    def write_now(self) -> Iterator[Connection]:
        """A connection in a transaction of its own, committed when the block ends.

        For records that must outlive this unit even when it is refused: the failed login the
        audit log must show, the throttle counter that must count it -- and a console session's
        last-use stamp (services/credentials/console_sessions.py), written as the request starts
        so that it holds no lock for the rest of the request.  Nothing else belongs here.
        The unit's session is ended first (:meth:`_end_session_for_early_write`), so this
        connection never waits for a lock the request itself holds.
        """
        self._end_session_for_early_write()
        with self.session.get_bind().begin() as connection:
            yield connection

    def _end_session_for_early_write(self) -> None:
        """Commit the session if it holds only lasting writes, else roll it back: either way its
        transaction, and any lock it took, is over before the early write begins."""
        session = self._used_session()
        lasting, self._lasting = self._lasting, False
        if session is None:
            return
        if lasting and not (session.new or session.dirty or session.deleted):
            session.commit()
        else:
            session.rollback()


class FullPathNeeded(Exception):
    """The request needs what a :class:`ReadOnlyUnit` does not do; the full path must answer it."""


class _NoSession:
    """Stands in for the session of a :class:`ReadOnlyUnit`: any use means a write is coming."""

    def __getattr__(self, name: str):
        raise FullPathNeeded(f"session.{name}")


class ReadOnlyUnit(UnitOfWork):
    """A unit for the fast token path: reads only, and no side effect until :meth:`finish`.

    Reads go to ``reads`` (the worker's kept connection).  The session, a lasting write, an
    early write and slow work raise :class:`FullPathNeeded` -- a refused login (its audit event
    and throttle count), a throttle counter to clear, a re-hash, a last-use stamp, a refresh
    token to store, a bcrypt run on a cache miss -- and so does anything else the services may
    later need from a session.
    Grants the services queue are held until :meth:`finish`, so a request handed over half-way
    leaves no audit row behind for the full path to write again.
    """

    def __init__(self, context, engine, *, reads: Reads, source: str = "", request_id: str | None = None):
        super().__init__(context, _NoSession(), source=source, request_id=request_id, reads=reads)
        self._engine = engine
        self._grants: list[dict] = []

    def before_slow_work(self) -> None:
        raise FullPathNeeded("slow work")

    def queue_grant(self, row: dict) -> None:
        self._grants.append(row)

    def lasting(self):
        raise FullPathNeeded("a lasting write")

    def write_now(self):
        raise FullPathNeeded("an early write")

    def commit(self) -> None:
        raise FullPathNeeded("a commit")

    def rollback(self) -> None:
        self._grants.clear()

    def finish(self) -> None:
        """The request is answered: hand its grants to the batch writer."""
        for row in self._grants:
            self.context.grant_log.add(row, self._engine_now)
        self._grants.clear()

    def _engine_now(self):
        return self._engine
