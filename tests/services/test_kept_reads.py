"""The token path's reads on a connection each worker keeps (store/reads.py): they see every
committed change at the next read, convert types as SQLAlchemy would, and recover from a broken
connection."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import DBAPIError

from authsvc.core.policy import OPERATOR, Role
from authsvc.services.access import projects
from authsvc.services.authn import NameAndSecret
from authsvc.services.errors import Unauthorized
from authsvc.store import queries
from authsvc.store.reads import KeptConnectionReads, SessionReads


@pytest.fixture
def kept(seeded_units):
    return KeptConnectionReads(seeded_units.engine)


def test_a_change_committed_elsewhere_is_seen_at_the_next_read(seeded_units, kept):
    bob = queries.user_by_name(kept, "bob")
    assert queries.project_views(kept, bob.id, {"priv"})["priv"].role is Role.DEVELOPER
    seeded_units.run(projects.set_role, OPERATOR, "priv", "bob", "guest")
    assert queries.project_views(kept, bob.id, {"priv"})["priv"].role is Role.GUEST
    seeded_units.run(projects.remove_member, OPERATOR, "priv", "bob")
    assert queries.project_views(kept, bob.id, {"priv"})["priv"].role is None


def test_rows_match_what_the_session_reads(seeded_units, kept):
    work = seeded_units.new(source="192.0.2.1")
    with pytest.raises(Unauthorized):  # one failure: a throttle counter with a timestamp
        work.context.authenticator.authenticate(work, NameAndSecret("bob", "wrong-guess"))
    work.rollback()
    session = SessionReads(seeded_units.new().session)
    for reads in (kept, session):
        row = queries.user_with_counter(reads, "bob", "192.0.2.1")
        assert (row.name, row.failures, bool(row.is_active)) == ("bob", 1, True)
    assert tuple(queries.user_with_counter(kept, "bob", "192.0.2.1")) == tuple(
        queries.user_with_counter(session, "bob", "192.0.2.1"))
    names = {f"p{i}" for i in range(20)} | {"priv"}  # more names than one statement takes
    assert queries.project_views(kept, None, names) == queries.project_views(session, None, names)


def test_timestamps_come_back_as_datetimes(seeded_units, kept):
    from authsvc.services.credentials import robots
    expiry = dt.datetime(2099, 1, 1)
    seeded_units.run(robots.create, OPERATOR, "priv", "ci", actions="pull", expires_at=expiry)
    assert queries.robot_by_login(kept, "priv", "ci").expires_at == expiry


def test_a_database_that_cannot_be_reached_is_an_sqlalchemy_error(tmp_path):
    """What a database outage looks like to the HTTP layer: OperationalError (a 503), never the
    driver's own exception (a 500) -- also when a new connection cannot even be opened."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError
    unreachable = KeptConnectionReads(create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"))
    for _ in range(2):
        with pytest.raises(OperationalError):
            queries.user_by_name(unreachable, "bob")


def test_a_broken_connection_is_an_sqlalchemy_error_and_the_next_read_reconnects(kept):
    assert queries.user_by_name(kept, "bob") is not None
    kept._local.kept[1].driver_connection.close()  # what a database restart does to it
    with pytest.raises(DBAPIError):
        queries.user_by_name(kept, "bob")
    assert queries.user_by_name(kept, "bob").name == "bob"


def test_on_postgresql_each_statement_is_prepared_on_the_server_at_its_first_use(kept):
    """One parse and plan per statement and connection; every later request only binds it."""
    if kept.dialect.name != "postgresql":
        pytest.skip("server-side prepared statements are PostgreSQL's")
    assert queries.user_by_name(kept, "bob") is not None
    connection = kept._local.kept[1].driver_connection
    prepared = connection.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    assert any("FROM users" in statement for (statement,) in prepared), prepared
