"""Brute-force throttling of password attempts, per (account, source address).

Counting per pair, not per account, means an attacker hammering ``alice``
from one address slows only themself: Alice, logging in from her own
address, is not locked out.  Counters live in the database so every worker
and every instance sees the same ones.

After ``throttle_threshold`` failures within ``throttle_window`` seconds the
pair is blocked for ``throttle_base_delay`` seconds, doubling with each
further failure up to ``throttle_max_delay``; while blocked, attempts are
refused with 429 and ``Retry-After`` before any password is checked.  A
success clears the pair.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .. import metrics
from ..store.models import LoginFailure, db, utcnow
from .errors import ServiceError


class Throttled(ServiceError):
    code = "TOO_MANY_REQUESTS"
    http_status = 429

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed attempts; retry in {retry_after} s")
        self.retry_after = retry_after


def check(settings, account: str, source: str) -> LoginFailure | None:
    """Raise :class:`Throttled` if the pair is blocked; return its counter row, if any."""
    if settings.throttle_threshold <= 0:
        return None
    row = db.session.execute(select(LoginFailure).where(
        LoginFailure.account == account[:80], LoginFailure.source == source[:64])).scalar_one_or_none()
    if row is not None and row.blocked_until is not None:
        remaining = (row.blocked_until - utcnow()).total_seconds()
        if remaining > 0:
            metrics.throttled()
            raise Throttled(max(1, math.ceil(remaining)))
    return row


def _blocked_until(settings, failures: int, now: dt.datetime) -> dt.datetime | None:
    over = failures - settings.throttle_threshold
    if over < 0:
        return None
    delay = min(settings.throttle_max_delay, settings.throttle_base_delay * (2 ** min(over, 30)))
    return now + dt.timedelta(seconds=delay)


def failed(settings, account: str, source: str) -> None:
    """Count one failure for the pair, in the caller's transaction (the caller commits)."""
    if settings.throttle_threshold <= 0:
        return
    account, source, now = account[:80], source[:64], utcnow()
    window_start = now - dt.timedelta(seconds=settings.throttle_window)
    row = db.session.execute(select(LoginFailure).where(
        LoginFailure.account == account, LoginFailure.source == source)).scalar_one_or_none()
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(LoginFailure(account=account, source=source, failures=1, first_at=now,
                                            blocked_until=_blocked_until(settings, 1, now)))
            return
        except IntegrityError:  # another worker inserted the row first: count on it below
            row = db.session.execute(select(LoginFailure).where(
                LoginFailure.account == account, LoginFailure.source == source)).scalar_one()
    if row.first_at < window_start:
        db.session.execute(update(LoginFailure).where(LoginFailure.id == row.id).values(
            failures=1, first_at=now, blocked_until=_blocked_until(settings, 1, now)))
        return
    # Increment in SQL, not in Python, so concurrent failures are all counted.
    db.session.execute(update(LoginFailure).where(LoginFailure.id == row.id).values(
        failures=LoginFailure.failures + 1))
    db.session.refresh(row)
    blocked = _blocked_until(settings, row.failures, now)
    if blocked is not None:
        db.session.execute(update(LoginFailure).where(LoginFailure.id == row.id).values(blocked_until=blocked))


def succeeded(row: LoginFailure | None) -> None:
    """Clear the pair's counter after a correct password (only if there was one)."""
    if row is not None:
        db.session.execute(delete(LoginFailure).where(LoginFailure.id == row.id))
        db.session.commit()
