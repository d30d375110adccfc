"""A unit of work: nothing a service does is stored until its adapter commits, except the
early write that must outlive a refusal."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from authsvc.core.policy import OPERATOR
from authsvc.services import audit
from authsvc.services.access import accounts
from authsvc.services.authn import NameAndSecret, throttle
from authsvc.services.errors import Conflict, Unauthorized
from authsvc.services.unit_of_work import FullPathNeeded, ReadOnlyUnit
from authsvc.store.models import AuditEvent, LoginFailure, User
from authsvc.store.reads import SessionReads
from tests.conftest import PASSWORDS


def _count(units, model, *where) -> int:
    with units.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model).where(*where)).scalar()


def test_a_service_change_is_stored_only_when_the_adapter_commits(units):
    work = units.new()
    accounts.create_user(work, OPERATOR, "alice", PASSWORDS["alice"])
    assert _count(units, User) == 0  # another connection sees nothing yet
    work.commit()
    assert _count(units, User) == 1
    assert _count(units, AuditEvent, AuditEvent.action == "user.create") == 1


def test_a_unit_that_fails_half_way_leaves_nothing(units):
    work = units.new()
    accounts.create_user(work, OPERATOR, "alice", PASSWORDS["alice"])
    with pytest.raises(Conflict):
        accounts.create_user(work, OPERATOR, "alice", PASSWORDS["alice"])
    work.rollback()
    assert _count(units, User) == 0 and _count(units, AuditEvent) == 0


def test_a_failed_login_outlives_the_refusal_that_rolls_its_unit_back(seeded_units):
    work = seeded_units.new(source="203.0.113.9")
    with pytest.raises(Unauthorized):
        work.context.authenticator.authenticate(work, NameAndSecret("bob", "wrong-guess"))
    audit.record(work, OPERATOR, "test.pending", "must vanish")  # written after, in the unit itself
    work.rollback()  # what the HTTP adapter does with a 401
    assert _count(seeded_units, AuditEvent, AuditEvent.action == "test.pending") == 0
    assert _count(seeded_units, AuditEvent, AuditEvent.action == "login.failure", AuditEvent.actor == "bob") == 1
    assert _count(seeded_units, LoginFailure, LoginFailure.account == "bob",
                  LoginFailure.source == "203.0.113.9") == 1


# -- issue 20, finding 1: the session is ended before an early write, so it never waits on it ------

def _pair(units, account: str = "bob", source: str = "203.0.113.9") -> int:
    with units.engine.connect() as connection:
        return connection.execute(select(LoginFailure.failures).where(
            LoginFailure.account == account, LoginFailure.source == source)).scalar() or 0


def test_an_early_write_commits_the_lasting_writes_of_its_unit_first(seeded_units):
    with pytest.raises(Unauthorized):  # one failure for (bob, address), committed by its early write
        seeded_units.run(lambda work: work.context.authenticator.authenticate(work, NameAndSecret("bob", "x")),
                         source="203.0.113.9")
    assert _pair(seeded_units) == 1
    work = seeded_units.new(source="203.0.113.9")
    throttle.clear(work, "bob")  # what a correct password does, in the unit
    with work.write_now() as connection:  # a refusal later in the same request, on the same row
        throttle.count_failure(connection, work.settings, "bob", work.source)
    work.rollback()  # what the adapter does with the refusal's 403
    assert _pair(seeded_units) == 1  # cleared, then counted once: the clear survived


def test_an_early_write_rolls_back_what_its_unit_did_not_declare_lasting(seeded_units):
    work = seeded_units.new()
    audit.record(work, OPERATOR, "test.pending", "must vanish")  # a service's write, not a verifier's
    with work.write_now() as connection:
        audit.record_now(connection, work, "bob", "login.failure")
    work.commit()  # even a commit afterwards stores nothing of what came before the early write
    assert _count(seeded_units, AuditEvent, AuditEvent.action == "test.pending") == 0
    assert _count(seeded_units, AuditEvent, AuditEvent.action == "login.failure") == 1


def test_a_pending_change_beside_a_lasting_write_is_rolled_back_with_it(seeded_units):
    """Losing a lasting write is safe (the next success clears, re-hashes or stamps again);
    committing a service's half-done change is not."""
    work = seeded_units.new()
    with work.lasting() as connection:
        connection.execute(update(User).where(User.name == "bob").values(email="lasting@example.org"))
    work.session.execute(select(User).where(User.name == "alice")).scalar_one().is_admin = True  # not flushed
    with work.write_now() as connection:
        audit.record_now(connection, work, "bob", "login.failure")
    work.rollback()
    with seeded_units.engine.connect() as connection:
        rows = dict(connection.execute(select(User.name, User.email).where(User.name == "bob")).all())
        admins = connection.execute(select(User.name).where(User.is_admin.is_(True))).scalars().all()
    assert rows == {"bob": None} and admins == ["root"]
    assert _count(seeded_units, AuditEvent, AuditEvent.action == "login.failure") == 1


def test_the_fast_paths_unit_refuses_a_lasting_write(seeded_units):
    unit = ReadOnlyUnit(seeded_units.context, seeded_units.engine, reads=SessionReads(seeded_units.new().session))
    with pytest.raises(FullPathNeeded):
        throttle.clear(unit, "bob")
