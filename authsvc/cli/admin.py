"""Setting up and running: ``init``, ``db``, ``serve``."""

from __future__ import annotations

import click

from ..store import schema
from ..store.models import db
from .common import with_app


@click.command()
@with_app(check_schema=False)
def init(ctx) -> None:
    """Create or upgrade the database schema and create the signing key if absent.

    Safe to run again: nothing that exists is replaced.
    """
    schema.upgrade(db.engine)
    created = ctx.ensure_keys()
    settings = ctx.settings
    click.echo(f"database: {schema.current_revision(db.engine)} (schema current)")
    click.echo(f"signing key: {settings.signing_key_path} ({'created' if created else 'kept'})")
    click.echo(f"certificate bundle for the registry: {settings.trust_bundle_path}")
    click.echo(f"key id: {ctx.signer.kid}")


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@with_app(check_schema=False)
def db_upgrade(ctx) -> None:
    """Apply pending schema migrations, keeping every stored row."""
    schema.upgrade(db.engine)
    click.echo(f"database: {schema.current_revision(db.engine)}")


@db_group.command("current")
@with_app(check_schema=False)
def db_current(ctx) -> None:
    """Print the schema revision of the database and the one this release needs."""
    click.echo(f"database: {schema.current_revision(db.engine) or 'empty'}; "
               f"this release: {schema.head_revision()}")


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
