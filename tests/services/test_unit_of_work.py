"""A unit of work: nothing a service does is stored until its adapter commits, except the
early write that must outlive a refusal."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from authsvc.core.policy import OPERATOR
from authsvc.services import audit
from authsvc.services.access import accounts
from authsvc.services.authn import NameAndSecret
from authsvc.services.errors import Conflict, Unauthorized
from authsvc.store.models import AuditEvent, LoginFailure, User
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
