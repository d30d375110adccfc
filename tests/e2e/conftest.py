"""Session fixtures of the end-to-end suite: one real stack per registry generation per session.

Starting authsvc, the registry and dockerd takes seconds, so they live for
the whole session; tests stay independent by using names no other test uses
(``stack.unique``) and their own client state (a DOCKER_CONFIG, an authfile).

Registry generations: ``registry_generation`` is a session-scoped parameter.  Modules marked
``both_registries`` run every test against Debian's docker-registry 2.8.2 *and* distribution
3.1.1 (ids ``[registry2]``/``[registry3]``); every other test that uses a registry gets 2.8.2
only.  Being session-scoped, the parameter makes pytest group the tests by generation, so
one stack (authsvc + registry, with a database of its own) runs per generation, one after the
other; dockerd and podman's storage are shared by both.

Everything lives under one short directory in /tmp (unix socket paths are
limited to ~108 bytes) and is removed at the end.  Ports are picked free at
start, so parallel runs on one machine do not collide.

Prerequisites: a missing binary, or a dockerd that cannot start, skips the
tests that need it with the reason -- unless CI=true, where it fails them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .clients import Docker, Podman
from .processes import StartupFailed, require_binaries
from .registries import REGISTRY2, REGISTRY3, Generation
from .stack import DockerDaemon, Stack


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``registry_generation`` (wherever a test needs it, e.g. through ``stack``):
    both generations under the ``both_registries`` marker, 2.8.2 alone otherwise.  registry2 is
    always first, so its parameter key is the same everywhere and its tests share one stack."""
    if "registry_generation" not in metafunc.fixturenames:
        return
    both = metafunc.definition.get_closest_marker("both_registries") is not None
    generations = [REGISTRY2, REGISTRY3] if both else [REGISTRY2]
    metafunc.parametrize("registry_generation", generations, ids=[g.id for g in generations],
                         indirect=True, scope="session")


@pytest.fixture(scope="session")
def e2e_root() -> Iterator[Path]:
    """The session's scratch directory: authsvc data, registry storage, logs, daemon state."""
    root = Path(tempfile.mkdtemp(prefix="ae2e", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def session_database() -> Iterator[str]:
    """'' (SQLite in the data dir) unless TEST_DATABASE_URL names a PostgreSQL server, as in
    tests/run's second pass: then a fresh database on it, dropped at the end."""
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server:
        yield ""
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"authsvc_e2e_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database for a deployment of the test's own (compose): see :func:`session_database`."""
    with session_database() as url:
        yield url


@pytest.fixture(scope="session")
def registry_generation(request: pytest.FixtureRequest) -> Generation:
    """The registry generation of this test (``pytest_generate_tests`` above chooses)."""
    return getattr(request, "param", REGISTRY2)


@pytest.fixture(scope="session")
def stack(e2e_root: Path, registry_generation: Generation) -> Iterator[Stack]:
    """``authsvc init``, then gunicorn serving authsvc and the registry of this generation trusting
    it, both ready; its own directory and (on the PostgreSQL pass) its own database."""
    binaries = {**require_binaries("authsvc", "gunicorn", "skopeo"), "registry": registry_generation.binary()}
    # A directory of its own each time: a worker that alternates generations (an end-to-end module
    # runs whole on one pytest-xdist worker, tests/parallel.py) starts a generation's stack again.
    root = Path(tempfile.mkdtemp(prefix=f"{registry_generation.id}-", dir=e2e_root))
    with session_database() as url:
        running = Stack(root, binaries, database_url=url, generation=registry_generation)
        failure = None
        try:
            running.start()
        except StartupFailed as exc:
            failure = str(exc)
        if failure is not None:  # outside the except: the message is the whole story, no chained traceback
            running.stop()
            pytest.fail(f"the stack under test ({registry_generation.id}) did not start:\n{failure}",
                        pytrace=False)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright (console/browser.py), once per session and worker: the
    console's browser tests and the OIDC sign-ins (test_oidc.py) each open contexts of their own
    on it.  Imported here, not at the top, so that tests without a browser never load Playwright."""
    from playwright.sync_api import sync_playwright

    from .console.browser import launch

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def dockerd(e2e_root: Path) -> Iterator[DockerDaemon]:
    binaries = require_binaries("dockerd", "/usr/bin/docker", "ctr")
    daemon = DockerDaemon(e2e_root / "dk", binaries)
    (e2e_root / "dk").mkdir()
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
def docker(stack: Stack, dockerd: DockerDaemon) -> Callable[[], Docker]:
    """A factory of docker CLIs, each with a fresh DOCKER_CONFIG: one per user in a test, kept
    under the stack's own directory with the rest of that generation's state."""
    return lambda: Docker(stack, dockerd, stack.root / "docker-config" / stack.unique("c"))


@pytest.fixture(scope="session")
def podman_root(e2e_root: Path) -> Path:
    require_binaries("podman")
    root = e2e_root / "podman"
    for sub in ("root", "run", "tmp"):
        (root / sub).mkdir(parents=True)
    return root


@pytest.fixture
def podman(stack: Stack, podman_root: Path) -> Callable[[], Podman]:
    """A factory of podman CLIs sharing storage, each with its own --authfile."""
    binary = require_binaries("podman")["podman"]
    auth = stack.root / "podman-auth"  # per stack, as for docker's configs above
    auth.mkdir(exist_ok=True)
    return lambda: Podman(stack, binary, podman_root, auth / f"{stack.unique('a')}.json")
