"""What every command shares: the app context, error rendering, password input, output."""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
import os
import sys

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


def with_app(func=None, *, check_schema: bool = True):
    """Run the command as one unit of work inside the app context, mapping every known failure
    to one line.

    The command gets the :class:`UnitOfWork` as its first argument and passes it to the
    services; when the command returns, the unit is committed, and when it fails, rolled back,
    so a command that fails half-way changes nothing.  Commands other than those that create
    the schema first check that the database is at this release's revision, so a fresh or
    outdated database is reported as 'run authsvc init' rather than as an SQL error.
    """
    if func is None:
        return functools.partial(with_app, check_schema=check_schema)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .. import StartupError, create_app
        from ..store import schema
        from ..store.models import db
        try:
            app = create_app(serving=False)
        except (SettingsError, StartupError) as exc:
            fail(str(exc))
        try:
            with app.app_context():
                if check_schema and schema.current_revision(db.engine) != schema.head_revision():
                    fail("the database schema is missing or outdated: run 'authsvc init'")
                uow = UnitOfWork(app.extensions["authsvc"], db.session, source=f"cli:{_os_user()}")
                with uow.committing():
                    return func(uow, *args, **kwargs)
        except ServiceError as exc:
            fail(exc.message)
        except KeyFileError as exc:
            fail(str(exc))
        except OperationalError as exc:
            fail(f"database error: {str(exc.orig).splitlines()[0] if exc.orig else exc}; "
                 "has 'authsvc init' been run?")
        except SQLAlchemyError as exc:
            fail(f"database error: {type(exc).__name__}")

    return wrapper


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
    """Print rows as JSON or as an aligned table."""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        return
    def cell(value) -> str:
        return "-" if value is None else str(value)

    widths = {c: max(len(c), *(len(cell(r[c])) for r in rows)) for c in columns}
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
