"""authsvc: token authentication and project access control for a distribution registry.

``create_app()`` is the application factory (``gunicorn 'authsvc:create_app()'``):
it only wires settings, the database, the service context and the blueprints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from . import logs
from .services.context import ServiceContext
from .settings import Settings, SettingsError, load
from .store import schema
from .store.models import db

__all__ = ["create_app", "Settings", "SettingsError"]

MAX_REQUEST_BYTES = 64 * 1024


class StartupError(RuntimeError):
    """The service cannot start as configured; the message says what to do."""


def create_app(overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None,
               serving: bool = True) -> Flask:
    """Build the Flask app.

    ``serving=True`` (what gunicorn gets) checks at start that the schema is
    current and the signing key loads, so a misconfigured instance fails
    with a clear message instead of answering 500s.  The CLI passes
    ``serving=False``: ``authsvc init`` is what creates both.
    """
    settings = load(environ, overrides)
    if serving:
        logs.configure(settings.log_format)  # before anything at start-up may warn
    _require_database_driver(settings, serving)
    Path(settings.data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    if not settings.database_url:
        _prepare_sqlite_file(Path(settings.data_dir, "authsvc.db"))

    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = settings.sqlalchemy_url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(settings.sqlalchemy_url)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.json.sort_keys = False
    db.init_app(app)
    context = ServiceContext(settings)
    app.extensions["authsvc"] = context

    from .web import api, errors, health, lifecycle, metrics, notifications, token
    errors.register(app)
    # Request id, log line, deadline and the unit of work's end (web/lifecycle.py); the deadline
    # only when serving: a CLI or test app must not arm SIGALRM.
    lifecycle.register(app, deadline_seconds=settings.request_deadline if serving else 0)
    app.register_blueprint(token.create_blueprint(settings.token_path))
    app.register_blueprint(health.blueprint)
    app.register_blueprint(notifications.blueprint)
    app.register_blueprint(api.create_blueprint())
    if settings.metrics_enabled:
        app.register_blueprint(metrics.create_blueprint(settings.metrics_token))
    if serving:  # the web console: only where HTTP is served (its cookie key is the signing key's)
        from .web import console
        console.register(app, settings)

    with app.app_context():
        schema.configure_sqlite(db.engine)
        if serving:
            _check_ready(context)
        if settings.token_fast_path:
            from .web import deadline, fast_token
            fast_token.install(app, path=settings.token_path, engine=db.engine, max_body=MAX_REQUEST_BYTES,
                               timer=deadline.timer(settings.request_deadline) if serving else None)
    if settings.proxy_hops:  # outermost: every path sees the client's address
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    return app


def _prepare_sqlite_file(path: Path) -> None:
    """Create the data directory (0700) and the database file (0600) before SQLite does,
    so password hashes are never readable by other local users."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


#: gunicorn's exit status for "the application cannot be loaded": its master stops at once
#: ("App failed to load") instead of logging a traceback for every worker it tries to boot.
APP_LOAD_ERROR = 4


def _require_database_driver(settings: Settings, serving: bool) -> None:
    """The engine is made here (Flask-SQLAlchemy, in ``db.init_app``), so a driver that is not
    installed (PostgreSQL without the ``postgres`` extra) is reported here, in one line: the CLI
    prints the :class:`~.store.schema.MissingDriver` like any settings error; a server logs it and
    exits with gunicorn's "cannot load" status."""
    try:
        schema.require_driver(settings.sqlalchemy_url)
    except schema.MissingDriver as exc:
        if not serving:
            raise
        logging.getLogger("authsvc").error("cannot start: %s", exc)
        raise SystemExit(APP_LOAD_ERROR) from None


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": schema.SQLITE_BUSY_TIMEOUT_MS / 1000}}
    options = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5, "pool_timeout": 5}
    if url.startswith("postgresql"):
        # A database that does not answer must turn into a prompt 503, not a hung worker.
        options["connect_args"] = {"connect_timeout": 3}
    return options


def _check_ready(context: ServiceContext) -> None:
    from sqlalchemy.exc import DBAPIError
    try:
        current = schema.current_revision(db.engine)
    except DBAPIError as exc:
        # An outage must not stop workers from booting (gunicorn's master would give up on the
        # whole service): start, answer 503 meanwhile, and recover when the database returns.
        logging.getLogger("authsvc").error("database unreachable at start-up (%s); serving 503 until it "
                                           "returns", type(exc.orig or exc).__name__)
        db.session.remove()
        current = schema.head_revision()
    if current != schema.head_revision():
        where = db.engine.url.render_as_string(hide_password=True)
        raise StartupError(f"database {where}: schema is at {current or 'nothing'}, this release needs "
                           f"{schema.head_revision()}: run 'authsvc init' (or 'authsvc db upgrade')")
    from .signing.keys import KeyFileError
    try:
        signer = context.signer  # load the key now, not on the first request
    except KeyFileError as exc:
        raise StartupError(str(exc)) from None
    from .signing.rotation import EXPIRY_WARNING_DAYS, days_left
    left = days_left(signer.material.certificate)
    if left < EXPIRY_WARNING_DAYS:
        logging.getLogger("authsvc").warning(
            "the signing certificate %s: registries reject our tokens after that; run 'authsvc keys rotate'",
            "has EXPIRED" if left < 0 else f"expires in {int(left)} days")


