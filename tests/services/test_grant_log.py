"""Token grants are audited in batches: written within the interval, kept through an outage,
written at exit; failed logins are not batched."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sqlalchemy import create_engine, func, select

from authsvc.core.policy import OPERATOR
from authsvc.services import audit
from authsvc.services.grant_log import GrantLog
from authsvc.store.models import AuditEvent


def _grants(units) -> int:
    with units.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "token.grant")).scalar()


def _grant(units, n: int = 1) -> None:
    work = units.new()
    for i in range(n):
        audit.record_grant(work, OPERATOR, "registry", requested=[f"repository:p/r{i}:pull"], granted=[])
    work.commit()  # the unit itself wrote nothing


def test_a_grant_is_written_by_the_worker_thread_within_the_interval(tmp_path):
    from tests.services.conftest import Units
    # A 1 s interval: long enough that "not written with the request" is not a race on a loaded
    # machine, short enough to wait for.
    units = Units(tmp_path, audit_flush_interval=1.0)
    try:
        started = time.monotonic()
        _grant(units, 3)
        if time.monotonic() - started < 0.5:
            assert _grants(units) == 0  # queued, not written with the request
        deadline = time.monotonic() + 5 * units.settings.audit_flush_interval + 2
        while _grants(units) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _grants(units) == 3
    finally:
        units.close()


def test_with_a_zero_interval_a_grant_is_written_with_its_request(tmp_path):
    from tests.services.conftest import Units
    units = Units(tmp_path, audit_flush_interval=0)
    try:
        _grant(units)
        assert _grants(units) == 1
    finally:
        units.close()


def test_rows_the_database_refuses_are_kept_for_the_next_try(units, tmp_path):
    grant_log = GrantLog(interval=3600)  # no timely thread flush in this test
    broken = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    grant_log.add({"action": "token.grant"}, lambda: broken)
    assert grant_log.flush() == 0
    grant_log._engine = units.engine  # the database is back
    row = {"at": audit.utcnow(), "actor": "bob", "source": "t", "action": "token.grant", "target": "registry",
           "details": "{}", "request_id": None}
    grant_log._pending = [row]
    assert grant_log.flush() == 1 and _grants(units) == 1


def test_what_is_queued_is_written_when_the_process_exits(units):
    """A worker that stops normally (gunicorn's graceful stop) writes its last batch at exit, long
    before its interval (5 s, the longest allowed) is up."""
    script = f"""
import sys
sys.path.insert(0, {str(__import__('pathlib').Path(__file__).resolve().parents[2])!r})
from authsvc.core.policy import OPERATOR
from authsvc.services import audit
from authsvc.services.context import ServiceContext
from authsvc.services.unit_of_work import UnitOfWork
from authsvc.settings import load
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
settings = load(environ={{}}, overrides={{"data_dir": {str(units.settings.data_dir)!r}, "database_url": {units.settings.database_url!r},
                                         "audit_flush_interval": 5, "realm": "http://a.test/token"}})
engine = create_engine(settings.sqlalchemy_url)
work = UnitOfWork(ServiceContext(settings), Session(engine))
for i in range(5):
    audit.record_grant(work, OPERATOR, "registry", requested=[], granted=[])
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert _grants(units) == 5


def test_a_batched_grant_reads_back_exactly_as_it_was_queued(units):
    """The writer's own statement (executemany on SQLite, COPY on PostgreSQL) must store every
    column as the synchronous INSERT would: text that COPY's format must escape (tab, newline,
    backslash, a quote, non-ASCII), a NULL request id, the timestamp to the microsecond."""
    grant_log = GrantLog(interval=3600)
    grant_log._engine = units.engine
    at = audit.utcnow()
    rows = [
        {"at": at, "actor": "ro\\bot$ci", "source": "10.0.0.1", "action": "token.grant", "target": "registry",
         "details": '{"granted":["repository:p/a:pull"],"note":"tab\\there\\nline \\\\ \\"q\\" é"}',
         "request_id": None},
        {"at": at, "actor": "alice", "source": "", "action": "token.grant", "target": "reg\tistry\nx",
         "details": "{}", "request_id": "rid-1"},
    ]
    grant_log._pending = [dict(row) for row in rows]
    assert grant_log.flush() == 2
    columns = ("at", "actor", "source", "action", "target", "details", "request_id")
    with units.engine.connect() as connection:
        stored = connection.execute(select(*(getattr(AuditEvent, c) for c in columns))
                                    .order_by(AuditEvent.id)).all()
    assert [dict(zip(columns, row, strict=True)) for row in stored] == rows


def _in_a_forked_child(check) -> int:
    """Run ``check()`` in a child of this process (as gunicorn forks its workers): its exit status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os._exit(0 if check() else 1)
        except BaseException:  # noqa: BLE001 - anything the child raises is a failure
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_forked_worker_starts_a_writer_of_its_own_with_its_first_grant(units):
    """The process id the grant log compares is kept by a fork hook, not asked of the kernel per
    grant: a worker forked after its parent's writer started must still start its own."""
    grant_log = GrantLog(interval=3600)
    grant_log.add({"action": "token.grant"}, lambda: units.engine)
    assert grant_log._pid == os.getpid()

    def child_starts_its_own() -> bool:
        grant_log.add({"action": "token.grant"}, lambda: units.engine)
        return grant_log._pid == os.getpid()

    assert _in_a_forked_child(child_starts_its_own) == 0


def _row(**changes) -> dict:
    return {"at": audit.utcnow(), "actor": "bob", "source": "t", "action": "token.grant", "target": "registry",
            "details": "{}", "request_id": None, **changes}


def test_the_writer_thread_retries_a_refused_batch_by_itself(units, tmp_path):
    """The writer sleeps until a grant is queued; a batch the database refused must still be
    tried again at the next interval without another grant to wake it."""
    grant_log = GrantLog(interval=0.05)
    broken = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    refused = []
    flush = grant_log.flush
    grant_log.flush = lambda: refused.append(grant_log._engine is broken) or flush()
    grant_log.add(_row(), lambda: broken)
    deadline = time.monotonic() + 10
    while not refused and time.monotonic() < deadline:
        time.sleep(0.01)
    assert refused[0] is True
    grant_log._engine = units.engine  # the database is back: no new grant arrives
    while _grants(units) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _grants(units) == 1


def test_a_batch_is_written_whole_or_not_at_all_and_a_broken_connection_is_replaced(units):
    """The writer keeps its connection between batches (PostgreSQL: one autocommit COPY a batch):
    a batch with a row the database refuses writes none of its rows, and a connection that broke
    between batches is replaced, its batch kept for the next try."""
    grant_log = GrantLog(interval=3600)
    grant_log._engine = units.engine
    grant_log._pending = [_row(actor="first"), _row(action=None), _row(actor="third")]  # NOT NULL
    assert grant_log.flush() == 0 and _grants(units) == 0 and len(grant_log._pending) == 3
    del grant_log._pending[1]
    assert grant_log.flush() == 2 and _grants(units) == 2

    kept = grant_log._kept[2]
    kept.driver_connection.close()  # the server went away between batches
    grant_log._pending = [_row(actor="fourth")]
    assert grant_log.flush() == 0 and grant_log._pending
    assert grant_log.flush() == 1 and _grants(units) == 3 and grant_log._kept[2] is not kept
