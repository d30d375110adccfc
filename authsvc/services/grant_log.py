"""Token grants in the audit log, written in batches by each worker instead of one commit each.

Every ``docker pull`` and every pod start asks for a token, and each grant is an audit event.
Writing it in the request's own transaction made the commit (an INSERT and, on SQLite, a WAL
commit) the most expensive part of the token path.  A grant is a record of what was decided,
not a change anything depends on, so it may trail the answer by a moment: each worker queues
its grants and a background thread writes them ``audit_flush_interval`` seconds (default 0.1)
after the first of a batch was queued, in one transaction, and once more when the process exits
normally; with nothing queued it sleeps.

The bound on what a crash loses, stated once here and tested in tests/e2e/test_faults.py: a
``kill -9`` of a worker (or of the whole service) loses the grants that worker answered in the
last ``audit_flush_interval`` seconds plus the duration of the flush under way, and nothing
older.  Failed logins and every administrative change are *not* batched: they stay in the
request's unit of work (or its early write) and are stored before the answer is sent.

If the database refuses a batch (it is down), the rows are kept and tried again at the next
interval; past ``MAX_PENDING`` rows the oldest are dropped and counted in the log, so an outage
cannot exhaust a worker's memory.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from ..store.models import AuditEvent

log = logging.getLogger("authsvc.audit")
_events = AuditEvent.__table__
MAX_PENDING = 100_000
#: This process's id, kept current across forks (gunicorn's workers): :meth:`GrantLog.add` asks on
#: every grant whether its writer runs in this process, and a getpid() syscall each time cost more
#: than the answer.
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


class GrantLog:
    """One per process (in the ServiceContext); its writer thread starts with the first grant."""

    def __init__(self, interval: float):
        self.interval = interval
        self._pending: list[dict] = []
        self._lock = threading.Lock()        # guards _pending
        self._flushing = threading.Lock()    # one flush at a time (thread, exit, tests)
        self._wake = threading.Event()       # set when a grant is queued while none was
        self._engine: Engine | None = None
        self._pid: int | None = None
        self._statement: tuple | None = None  # (engine, sql, keys, processors, positional), see _insert
        self._kept: tuple | None = None       # (pid, engine, DB-API connection), see _connection
        self.dropped = 0

    def add(self, row: dict, engine: Callable[[], Engine]) -> None:
        """Queue one grant; cheap enough for the token path (an append under a lock).  ``engine``
        is asked for only when this process's writer starts."""
        with self._lock:
            pending = self._pending
            pending.append(row)
            first = len(pending) == 1
            if len(pending) > MAX_PENDING:
                del pending[0]
                self.dropped += 1
        if self._pid != _pid[0]:  # the first grant of this process (gunicorn forks workers)
            self._start(engine())
        elif first:  # the writer sleeps until there is something to write
            self._wake.set()

    def _start(self, engine: Engine) -> None:
        with self._lock:
            if self._pid == _pid[0]:
                return
            self._engine, self._pid = engine, _pid[0]
            self._wake = threading.Event()  # a forked child's own, never its parent's
            if self._pending:
                self._wake.set()
        me = weakref.ref(self)
        threading.Thread(target=_write_periodically, args=(me, self.interval, self._wake),
                         name="authsvc-grant-log", daemon=True).start()
        atexit.register(_flush_at_exit, me)

    def flush(self) -> int:
        """Write every queued grant now; returns how many were written (0 if the database refused
        them: they stay queued for the next try)."""
        with self._flushing:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows or self._engine is None:
                return 0
            try:
                self._insert(rows)
            except Exception as exc:  # noqa: BLE001 - a database outage must not end the thread
                with self._lock:
                    self._pending[:0] = rows
                    excess = len(self._pending) - MAX_PENDING
                    if excess > 0:
                        del self._pending[:excess]
                        self.dropped += excess
                log.error("audit: %d token grants not written yet (%s); retrying", len(rows),
                          type(getattr(exc, "orig", None) or exc).__name__)
                return 0
            if self.dropped:
                log.error("audit: %d token grants were dropped during a database outage", self.dropped)
                self.dropped = 0
            return len(rows)

    def _insert(self, rows: list[dict]) -> None:
        """One transaction of ``rows`` on the writer's own DB-API connection, the statement compiled
        once per process: SQLAlchemy's per-row parameter handling cost more CPU than the request
        whose grant each row records.  SQLite: ``executemany``, then a commit.  PostgreSQL: one
        ``COPY`` on an autocommit connection, which is its own transaction (all rows or none):
        two round trips a batch instead of a pool check-out's ping, the ``COPY``, a ``COMMIT`` and
        the pool's reset on check-in (docs/performance.md, issue 23)."""
        if self._statement is None or self._statement[0] is not self._engine:
            self._statement = (self._engine, *_compiled_insert(self._engine))
        _, sql, keys, processors, positional = self._statement
        copy = self._engine.dialect.name == "postgresql"
        params = _parameters(rows, keys, processors, as_tuples=positional or copy)
        connection = self._connection(autocommit=copy)
        try:
            cursor = connection.cursor()
            if copy:
                with cursor.copy(f"COPY {_events.name} ({', '.join(keys)}) FROM STDIN") as stream:
                    for values in params:
                        stream.write_row(values)
            else:
                cursor.executemany(sql, params)
                connection.commit()
            cursor.close()
        except BaseException:
            self._kept = None  # whatever state it is in (an outage, a failed batch): a new one next time
            try:
                connection.invalidate()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass
            raise

    def _connection(self, *, autocommit: bool):
        """The connection this process's writer keeps between batches (from the engine's pool, as
        the kept read connections of store/reads.py): checked out once, so no batch pays the
        pool's ping and reset.  A forked child, or another engine, gets one of its own."""
        kept = self._kept
        if kept is None or kept[0] != _pid[0] or kept[1] is not self._engine:
            connection = self._engine.raw_connection()
            if autocommit:
                connection.driver_connection.autocommit = True
            kept = self._kept = (_pid[0], self._engine, connection)
        return kept[2]


def _parameters(rows: list[dict], keys: tuple, processors: tuple, *, as_tuples: bool) -> list:
    """Each row's values in ``keys`` order (a missing key is NULL), through the columns' bind
    processors where there are any (SQLite's datetimes): mapped in C where there are none."""
    converted = tuple((i, p) for i, p in enumerate(processors) if p is not None)
    get_all = [tuple(map(row.get, keys)) for row in rows]
    if converted:
        for n, values in enumerate(get_all):
            values = list(values)
            for i, p in converted:
                values[i] = p(values[i])
            get_all[n] = tuple(values)
    return get_all if as_tuples else [dict(zip(keys, values, strict=True)) for values in get_all]


def _compiled_insert(engine: Engine) -> tuple[str, tuple[str, ...], tuple, bool]:
    """The audit INSERT for ``engine``'s dialect (no RETURNING): its SQL, the column keys in the
    order the parameters take them, each column type's bind processor (SQLite keeps datetimes as
    text), and whether the parameters are positional."""
    dialect = engine.dialect
    columns = {c.key: c for c in _events.columns if c.key != "id"}
    compiled = insert(_events).inline().compile(dialect=dialect, column_keys=list(columns))
    keys = tuple(compiled.positiontup) if compiled.positional else tuple(columns)
    processors = tuple(columns[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys)
    return compiled.string, keys, processors, bool(compiled.positional)


#: How often an idle writer looks whether its GrantLog still exists (an app of a test, say).
IDLE_CHECK = 1.0


def _write_periodically(ref: weakref.ref, interval: float, wake: threading.Event) -> None:
    """The writer thread: asleep until a grant is queued, then it writes the batch ``interval``
    later -- so no grant waits longer than that (plus a flush under way), as before, and an idle
    worker no longer wakes ten times a second to find nothing.  Rows a refused batch kept are
    tried again every ``interval``.  Ends when its GrantLog is gone."""
    while True:
        woken = wake.wait(IDLE_CHECK)
        grant_log = ref()
        if grant_log is None or grant_log._pid != _pid[0]:
            return
        del grant_log
        if not woken:
            continue
        time.sleep(interval)
        wake.clear()  # before the rows are taken: a grant queued after that wakes it again
        grant_log = ref()
        if grant_log is None:
            return
        grant_log.flush()
        if grant_log._pending:  # refused (an outage): the next try in an interval
            wake.set()
        del grant_log


def _flush_at_exit(ref: weakref.ref) -> None:
    grant_log = ref()
    if grant_log is not None and grant_log._pid == _pid[0]:
        grant_log.flush()
