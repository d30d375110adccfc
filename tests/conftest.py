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
from sqlalchemy.pool import NullPool

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
_server: list = []
#: Migrated databases a finished test left as it found them, emptied: the next test takes one.
_pool: list[str] = []
#: Every database this process made, dropped when the session ends.
_made: set[str] = set()
#: A migrated database's schema, as columns and indexes: a test that altered it gives its
#: database back to nobody.
_SCHEMA_FINGERPRINT = text(
    "SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM ("
    " SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable"
    "   || ':' || coalesce(column_default, '') AS x"
    " FROM information_schema.columns WHERE table_schema = 'public'"
    " UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"
    " UNION ALL SELECT 'version:' || version_num FROM alembic_version) AS parts")
_fingerprint: list[str] = []


def _server_engine():
    """One AUTOCOMMIT engine on the server per process (each create_engine costs a dialect set-up)."""
    if not _server:
        _server.append(create_engine(SERVER_URL, isolation_level="AUTOCOMMIT"))
    return _server[0]


def _database_url(name: str) -> str:
    return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


def _make_template(connection) -> None:
    name = f"authsvc_template_{os.getpid()}"
    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    connection.execute(text(f'CREATE DATABASE "{name}"'))
    template_engine = create_engine(_database_url(name))
    schema.upgrade(template_engine)
    with template_engine.connect() as template:
        _fingerprint.append(template.execute(_SCHEMA_FINGERPRINT).scalar_one())
    template_engine.dispose()
    _template.append(name)
    _made.add(name)


def fresh_database_url(tmp_path, *, migrated: bool = True) -> str:
    """An empty-but-migrated database for one test: '' (SQLite in the data dir) or a PostgreSQL one.

    On PostgreSQL a migrated database is one an earlier test of this process gave back emptied
    (see :func:`release_database`: about 20 ms), else a clone of a template migrated once per
    process (CREATE DATABASE ... TEMPLATE and its DROP cost 100-300 ms a test, which was a third
    of the PostgreSQL pass).  ``migrated=False`` is always a new, empty database."""
    if not SERVER_URL:
        return ""
    if migrated and _pool:
        url = _database_url(_pool.pop())
    else:
        with _server_engine().connect() as connection:
            if migrated and not _template:
                _make_template(connection)
            name = f"authsvc_t_{uuid.uuid4().hex[:16]}"
            template = f' TEMPLATE "{_template[0]}"' if migrated else ""
            connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
        _made.add(name)
        url = _database_url(name)
    tmp_path.mkdir(parents=True, exist_ok=True)  # a test may give an app a subdirectory of its own
    (tmp_path / "database-url").write_text(url)
    return url


def _emptied(name: str) -> bool:
    """Empty a finished test's database in place, if its schema is still the template's: end every
    session the test left on it (the app's pool, a writer thread), then TRUNCATE every table but
    alembic_version, restarting their id sequences.  False when it cannot be reused."""
    if not _fingerprint:
        return False
    server = _server_engine()
    with server.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
    engine = create_engine(_database_url(name), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SET lock_timeout = '2s'"))
            if connection.execute(_SCHEMA_FINGERPRINT).scalar_one() != _fingerprint[0]:
                return False
            tables = connection.execute(text(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'")).scalars().all()
            if tables:
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            connection.commit()
        return True
    except Exception:  # noqa: BLE001 -- anything odd: the database is dropped instead
        return False
    finally:
        engine.dispose()


def release_database(url: str) -> None:
    """A test is done with its database: back to the pool emptied, or dropped."""
    if not url:
        return
    name = make_url(url).database
    if name.startswith("authsvc_t_") and _emptied(name):
        _pool.append(name)
    else:
        drop_database(url)


def drop_database(url: str) -> None:
    if not url:
        return
    name = make_url(url).database
    with _server_engine().connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    _made.discard(name)


def pytest_sessionfinish(session, exitstatus) -> None:
    """Drop what this process made (the pool and the template): nothing is left on a kept server."""
    if SERVER_URL and _made:
        for name in sorted(_made, key=lambda n: n.startswith("authsvc_template_")):
            drop_database(_database_url(name))
        _pool.clear()
        _template.clear()
    for engine in _server:
        engine.dispose()
    _server.clear()


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
    """Give back the PostgreSQL database a test used (nothing to do on SQLite)."""
    yield
    url_file = tmp_path / "database-url"
    if url_file.exists():
        release_database(url_file.read_text())


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



@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    """A real OpenID provider process (``oidc-provider-mock``) on a free loopback port, one per
    session and worker (tests/support/oidc_provider.py); every test makes people of its own."""
    from tests.support.oidc_provider import running_provider

    with running_provider(tmp_path_factory.mktemp("oidc-provider")) as provider:
        yield provider
