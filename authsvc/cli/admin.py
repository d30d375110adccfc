"""Setting up and running: ``init``, ``db``, ``serve``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..services.operations import backup as backup_service
from ..store import schema
from ..store.models import db
from .common import fail, with_app


@click.command()
@with_app(check_schema=False, creates_database=True)
def init(uow) -> None:
    """Create or upgrade the database schema and create the signing key if absent.

    Safe to run again: nothing that exists is replaced.
    """
    schema.upgrade(db.engine)
    created = uow.context.ensure_keys()
    settings = uow.settings
    click.echo(f"database: {schema.current_revision(db.engine)} (schema current)")
    click.echo(f"signing key: {settings.signing_key_path} ({'created' if created else 'kept'})")
    click.echo(f"certificate bundle for the registry: {settings.trust_bundle_path}")
    click.echo(f"key id: {uow.signer.kid}")


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@with_app(check_schema=False, creates_database=True)
def db_upgrade(uow) -> None:
    """Apply pending schema migrations, keeping every stored row."""
    schema.upgrade(db.engine)
    click.echo(f"database: {schema.current_revision(db.engine)}")


@db_group.command("check")
@click.option("--wait", type=click.IntRange(0, 3600), default=0, show_default=True, metavar="SECONDS",
              help="Keep checking this long (the database starting, another instance migrating).")
def db_check(wait: int) -> None:
    """Exit 0 once the schema is exactly what this release needs, 1 otherwise.

    For start-up ordering: an init container or ExecStartPre that must not start workers
    before the migration (run once, elsewhere) has finished.
    """
    deadline = time.monotonic() + wait
    _wait_for_sqlite_file(deadline)
    _check_until(deadline)


def _wait_for_sqlite_file(deadline: float) -> None:
    """A SQLite file that another process has yet to create is waited for like a schema being
    migrated -- without creating it here (only init, db upgrade and restore make a database)."""
    from ..settings import SettingsError, load
    try:
        settings = load()
    except SettingsError:
        return  # with_app reports it
    path = Path(settings.data_dir, "authsvc.db")
    while not settings.database_url and not path.exists() and time.monotonic() < deadline:
        time.sleep(1)  # polling interval while another process initialises


@with_app(check_schema=False)
def _check_until(uow, deadline: float) -> None:
    from sqlalchemy.exc import DBAPIError
    while True:
        try:
            current, problem = schema.current_revision(db.engine), None
        except DBAPIError as exc:
            current, problem = None, f"database unreachable ({type(exc.orig or exc).__name__})"
            db.engine.dispose()
        if current == schema.head_revision():
            click.echo(f"database: {current} (current)")
            return
        if time.monotonic() >= deadline:
            fail(problem or f"the schema is at {current or 'nothing'}, this release needs "
                 f"{schema.head_revision()}: run 'authsvc db upgrade'")
        time.sleep(1)  # polling interval while another process migrates


@db_group.command("current")
@with_app(check_schema=False)
def db_current(uow) -> None:
    """Print the schema revision of the database and the one this release needs."""
    click.echo(f"database: {schema.current_revision(db.engine) or 'empty'}; "
               f"this release: {schema.head_revision()}")


@click.command()
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@with_app
def backup(uow, destination: Path) -> None:
    """Copy the database (SQLite, consistent while running) and every key file into DESTINATION.

    The directory is created 0700, its files 0600.  With PostgreSQL, back the database up with
    pg_dump as well: this copies the keys only.
    """
    manifest = backup_service.create(uow, destination)
    click.echo(f"backup in {destination}: database {manifest['database']}; "
               f"files {', '.join(sorted(manifest['files']))}; schema {manifest['schema_revision']}")


@click.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace existing files (the data directory is not empty).")
@with_app(check_schema=False, creates_database=True)
def restore(uow, source: Path, overwrite: bool) -> None:
    """Put a backup made by 'authsvc backup' back, with authsvc stopped; then upgrade the schema."""
    manifest = backup_service.restore(uow, source, overwrite=overwrite)
    click.echo(f"restored the backup of {manifest['created_at']} into {uow.settings.data_dir}; "
               f"database: {schema.current_revision(db.engine)}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run a development server (production: gunicorn 'authsvc:create_app()')."""
    from .. import StartupError, create_app
    from ..settings import SettingsError
    from .common import fail
    try:
        app = create_app()
    except (SettingsError, StartupError) as exc:
        fail(str(exc))
    app.run(host=host, port=port)
