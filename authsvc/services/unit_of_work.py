"""One unit of work: an HTTP request or a CLI command, and what the services need for it.

The adapter that serves a request or runs a command makes one
:class:`UnitOfWork`, passes it to every service it calls, and ends it: commit
when the request succeeded, roll back otherwise.  Services never commit, so a
request that fails half-way leaves nothing half-done, and one request can call
several services as one change.

The one exception is named: :meth:`UnitOfWork.write_now` writes what must
survive the refusal of the very request that caused it (a failed login in the
audit log, a throttle counter), in a transaction of its own.

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

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def signer(self) -> TokenSigner:
        return self.context.signer

    def commit(self) -> None:
        """Commit what the unit did; a unit that never touched the session (a token request whose
        reads went elsewhere, a refused request) costs nothing."""
        session = self._used_session()
        if session is not None and (session.in_transaction() or session.new or session.dirty or session.deleted):
            session.commit()

    def rollback(self) -> None:
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
    def write_now(self) -> Iterator[Connection]:
        """A connection in a transaction of its own, committed when the block ends.

        For records that must outlive this unit even when it is refused: the failed login the
        audit log must show, the throttle counter that must count it.  Nothing else belongs here.
        Authentication comes first in every request, so the unit has written nothing yet when
        it is called -- which matters on SQLite, whose single writer lock the unit would
        otherwise already hold.
        """
        with self.session.get_bind().begin() as connection:
            yield connection
