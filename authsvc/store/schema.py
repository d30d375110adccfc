"""Schema creation and upgrades through alembic, and per-connection database settings.

Migrations run from code (``authsvc init`` and ``authsvc db upgrade``) so an
operator never edits an alembic.ini; each release ships its revisions in
``migrations/versions`` and upgrading keeps every stored row.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from ..settings import SettingsError

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 5000


class MissingDriver(SettingsError):
    """``database_url`` names a database whose Python driver is not installed; ``fix`` is what
    to do about it (``authsvc doctor`` shows it apart, the message includes it)."""

    def __init__(self, message: str, fix: str):
        super().__init__(f"{message}: {fix}")
        self.reason, self.fix = message, fix


#: What to install for PostgreSQL: the driver is an extra, so a SQLite-only install stays small.
POSTGRES_EXTRA = "pip install 'authsvc[postgres]'"


def require_driver(url: str) -> None:
    """Raise :class:`MissingDriver` (one line, what to install) unless ``url``'s driver imports.

    Called where the app makes its engine (``create_app``) and by ``authsvc doctor``: without it,
    a PostgreSQL ``database_url`` on an install without the ``postgres`` extra ends every command
    and every worker in a ``ModuleNotFoundError`` traceback from deep inside SQLAlchemy.  A URL
    that does not parse, or names no known database, is left to SQLAlchemy's own message.
    """
    try:
        dialect = make_url(url).get_dialect()
    except ArgumentError:  # not a URL, or no such dialect (NoSuchModuleError)
        return
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        missing = exc.name or str(exc)
        if dialect.name == "postgresql":
            fix = (POSTGRES_EXTRA if dialect.driver == "psycopg"
                   else f"use a postgresql+psycopg:// URL and {POSTGRES_EXTRA}")
            raise MissingDriver(f"setting 'database_url': PostgreSQL needs the Python driver {missing!r}, "
                                "which is not installed", fix) from None
        raise MissingDriver(f"setting 'database_url': the Python driver {missing!r} for {dialect.name} "
                            "is not installed", f"install {missing!r} beside authsvc") from None


def _alembic_config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


#: Key of the PostgreSQL advisory lock held while migrating (any constant unique to authsvc).
MIGRATION_LOCK_KEY = 0x61757468737663  # "authsvc"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (creating it on an empty database).

    Serialised across processes and hosts, so replicas that all run ``authsvc db upgrade`` as
    they start (Kubernetes init containers, compose replicas) migrate once: the others wait,
    then find the schema current.  PostgreSQL: a transaction-scoped advisory lock, released at
    commit.  SQLite: an exclusive lock on a file beside the database.
    """
    with _migration_lock(engine), engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the original; with foreign keys on,
            # dropping ``users`` would delete every membership and token that refers to it.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                command.upgrade(_alembic_config(connection), revision)
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


@contextlib.contextmanager
def _migration_lock(engine: Engine):
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{database}.migrate-lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def configure_sqlite(engine: Engine) -> None:
    """Foreign keys on (SQLite has them off), WAL so readers never block the writer,
    and a busy timeout so concurrent writers wait instead of failing."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not str(engine.url.database or "").startswith(":memory:") and engine.url.database:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
