"""The migrations build exactly the schema the models describe, and upgrades keep data."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from authsvc.store import schema
from authsvc.store.models import Base


def test_migrations_match_models(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrade_again_keeps_rows(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    schema.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO users (name, password_hash, is_admin, is_active, "
                                "credential_version) VALUES ('kept', 'x', 0, 1, 1)"))
    schema.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM users")).scalar_one() == "kept"
