"""Session fixtures of the end-to-end suite: one real stack per pytest session.

Starting authsvc, the registry and dockerd takes seconds, so they live for
the whole session; tests stay independent by using names no other test uses
(``stack.unique``) and their own client state (a DOCKER_CONFIG, an authfile).

Everything lives under one short directory in /tmp (unix socket paths are
limited to ~108 bytes) and is removed at the end.  Ports are picked free at
start, so parallel runs on one machine do not collide.

Prerequisites: a missing binary, or a dockerd that cannot start, skips the
tests that need it with the reason -- unless CI=true, where it fails them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from .clients import Docker, Podman
from .processes import StartupFailed, require_binaries
from .stack import DockerDaemon, Stack


@pytest.fixture(scope="session")
def e2e_root() -> Iterator[Path]:
    """The session's scratch directory: authsvc data, registry storage, logs, daemon state."""
    root = Path(tempfile.mkdtemp(prefix="ae2e", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir(e2e_root: Path) -> Path:
    """AUTHSVC_DATA_DIR of every authsvc process: the SQLite file and the signing key."""
    return e2e_root / "authsvc-data"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """'' (SQLite in the data dir) unless TEST_DATABASE_URL names a PostgreSQL server, as in
    tests/run's second pass: then a fresh database on it for this session, dropped at the end."""
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
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def stack(e2e_root: Path, data_dir: Path, database_url: str) -> Iterator[Stack]:
    """``authsvc init``, then gunicorn serving authsvc and the registry trusting it, both ready."""
    binaries = require_binaries("authsvc", "gunicorn", "docker-registry", "skopeo")
    running = Stack(e2e_root, binaries, database_url=database_url)
    assert running.data_dir == data_dir
    failure = None
    try:
        running.start()
    except StartupFailed as exc:
        failure = str(exc)
    if failure is not None:  # outside the except: the message is the whole story, no chained traceback
        running.stop()
        pytest.fail(f"the stack under test did not start:\n{failure}", pytrace=False)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def authsvc_env(stack: Stack) -> dict[str, str]:
    """The environment of every authsvc process (AUTHSVC_DATA_DIR, AUTHSVC_REALM with the port
    gunicorn got, AUTHSVC_BCRYPT_ROUNDS=4, AUTHSVC_DATABASE_URL on the PostgreSQL pass), with every
    inherited AUTHSVC_* variable removed."""
    return stack.env


@pytest.fixture(scope="session")
def dockerd(e2e_root: Path) -> Iterator[DockerDaemon]:
    binaries = require_binaries("dockerd", "/usr/bin/docker", "ctr")
    daemon = DockerDaemon(e2e_root / "dk", binaries)
    (e2e_root / "dk").mkdir()
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
def docker(stack: Stack, dockerd: DockerDaemon, e2e_root: Path) -> Callable[[], Docker]:
    """A factory of docker CLIs, each with a fresh DOCKER_CONFIG: one per user in a test."""
    return lambda: Docker(stack, dockerd, e2e_root / "docker-config" / stack.unique("c"))


@pytest.fixture(scope="session")
def podman_root(e2e_root: Path) -> Path:
    require_binaries("podman")
    root = e2e_root / "podman"
    for sub in ("root", "run", "tmp", "auth"):
        (root / sub).mkdir(parents=True)
    return root


@pytest.fixture
def podman(stack: Stack, podman_root: Path) -> Callable[[], Podman]:
    """A factory of podman CLIs sharing storage, each with its own --authfile."""
    binary = require_binaries("podman")["podman"]
    return lambda: Podman(stack, binary, podman_root, podman_root / "auth" / f"{stack.unique('a')}.json")
