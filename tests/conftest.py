"""Fixtures shared by the in-process suites: an initialised app in a temporary data dir.

With ``TEST_DATABASE_URL`` set to a PostgreSQL server URL (``tests/run`` does this in its
second pass), every test gets a fresh PostgreSQL database instead of a SQLite file, so the
same tests prove both backends.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from authsvc import create_app
from authsvc.core.policy import OPERATOR
from authsvc.services.access import accounts, projects
from authsvc.store import schema
from authsvc.store.models import db
from tests.support.units import call

# The CLI and the server read ~/.config/authsvc/authsvc.toml when no AUTHSVC_CONFIG is set
# (authsvc/settings.py), and deploy/local/up.sh writes one there: a developer's local stack must
# not reach the tests, nor the processes they start (which inherit this), so the session gets an
# empty configuration directory of its own.
_CONFIG_HOME = tempfile.mkdtemp(prefix="authsvc-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME
atexit.register(shutil.rmtree, _CONFIG_HOME, True)

FAST_BCRYPT = 4
PASSWORDS = {"root": "root-pass-1", "alice": "alice-pass-1", "bob": "bob-pass-1", "carol": "carol-pass-1",
             "dave": "dave-pass-1", "erin": "erin-pass-1"}


SERVER_URL = os.environ.get("TEST_DATABASE_URL", "")
_template: list[str] = []


def _server_engine():
    return create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")


def fresh_database_url(tmp_path, *, migrated: bool = True) -> str:
    """An empty-but-migrated database for one test: '' (SQLite in the data dir) or a new
    PostgreSQL database cloned from a migrated template (cloning is much faster than migrating)."""
    if not SERVER_URL:
        return ""
    engine = _server_engine()
    with engine.connect() as connection:
        if not _template:
            name = f"authsvc_template_{os.getpid()}"
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            template_url = make_url(SERVER_URL).set(database=name)
            template_engine = create_engine(template_url)
            schema.upgrade(template_engine)
            template_engine.dispose()
            _template.append(name)
        name = f"authsvc_t_{uuid.uuid4().hex[:16]}"
        template = f' TEMPLATE "{_template[0]}"' if migrated else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
    engine.dispose()
    url = make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    tmp_path.mkdir(parents=True, exist_ok=True)  # a test may give an app a subdirectory of its own
    (tmp_path / "database-url").write_text(url)
    return url


def drop_database(url: str) -> None:
    if not url:
        return
    engine = _server_engine()
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def app_settings(tmp_path, **extra):
    settings = {"data_dir": str(tmp_path / "data"), "bcrypt_rounds": FAST_BCRYPT,
                "realm": "http://auth.test/token", "services": "registry"}
    url_file = tmp_path / "database-url"
    settings["database_url"] = url_file.read_text() if url_file.exists() else fresh_database_url(tmp_path)
    # tests/run runs the HTTP suite a second time with AUTHSVC_TEST_TOKEN_PATH=flask: the token
    # endpoint's fast path (web/fast_token.py) must answer exactly as the Flask view does.
    if os.environ.get("AUTHSVC_TEST_TOKEN_PATH") == "flask":
        settings["token_fast_path"] = False
    settings.update(extra)
    return settings


_sqlite_template: list[bytes] = []


def _copy_migrated_sqlite(data_dir: str) -> bool:
    """Start a test's SQLite database as a copy of one migrated once per session: running the
    migrations costs about 0.1 s, copying the file well under a millisecond, and the in-process
    suites create an app for almost every test (twice over, with the Flask token path pass).
    The copy is made as authsvc makes its file (directory 0700, file 0600).  False when the
    database file already exists (a test's own, or a second app on the same data dir)."""
    target = Path(data_dir, "authsvc.db")
    if target.exists():
        return False
    if not _sqlite_template:
        directory = Path(tempfile.mkdtemp(prefix="authsvc-test-template-"))
        try:
            engine = create_engine(f"sqlite:///{directory / 'authsvc.db'}")
            schema.upgrade(engine)
            engine.dispose()
            _sqlite_template.append((directory / "authsvc.db").read_bytes())
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(_sqlite_template[0])
    return True


def make_app(tmp_path, **extra):
    """An app with a migrated schema and a key, as after ``authsvc init``."""
    settings = app_settings(tmp_path, **extra)
    copied = not settings["database_url"] and _copy_migrated_sqlite(settings["data_dir"])
    init_app = create_app(settings, environ={}, serving=False)
    with init_app.app_context():
        if not copied:
            schema.upgrade(db.engine)
        init_app.extensions["authsvc"].ensure_keys()
    return create_app(app_settings(tmp_path, **extra), environ={})


@pytest.fixture(autouse=True)
def _drop_test_database(tmp_path):
    """Drop the PostgreSQL database a test created (nothing to do on SQLite)."""
    yield
    url_file = tmp_path / "database-url"
    if url_file.exists():
        drop_database(url_file.read_text())


@pytest.fixture
def app(tmp_path):
    application = make_app(tmp_path)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def seed() -> None:
    """root (system admin); projects 'pub' (public) and 'priv' (private), both owned by alice;
    bob developer, carol guest, dave maintainer in both; erin a member of nothing."""
    for name, password in PASSWORDS.items():
        call(accounts.create_user, OPERATOR, name, password, is_admin=(name == "root"))
    for project, public in (("pub", True), ("priv", False)):
        call(projects.create_project, OPERATOR, project, public=public, owner="alice")
        call(projects.add_member, OPERATOR, project, "bob", "developer")
        call(projects.add_member, OPERATOR, project, "carol", "guest")
        call(projects.add_member, OPERATOR, project, "dave", "maintainer")


@pytest.fixture
def seeded(app):
    """The app with :func:`seed` applied."""
    seed()
    return app


@pytest.fixture(scope="session")
def slapd():
    """A real OpenLDAP directory on private ports for the whole session (tests/support/slapd.py).
    Missing slapd/slapadd/ldapmodify: skipped with the reason -- failed under CI=true."""
    from tests.support.slapd import Slapd, binaries

    found = binaries()
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        reason = f"directory tests need Debian's slapd and ldap-utils: missing {', '.join(missing)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"prerequisite unavailable under CI=true: {reason}", pytrace=False)
        pytest.skip(reason + " (set CI=true to make this a failure)")
    root = tempfile.mkdtemp(prefix="aslapd", dir="/tmp")
    server = Slapd(__import__("pathlib").Path(root), found)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
