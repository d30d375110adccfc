"""Where the token path's reads run: the unit of work's session, or a connection a worker keeps.

Every read of the token path is one of the few statements in :mod:`.queries`, each built once.
Run through the ORM session, each still paid for a session, a pool checkout, SQLAlchemy's
execution context and its result machinery -- together more than the indexed lookup itself.
:class:`KeptConnectionReads` runs them on one DB-API connection per worker process (and thread),
compiled once per statement for the database's dialect, and turns rows into plain named tuples
with the column types' own result conversions (SQLite's text timestamps into datetimes, roles
into ``Role``).

Reads there see every committed change at once, which is what makes a revocation effective at
the next request: SQLite runs each SELECT outside any transaction (the driver begins one only
for writes), and the PostgreSQL connection is in autocommit mode.  Writes never go through here:
they stay in the unit of work.

A driver error is raised as SQLAlchemy's own exception (``OperationalError`` and friends), so the
HTTP layer answers it as it answers any database failure (503 for an outage), and the connection
is dropped: the next request opens a new one.
"""

from __future__ import annotations

import collections
import os
import threading
from typing import Any, NamedTuple, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select


class Reads(Protocol):
    def rows(self, statement: Select, params: dict[str, Any]) -> list: ...


class SessionReads:
    """Reads in the unit of work's own session (its connection and transaction): what every
    request but the token path uses, so that it reads what it has just written."""

    def __init__(self, session: Session):
        self.session = session

    def rows(self, statement: Select, params: dict[str, Any]) -> list:
        return self.session.connection().execute(statement, params).all()


class ReadAhead:
    """One token request's reads, told up front which projects the request names.

    The first credential read of the request (queries.py: the user by name, a refresh or personal
    token's owner, a robot) then fetches those projects with the caller's roles in the same
    statement and keeps them here for the decision's :func:`~.queries.project_views`: one round
    trip where there were two.  Both are used once; any other read goes to ``inner`` unchanged.
    """

    def __init__(self, inner: Reads, projects: set[str]):
        self.inner = inner
        #: The names the first credential read fetches along (None once it has run).
        self.projects: frozenset[str] | None = frozenset(projects)
        #: (caller's user id or None, names, {name: (public, own role, ((group, role), ...))}).
        self.views: tuple | None = None

    def rows(self, statement: Select, params: dict[str, Any]) -> list:
        return self.inner.rows(statement, params)


class _Prepared(NamedTuple):
    sql: str
    positions: tuple[str, ...] | None  # parameter names in order (qmark), None for named styles
    row_type: type
    converters: tuple  # per column: a result processor, or None


class KeptConnectionReads:
    """The token path's reads on a DB-API connection kept by this worker (see the module doc)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect
        self._prepared: dict[int, _Prepared] = {}
        self._local = threading.local()

    def rows(self, statement: Select, params: dict[str, Any]) -> list:
        prepared = self._prepared.get(id(statement))
        if prepared is None:
            prepared = self._prepared[id(statement)] = self._prepare(statement)
        arguments = tuple(params[name] for name in prepared.positions) if prepared.positions else params
        connection = None
        try:
            connection = self._connection()  # a new one may fail to connect: the same error
            fetched = connection.driver_connection.execute(prepared.sql, arguments).fetchall()
        except BaseException as exc:  # a driver error, or the request deadline mid-read
            if connection is not None:
                self._drop(connection)
            if isinstance(exc, self.dialect.loaded_dbapi.Error):
                raise DBAPIError.instance(prepared.sql, None, exc, self.dialect.loaded_dbapi.Error,
                                          hide_parameters=True, dialect=self.dialect) from exc
            raise
        converters, row_type = prepared.converters, prepared.row_type
        if not any(converters):
            return [row_type(*row) for row in fetched]
        return [row_type(*(c(v) if c else v for c, v in zip(converters, row, strict=True))) for row in fetched]

    def _prepare(self, statement: Select) -> _Prepared:
        compiled = statement.compile(dialect=self.dialect)
        columns = list(statement.selected_columns)
        row_type = collections.namedtuple("Row", [column.key for column in columns])
        converters = tuple(column.type.dialect_impl(self.dialect).result_processor(self.dialect, None)
                           for column in columns)
        positions = tuple(compiled.positiontup) if compiled.positional else None
        return _Prepared(compiled.string, positions, row_type, converters)

    def _connection(self):
        kept = getattr(self._local, "kept", None)
        if kept is None or kept[0] != os.getpid():  # a forked worker never uses its parent's
            connection = self.engine.raw_connection()
            if self.dialect.name == "postgresql":
                connection.driver_connection.autocommit = True
                # Each statement is prepared on the server at its first use on this connection
                # (psycopg's default waits for the fifth): parsed and planned once, then only bound.
                connection.driver_connection.prepare_threshold = 0
            kept = self._local.kept = (os.getpid(), connection)
        return kept[1]

    def _drop(self, connection) -> None:
        self._local.kept = None
        try:
            connection.invalidate()
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass
