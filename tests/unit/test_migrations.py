"""The migrations build exactly the schema the models describe, and upgrades keep data.

Runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
"""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, create_engine, insert, select, table, text
from sqlalchemy.exc import IntegrityError

from authsvc.store import schema
from authsvc.store.models import Base, User
from tests.conftest import SERVER_URL, fresh_database_url


@pytest.fixture
def engine(tmp_path):
    url = fresh_database_url(tmp_path, migrated=False) if SERVER_URL else f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_engine(url)
    yield engine
    engine.dispose()


#: The users table as 0001 made it: the model's later columns must not be written before they exist.
_USERS_0001 = table("users", *(column(name) for name in ("id", "name", "password_hash", "is_admin", "is_active",
                                                         "credential_version")))


def test_migrations_match_models(engine):
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrade_from_each_revision_keeps_rows(engine):
    schema.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(insert(_USERS_0001).values(name="kept", password_hash="x", is_admin=False,
                                                      is_active=True, credential_version=1))
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    with engine.connect() as connection:
        assert connection.execute(select(User.__table__.c.name)).scalar_one() == "kept"


def test_directory_accounts_migration_marks_existing_users_local_and_holds_group_roles(engine):
    schema.upgrade(engine, "0007")
    with engine.begin() as connection:
        connection.execute(insert(_USERS_0001).values(name="before", password_hash="x", is_admin=True,
                                                      is_active=True, credential_version=3))
        connection.execute(text("INSERT INTO projects (name, is_public) VALUES ('payments', false)"))
    schema.upgrade(engine, "0008")
    users = User.__table__
    with engine.connect() as connection:
        row = connection.execute(select(users.c.name, users.c.source, users.c.is_admin, users.c.password_hash,
                                        users.c.credential_version, users.c.directory_groups)).one()
    assert tuple(row) == ("before", "local", True, "x", 3, None)
    with engine.begin() as connection:
        project_id = connection.execute(text("SELECT id FROM projects")).scalar_one()
        connection.execute(text("INSERT INTO project_groups (project_id, group_name, role) "
                                "VALUES (:p, 'payments-dev', 'developer')"), {"p": project_id})
    with pytest.raises(IntegrityError), engine.begin() as connection:  # the role CHECK, as memberships'
        connection.execute(text("INSERT INTO project_groups (project_id, group_name, role) "
                                "VALUES (:p, 'ops', 'owner')"), {"p": project_id})
    with pytest.raises(IntegrityError), engine.begin() as connection:  # one role per (project, group)
        connection.execute(text("INSERT INTO project_groups (project_id, group_name, role) "
                                "VALUES (:p, 'payments-dev', 'guest')"), {"p": project_id})


def test_refresh_token_last_use_migration_keeps_every_login(engine):
    schema.upgrade(engine, "0008")
    with engine.begin() as connection:
        connection.execute(insert(_USERS_0001).values(name="dev", password_hash="x", is_admin=False,
                                                      is_active=True, credential_version=1))
        user_id = connection.execute(text("SELECT id FROM users")).scalar_one()
        connection.execute(text("INSERT INTO refresh_tokens (token_hash, user_id, credential_version, client_id) "
                                "VALUES ('h', :u, 1, 'docker')"), {"u": user_id})
    schema.upgrade(engine, "0009")
    with engine.connect() as connection:
        row = connection.execute(text("SELECT client_id, last_used_at FROM refresh_tokens")).one()
    assert tuple(row) == ("docker", None)
