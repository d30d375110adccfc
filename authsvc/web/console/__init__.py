"""The web console: server-rendered pages at ``/`` over the same services as the API and the CLI.

A thin adapter, like ``web/api``: every view parses a form, calls services with the signed-in
person's principal (``session.py``) and renders a template; every rule is ``core.policy``'s,
reached through the services, and a hidden project is a 404 here too.  Plain HTML forms that work
without JavaScript; one stylesheet and a small copy-button script of our own, served from
``static/``; no third-party script, no build step.

What sets it apart from the API, all scoped to this blueprint so that ``/token``, ``/api/v1``
and ``/registry/events`` are untouched:

* a signed session cookie instead of credentials on every request;
* a CSRF token (Flask-WTF) on every state-changing form -- the API's 415 guard against form
  bodies would refuse every one of these forms, and is the API blueprint's alone;
* security headers on every response (a strict Content-Security-Policy: no inline script or
  style, no framing, forms post only here);
* errors as HTML pages (404, 403, 400, 429, 503 ...) where the rest of the app answers JSON.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, request
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from markupsafe import Markup
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from ...services.errors import ServiceError
from ...settings import Settings
from ...store.models import db
from . import account, admin, members, oidc, projects, robots, session, trust
from .pages import page

log = logging.getLogger("authsvc")

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
#: Pages anyone may open: ``/`` (which sends them on), the sign-in form, the stylesheet and script.
PUBLIC_ENDPOINTS = frozenset({"console.index", "console.login", "console.static", "console.oidc_start",
                              "console.oidc_callback"})

csrf = CSRFProtect()


def register(app: Flask, settings: Settings) -> None:
    """Add the console to ``app``: its sessions, CSRF protection and blueprint.

    The cookie-signing key is derived from the token signing key (``session.use_current_key``):
    every worker and instance already shares that key, so they agree on the cookie key with no
    file or setting of its own, and it is never logged.  Activating a rotated key ends console
    sessions (people sign in again), since their cookies were signed with the old one.
    """
    app.config.update(
        SESSION_COOKIE_NAME=session.COOKIE_NAME, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_REFRESH_EACH_REQUEST=False,
        # Checked by the console's own hook below, never app-wide: /token and /api/v1 take no
        # CSRF token (the API refuses form bodies instead, web/api/__init__.py).
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token lives as long as the session it belongs to (renewed at every sign-in).
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = session.CookieSessions()
    app.extensions["authsvc.console"] = session.Clock(idle_seconds=settings.console_idle_minutes * 60,
                                                      max_seconds=settings.console_max_hours * 3600)
    csrf.init_app(app)
    app.jinja_env.globals["csrf"] = csrf_field
    app.register_blueprint(create_blueprint())
    _pages_for_unrouted_paths(app, settings)


def _pages_for_unrouted_paths(app: Flask, settings: Settings) -> None:
    """A path no route matched (``/projects/x/nothing``, ``GET /logout``) belongs to no blueprint,
    so the app's JSON handler would answer it.  A browser (which prefers ``text/html``) gets a page
    there instead, outside the API, the token endpoint, the registry's notifications, metrics and
    probes; every other client (curl's ``*/*``, no ``Accept`` at all) keeps the JSON error."""
    machine_paths = ("/api/", settings.token_path, "/registry/", "/metrics", "/healthz", "/readyz")
    as_json = app.error_handler_spec[None][None][HTTPException]

    def unrouted(exc: HTTPException):
        wants_page = request.accept_mimetypes.best_match(("application/json", "text/html")) == "text/html"
        if request.blueprint is not None or request.path.startswith(machine_paths) or not wants_page:
            return as_json(exc)
        response = _http_page(exc)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.register_error_handler(HTTPException, unrouted)


def csrf_field() -> Markup:
    """The hidden CSRF field every state-changing console form carries."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(generate_csrf())


def create_blueprint() -> Blueprint:
    blueprint = Blueprint("console", __name__, url_prefix="/", template_folder="templates",
                          static_folder="static", static_url_path="/console-static")

    @blueprint.before_request
    def guard():
        session.use_current_key()
        if any("\x00" in str(value) for value in (request.view_args or {}).values()):
            return error_page(404, "Page not found", "There is no such page.")
        csrf.protect()  # only for POST (WTF_CSRF_METHODS); raises CSRFError -> the 400 page below
        if request.endpoint not in PUBLIC_ENDPOINTS:
            return session.require_sign_in()
        return None

    @blueprint.after_request
    def secure(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.vary.add("Cookie")
        return response

    @blueprint.app_context_processor
    def people():
        if request.blueprint != "console":
            return {}
        return {"me": session.current() if request.endpoint not in PUBLIC_ENDPOINTS else None}

    _register_errors(blueprint)
    session.register(blueprint)
    oidc.register(blueprint)
    projects.register(blueprint)
    members.register(blueprint)
    robots.register(blueprint)
    admin.register(blueprint)
    trust.register(blueprint)
    account.register(blueprint)
    return blueprint


def error_page(status: int, title: str, message: str, headers=None):
    response = page("error.html", status=status, title=title, message=message)
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


_TITLES = {400: "Bad request", 401: "Sign-in required", 403: "Not allowed", 404: "Page not found",
           405: "Not allowed here", 409: "Conflict", 413: "Too large", 429: "Too many requests",
           503: "Unavailable"}


def _http_page(exc: HTTPException):
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")}
    message = "There is no such page." if status == 404 else (exc.description or exc.name)
    return error_page(status, _TITLES.get(status, exc.name), message, headers)


def _register_errors(blueprint: Blueprint) -> None:
    @blueprint.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return error_page(400, "Form expired", "This form was missing its security token or it has expired. "
                          "Go back, reload the page and try again.")

    @blueprint.errorhandler(ServiceError)
    def _service(exc: ServiceError):
        retry_after = getattr(exc, "retry_after", None)
        status = exc.http_status
        if status == 404:  # a hidden project reads exactly like a missing page
            return error_page(404, _TITLES[404], "There is no such page, or you may not see it.")
        return error_page(status, _TITLES.get(status, "Error"), exc.message,
                          {"Retry-After": str(retry_after)} if retry_after else None)

    @blueprint.errorhandler(OperationalError)
    @blueprint.errorhandler(InterfaceError)
    def _database_down(exc: DBAPIError):
        db.session.rollback()
        log.error("database unavailable: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        return error_page(503, _TITLES[503], "The database is unavailable. Try again in a moment.",
                          {"Retry-After": "5"})

    @blueprint.errorhandler(IntegrityError)
    def _lost_race(exc: IntegrityError):
        db.session.rollback()
        return error_page(409, _TITLES[409], "Someone else changed this at the same moment. Try again.")

    @blueprint.errorhandler(DataError)
    def _unstorable(exc: DataError):
        db.session.rollback()
        return error_page(400, _TITLES[400], "The form holds a value that cannot be stored.")

    blueprint.register_error_handler(HTTPException, _http_page)

    @blueprint.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_page(500, "Something went wrong", "An unexpected error happened; it has been logged.")
