"""The selection of tests/run's third pass: the HTTP suite with the token endpoint's fast path off.

The fast path (authsvc/web/fast_token.py) answers the token endpoint's everyday requests in front
of Flask and must answer exactly as the Flask view would.  tests/http/test_token_fast_path.py
compares the two request by request; this pass proves the rest: the whole HTTP suite, which runs
with the fast path on in the SQLite and PostgreSQL passes, runs again with
``AUTHSVC_TEST_TOKEN_PATH=flask`` (tests/conftest.py turns ``token_fast_path`` off), so every
answer the suite checks is checked on both paths.
"""

from __future__ import annotations

import pytest

HTTP_PATHS = ("tests/http/",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept = [item for item in items if item.nodeid.startswith(HTTP_PATHS)]
    dropped = [item for item in items if not item.nodeid.startswith(HTTP_PATHS)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    return "Flask token path pass: tests/http with token_fast_path off (tests/flask_token_pass.py)"
