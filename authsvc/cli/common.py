"""What every command shares: the app context, error rendering, password input, output."""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
import os
import sys
from pathlib import Path

import click
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..services.errors import ServiceError
from ..services.unit_of_work import UnitOfWork
from ..settings import SettingsError
from ..signing.keys import KeyFileError

EXIT_FAILURE = 1


def fail(message: str) -> None:
    click.echo(f"authsvc: error: {message}", err=True)
    sys.exit(EXIT_FAILURE)


def with_app(func=None, *, check_schema: bool = True, creates_database: bool = False):
    """Run the command as one unit of work inside the app context, mapping every known failure
    to one line.

    The command gets the :class:`UnitOfWork` as its first argument and passes it to the
    services; when the command returns, the unit is committed, and when it fails, rolled back,
    so a command that fails half-way changes nothing.  Commands other than those that create
    the schema first check that the database is at this release's revision, so a fresh or
    outdated database is reported as 'run authsvc init' rather than as an SQL error.

    Only the commands that make a database (``creates_database``: init, db upgrade, restore)
    may find the SQLite file missing: for any other, a missing file means the settings point
    somewhere else than the user thinks, and creating an empty database there (as SQLite does
    on connect) would only hide that.  Every database error names the database (the SQLite path,
    or the URL without its password) and where the settings came from.
    """
    if func is None:
        return functools.partial(with_app, check_schema=check_schema, creates_database=creates_database)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .. import StartupError, create_app
        from ..settings import describe_source, load
        from ..store import schema
        from ..store.models import db
        try:
            where = database_name(load())
            if not creates_database and where.sqlite_path is not None and not where.sqlite_path.exists():
                fail(f"no authsvc database at {where} ({describe_source()}); run 'authsvc init' to create "
                     "one there, or point AUTHSVC_CONFIG, AUTHSVC_DATA_DIR or AUTHSVC_DATABASE_URL at yours")
            app = create_app(serving=False)
        except (SettingsError, StartupError) as exc:
            fail(str(exc))
        try:
            with app.app_context():
                if check_schema:
                    _check_schema(where, schema.current_revision(db.engine), schema.head_revision())
                uow = UnitOfWork(app.extensions["authsvc"], db.session, source=f"cli:{_os_user()}")
                with uow.committing():
                    return func(uow, *args, **kwargs)
        except ServiceError as exc:
            fail(exc.message)
        except KeyFileError as exc:
            fail(str(exc))
        except OperationalError as exc:
            fail(f"database error at {where}: {str(exc.orig).splitlines()[0] if exc.orig else exc}")
        except SQLAlchemyError as exc:
            fail(f"database error at {where}: {type(exc).__name__}")

    return wrapper


class DatabaseName(str):
    """How messages name a database: the SQLite file's path, or the URL without its password."""

    sqlite_path: Path | None = None


def database_name(settings) -> DatabaseName:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not settings.database_url:
        path = Path(settings.data_dir, "authsvc.db")
        name = DatabaseName(str(path))
        name.sqlite_path = path
        return name
    try:
        return DatabaseName(make_url(settings.database_url).render_as_string(hide_password=True))
    except ArgumentError:
        return DatabaseName("the database_url setting (not a valid URL)")


def _check_schema(where: str, current: str | None, head: str) -> None:
    if current == head:
        return
    if current is None:
        fail(f"the database {where} has no authsvc schema: run 'authsvc init' (or point the settings at "
             "the database you meant)")
    fail(f"the database {where} has schema {current}, this release needs {head}: run 'authsvc db upgrade' "
         "(if it is older) or this database's own release (if newer)")


def _os_user() -> str:
    """Who ran the command, for the audit log (the CLI acts with every right, so name the person)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def read_password(from_stdin: bool, *, confirm: bool = True) -> str:
    """A password from one line of stdin, or from a hidden prompt; never from argv."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin given but stdin is empty")
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def emit(rows: list[dict], as_json: bool, columns: list[str]) -> None:
    """Print rows as JSON or as an aligned table; an empty table still has its header, so that
    "nothing there" cannot be mistaken for a command that printed nothing at all."""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return

    def cell(value) -> str:
        return "-" if value is None else str(value)

    widths = {c: max([len(c), *(len(cell(r[c])) for r in rows)]) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(cell(row[c]).ljust(widths[c]) for c in columns).rstrip())


def parse_age(text: str) -> dt.timedelta:
    """'30d', '12h', '90m' or a bare number of days, as a duration."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    try:
        if text[-1:] in units:
            return dt.timedelta(**{units[text[-1]]: int(text[:-1])})
        return dt.timedelta(days=int(text))
    except (ValueError, OverflowError):
        raise click.BadParameter(f"{text!r} is not a duration like 30d, 12h or 90m") from None


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
