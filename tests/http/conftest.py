"""Fixtures for the REST API suites (tests/http/test_api*.py), added next to tests/conftest.py's.

``served_app`` differs from ``app`` + ``seeded`` in one way that matters to a fuzzer: no app
context stays pushed around the requests, so every request gets its own app context, ``g`` and
database session, exactly as under gunicorn.
"""

from __future__ import annotations

import base64

import pytest

from authsvc.store.models import db
from tests.conftest import PASSWORDS, make_app, seed


def basic_header(user: str, password: str | None = None) -> dict[str, str]:
    password = PASSWORDS[user] if password is None else password
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def served_app(tmp_path):
    """A seeded app with no app context left pushed: each request runs as it would in production."""
    application = make_app(tmp_path)
    with application.app_context():
        seed()
        db.session.remove()
    yield application
    with application.app_context():
        db.engine.dispose()


def bearer_header(client, user: str, password: str | None = None, service: str = "authsvc-api") -> dict[str, str]:
    """An ``Authorization: Bearer`` header with a token from /token for ``service``."""
    response = client.get("/token", query_string={"service": service}, headers=basic_header(user, password))
    assert response.status_code == 200, response.get_json()
    return {"Authorization": "Bearer " + response.get_json()["token"]}
