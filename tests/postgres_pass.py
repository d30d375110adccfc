"""The selection of tests/run's PostgreSQL pass: only the tests whose outcome can depend on the database.

tests/run loads this plugin (``-p tests.postgres_pass``) for its second pass, where
``TEST_DATABASE_URL`` points every test's database at a throw-away PostgreSQL cluster.  Running
the whole suite twice would double the end-to-end time to learn nothing new: a docker push is
the same docker push whichever database authsvc keeps its users in, once the in-process suites
have shown that every query, transaction and answer is the same on PostgreSQL.

The rule -- a test is repeated on PostgreSQL when what it proves goes through SQL:

* everything in-process over the app and its database: ``tests/http`` (every endpoint, the
  token path's queries, the inventory, throttling), ``tests/services`` (the service layer on a
  plain session) and ``tests/cli`` (every command, backup and
  restore, concurrent migrations), and ``tests/unit/test_migrations.py`` (the schema itself);
* end-to-end tests marked ``database``: a write by one process seen by another at once (the CLI
  and gunicorn's workers: ``test_changes.py``, a robot disabled, a personal token revoked),
  many writers and readers at once (``test_concurrency.py``), acknowledged writes surviving
  ``kill -9`` (``test_faults.py``'s kill tests), and replicas sharing one database
  (``test_compose.py``'s stack, which runs two authsvc replicas on PostgreSQL).

Within those paths, a module whose every answer is decided before any query is not repeated
(``NO_QUERY_MODULES``): the API's own documents and error shapes (``test_api_documents.py``:
openapi.json as kept, 400/405/413 from the request alone), the cross-site gate
(``test_api_cross_site.py``: a 415 before the credentials are even read) and the request log
line (``test_request_log.py``: its format and redaction).  On PostgreSQL they would prove the
same thing a second time.

Everything else -- pure unit tests, the registries' token checks, the client scenarios, key
rotation, doctor, metrics, the systemd install, the benchmark smoke test, the fault tests that
bring their own PostgreSQL cluster -- runs once, in the SQLite pass.  The registry generation
does not touch the database, so a ``database`` test parametrized over both registries repeats
with registry 2.8.2 only.
"""

from __future__ import annotations

import pytest

#: Node-id prefixes (relative to the repository) that are repeated whole.
DATABASE_PATHS = ("tests/http/", "tests/cli/", "tests/services/", "tests/unit/test_migrations.py")
#: Modules under those paths whose answers depend on no query (see above): run once, on SQLite.
NO_QUERY_MODULES = ("tests/http/test_api_documents.py", "tests/http/test_api_cross_site.py",
                    "tests/http/test_request_log.py")
#: The registry generation the repeated end-to-end tests use.
REPEATED_GENERATION = "registry2"


def repeated_on_postgresql(item: pytest.Item) -> bool:
    if not (item.nodeid.startswith(DATABASE_PATHS) or item.get_closest_marker("database")):
        return False
    if item.nodeid.startswith(NO_QUERY_MODULES):
        return False
    callspec = getattr(item, "callspec", None)
    generation = callspec.params.get("registry_generation") if callspec else None
    return generation is None or getattr(generation, "id", None) == REPEATED_GENERATION


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept = [item for item in items if repeated_on_postgresql(item)]
    dropped = [item for item in items if not repeated_on_postgresql(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    return ("PostgreSQL pass: only database-dependent tests (tests/postgres_pass.py): "
            + ", ".join(DATABASE_PATHS) + ", and e2e tests marked 'database'")
