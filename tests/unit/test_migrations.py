"""The migrations build exactly the schema the models describe, and upgrades keep data.

Runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
"""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, select

from authsvc.store import schema
from authsvc.store.models import Base, User
from tests.conftest import SERVER_URL, fresh_database_url


@pytest.fixture
def engine(tmp_path):
    url = fresh_database_url(tmp_path, migrated=False) if SERVER_URL else f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_engine(url)
    yield engine
    engine.dispose()


def test_migrations_match_models(engine):
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrade_from_each_revision_keeps_rows(engine):
    schema.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(insert(User.__table__).values(name="kept", password_hash="x", is_admin=False,
                                                         is_active=True, credential_version=1))
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    with engine.connect() as connection:
        assert connection.execute(select(User.__table__.c.name)).scalar_one() == "kept"
