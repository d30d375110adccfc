"""Fixtures for the REST API suites (tests/http/test_api*.py), added next to tests/conftest.py's.

``served_app`` differs from ``app`` + ``seeded`` in one way that matters to a fuzzer: no app
context stays pushed around the requests, so every request gets its own app context, ``g`` and
database session, exactly as under gunicorn.

The helpers these suites call (headers, the ``Api`` client, the OpenAPI check) are in
``tests/support``.
"""

from __future__ import annotations

import contextlib

import pytest

from authsvc.store.models import db
from tests.conftest import make_app, seed
from tests.support.api import Api


@contextlib.contextmanager
def served(tmp_path, **settings):
    """A seeded app (with ``settings``) and no app context left pushed: each request runs as it
    would in production, with its own app context, ``g`` and session."""
    application = make_app(tmp_path, **settings)
    with application.app_context():
        seed()
        db.session.remove()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def served_app(tmp_path):
    with served(tmp_path) as application:
        yield application


@pytest.fixture
def api(app, client, seeded):
    """The seeded app, spoken to one caller at a time, every response checked against openapi.json."""
    return Api(app, client)
