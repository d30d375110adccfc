"""Fixtures shared by the in-process suites: an initialised app in a temporary data dir."""

from __future__ import annotations

import pytest

from authsvc import create_app
from authsvc.core.policy import OPERATOR
from authsvc.services import accounts, projects
from authsvc.store import schema
from authsvc.store.models import db

FAST_BCRYPT = 4
PASSWORDS = {"root": "root-pass-1", "alice": "alice-pass-1", "bob": "bob-pass-1", "carol": "carol-pass-1",
             "dave": "dave-pass-1", "erin": "erin-pass-1"}


def app_settings(tmp_path, **extra):
    settings = {"data_dir": str(tmp_path / "data"), "bcrypt_rounds": FAST_BCRYPT,
                "realm": "http://auth.test/token", "services": "registry"}
    settings.update(extra)
    return settings


def make_app(tmp_path, **extra):
    """An app with a migrated schema and a key, as after ``authsvc init``."""
    init_app = create_app(app_settings(tmp_path, **extra), environ={}, serving=False)
    with init_app.app_context():
        schema.upgrade(db.engine)
        init_app.extensions["authsvc"].ensure_keys()
    return create_app(app_settings(tmp_path, **extra), environ={})


@pytest.fixture
def app(tmp_path):
    application = make_app(tmp_path)
    with application.app_context():
        yield application
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def seeded(app):
    """root (system admin); projects 'pub' (public) and 'priv' (private), both owned by alice;
    bob developer, carol guest, dave maintainer in both; erin a member of nothing."""
    for name, password in PASSWORDS.items():
        accounts.create_user(OPERATOR, name, password, is_admin=(name == "root"))
    for project, public in (("pub", True), ("priv", False)):
        projects.create_project(OPERATOR, project, public=public, owner="alice")
        projects.add_member(OPERATOR, project, "bob", "developer")
        projects.add_member(OPERATOR, project, "carol", "guest")
        projects.add_member(OPERATOR, project, "dave", "maintainer")
    return app
