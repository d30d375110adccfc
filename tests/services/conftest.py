"""The service layer on its own: no Flask app, no app context, no HTTP.

A :class:`UnitOfWork` is made here exactly as an adapter makes one -- process
objects (:class:`ServiceContext`) plus a session -- but on a plain SQLAlchemy
session over a migrated database, which proves the services need nothing of
Flask.  On tests/run's PostgreSQL pass the database is a fresh PostgreSQL one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from authsvc.core.policy import OPERATOR
from authsvc.services.access import accounts, projects
from authsvc.services.context import ServiceContext
from authsvc.services.unit_of_work import UnitOfWork
from authsvc.settings import load
from authsvc.store import schema
from tests.conftest import PASSWORDS, app_settings


class Units:
    """Makes units of work on one database, as successive requests would."""

    def __init__(self, tmp_path: Path, **settings):
        self.settings = load(environ={}, overrides=app_settings(tmp_path, **settings))
        Path(self.settings.data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.engine = create_engine(self.settings.sqlalchemy_url)
        schema.configure_sqlite(self.engine)
        schema.upgrade(self.engine)
        self.context = ServiceContext(self.settings)
        self.context.ensure_keys()
        self._sessions: list[Session] = []

    def new(self, source: str = "127.0.0.1") -> UnitOfWork:
        session = Session(self.engine)
        self._sessions.append(session)
        return UnitOfWork(self.context, session, source=source)

    def run(self, service, *args, source: str = "127.0.0.1", **kwargs):
        """One service call as one committed unit of work (rolled back if it raises)."""
        with self.new(source).committing() as work:
            return service(work, *args, **kwargs)

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self.engine.dispose()


@pytest.fixture
def units(tmp_path) -> Iterator[Units]:
    made = Units(tmp_path, throttle_base_delay=120)
    yield made
    made.close()


@pytest.fixture
def uow(units) -> UnitOfWork:
    return units.new()


@pytest.fixture
def seeded_units(units) -> Units:
    """root (admin), alice (owner of the private project 'priv'), bob (developer of it)."""
    for name in ("root", "alice", "bob"):
        units.run(accounts.create_user, OPERATOR, name, PASSWORDS[name], is_admin=name == "root")
    units.run(projects.create_project, OPERATOR, "priv", public=False, owner="alice")
    units.run(projects.add_member, OPERATOR, "priv", "bob", "developer")
    return units
