"""Brute-force throttling of password attempts, per (account, source address).

Counting per pair, not per account, means an attacker hammering ``alice``
from one address slows only themself: Alice, logging in from her own
address, is not locked out.  Counters live in the database so every worker
and every instance sees the same ones.

After ``throttle_threshold`` failures within ``throttle_window`` seconds the
pair is blocked for ``throttle_base_delay`` seconds, doubling with each
further failure up to ``throttle_max_delay``; while blocked, every attempt is
refused with 429 and ``Retry-After`` *before anything else is looked at* --
before the verified-credential cache as well as before bcrypt, so that a
password an attacker guesses while blocked is refused even when its owner
logged in a minute ago.  A success clears the pair.

A failure is counted on the unit of work's early-write connection
(:meth:`UnitOfWork.write_now`): the refusal that follows must not undo it.  A
clear is a lasting write of the unit (:meth:`UnitOfWork.lasting`): the correct
password happened even if the same request is refused later, and the unit
commits it before such a refusal counts its failure on the same row.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ... import metrics
from ...store.models import LoginFailure, utcnow
from ...store.reads import Reads
from ..errors import ServiceError
from ..unit_of_work import UnitOfWork

_failures = LoginFailure.__table__
ACCOUNT_MAX = 80
SOURCE_MAX = 64

_COUNTER = select(_failures.c.id, _failures.c.failures, _failures.c.first_at, _failures.c.blocked_until).where(
    _failures.c.account == bindparam("account"), _failures.c.source == bindparam("source"))


class Throttled(ServiceError):
    code = "TOO_MANY_REQUESTS"
    http_status = 429

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed attempts; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Counter:
    """The failures counted for one (account, source) pair."""

    failures: int
    blocked_until: dt.datetime | None


def key(account: str, source: str) -> dict:
    return {"account": account[:ACCOUNT_MAX], "source": source[:SOURCE_MAX]}


def read(reads: Reads, account: str, source: str) -> Counter | None:
    rows = reads.rows(_COUNTER, key(account, source))
    return Counter(rows[0].failures, rows[0].blocked_until) if rows else None


def refuse_if_blocked(settings, counter: Counter | None) -> None:
    """Raise :class:`Throttled` while the pair is blocked."""
    if settings.throttle_threshold <= 0 or counter is None or counter.blocked_until is None:
        return
    remaining = (counter.blocked_until - utcnow()).total_seconds()
    if remaining > 0:
        metrics.throttled()
        raise Throttled(max(1, math.ceil(remaining)))


def _blocked_until(settings, failures: int, now: dt.datetime) -> dt.datetime | None:
    over = failures - settings.throttle_threshold
    if over < 0:
        return None
    delay = min(settings.throttle_max_delay, settings.throttle_base_delay * (2 ** min(over, 30)))
    return now + dt.timedelta(seconds=delay)


def count_failure(connection: Connection, settings, account: str, source: str) -> None:
    """Count one failure for the pair on an early-write connection (its own transaction)."""
    if settings.throttle_threshold <= 0:
        return
    pair, now = key(account, source), utcnow()
    window_start = now - dt.timedelta(seconds=settings.throttle_window)
    row = connection.execute(_COUNTER, pair).first()
    if row is None:
        try:
            with connection.begin_nested():
                connection.execute(insert(_failures).values(
                    **pair, failures=1, first_at=now, blocked_until=_blocked_until(settings, 1, now)))
            return
        except IntegrityError:  # another worker inserted the row first: count on it below
            row = connection.execute(_COUNTER, pair).one()
    if row.first_at < window_start:
        connection.execute(update(_failures).where(_failures.c.id == row.id).values(
            failures=1, first_at=now, blocked_until=_blocked_until(settings, 1, now)))
        return
    # Increment in SQL, not in Python, so concurrent failures are all counted.
    connection.execute(update(_failures).where(_failures.c.id == row.id).values(
        failures=_failures.c.failures + 1))
    failures = connection.execute(select(_failures.c.failures).where(_failures.c.id == row.id)).scalar_one()
    blocked = _blocked_until(settings, failures, now)
    if blocked is not None:
        connection.execute(update(_failures).where(_failures.c.id == row.id).values(blocked_until=blocked))


def clear(uow: UnitOfWork, account: str) -> None:
    """Forget the failures of (``account``, the unit's source) after a correct password: a lasting
    write of the unit, which survives a refusal later in the same request."""
    pair = key(account, uow.source)
    with uow.lasting() as connection:
        connection.execute(delete(_failures).where(
            _failures.c.account == pair["account"], _failures.c.source == pair["source"]))
