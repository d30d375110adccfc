"""docs/operations.md, "Install with containers", run as written: the image's blocks and the compose block.

In a copy of the checkout (what a clean clone holds), on a dockerd without iptables (no bridge
network) and offline, as the issue that asked for this met them:

* the ``docker build`` line with the site CA (the machine's, as pip here needs it) and the
  offline base the docs name (``--build-arg BASE_IMAGE=$(deploy/docker/build-base.sh)``), then
  the ``docker run --network host`` line for a daemon without iptables, and /healthz answering;
* the compose block, pasted line by line into a terminal: ``cp .env.example .env``,
  ``docker-compose up -d --build`` -- the build path, not ``--no-build`` -- then ``user create``
  answering its password prompts and ``docker login``.  What an operator puts into ``.env`` is
  given in the environment (which overrides it): compose.host-network.yaml, free ports, the
  local images.

Time: build.sh, ``docker build .`` and compose 1.29 (which builds through the docker CLI) all
hand the same files to the same CLI, so the daemon keys their layers alike (deploy/docker/build.sh
says why that takes care): after tests/e2e/deployment.py's ``build_images`` every layer of both
documented builds is cached, and each test asserts it, since a silent rebuild would cost minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.docs import replace_once, shell_blocks

from .deployment import CACHE_DIR, MACHINE_CA, CachedDockerd, CacheLock, build_images
from .processes import StartupFailed, describe, free_port, http_status, require_binaries, run
from .stack import REPO_ROOT
from .terminal import run_on_terminal

pytestmark = pytest.mark.e2e

OPERATIONS = REPO_ROOT / "docs" / "operations.md"
SECTION = "## Install with containers (image and compose)"
ADMIN_PASSWORD = "docs-Admin-Secret-1"
#: The tag compose gives the image it builds (AUTHSVC_IMAGE); the docs' default is authsvc:latest,
#: which the `docker build -t authsvc` line of this module makes.
COMPOSE_IMAGE = "authsvc-ci/docs-compose:latest"
READY_TIMEOUT = 120


def copy_checkout(target: Path) -> None:
    """Tracked and untracked-but-not-ignored files (a clean clone's view, as build.sh takes it),
    modes of files and directories kept: the daemon's cache keys include them."""
    listed = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, text=True, check=True, timeout=60).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if not source.is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)
    for directory in sorted((p for p in target.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        shutil.copystat(REPO_ROOT / directory.relative_to(target), directory)


def wait_for(url: str, status: int, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while (got := http_status(url)) != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {url} answered {got}, not {status}, within {READY_TIMEOUT}s")
        time.sleep(0.5)  # polling interval, not a wait for readiness


class Documented:
    def __init__(self, root: Path, daemon: CachedDockerd, checkout: Path, images: dict[str, str],
                 env: dict[str, str]):
        self.root = root
        self.daemon = daemon
        self.checkout = checkout
        self.images = images
        self.env = env
        self.timings: dict[str, float] = {}
        self.cleanup: list[list[str]] = []

    def shell(self, script: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return run(["bash", "-euo", "pipefail", "-c", script], env=self.env, cwd=self.checkout, timeout=timeout)


@pytest.fixture(scope="module")
def documented() -> Iterator[Documented]:
    binaries = require_binaries("dockerd", "/usr/bin/docker", "docker-compose", "debootstrap", "git")
    root = Path(tempfile.mkdtemp(prefix="acd", dir="/tmp"))  # short: dockerd's sockets live here
    lock = CacheLock(CACHE_DIR / "lock")
    daemon = CachedDockerd(root, binaries)
    state: Documented | None = None
    try:
        failure = None
        try:
            lock.acquire()
            started = time.monotonic()
            daemon.start()
            timings: dict[str, float] = {"dockerd": time.monotonic() - started}
            images = build_images(daemon, root / "build.log", timings)
            checkout = root / "checkout"
            copy_checkout(checkout)
            bin_dir = root / "bin"  # Debian's docker client first, as the suite uses everywhere
            bin_dir.mkdir()
            (bin_dir / "docker").symlink_to(binaries["/usr/bin/docker"])
            env = daemon.env({
                "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
                "DOCKER_CONFIG": str(root / "docker-config"), "CACHE_DIR": str(CACHE_DIR),
                "DOCKER": binaries["/usr/bin/docker"], "TERM": "dumb"})
            state = Documented(root, daemon, checkout, images, env)
            state.timings.update(timings)
        except (StartupFailed, TimeoutError) as exc:
            failure = str(exc)
        if failure is not None:  # outside the except: the message is the whole story
            pytest.fail(f"the container docs' machine did not come up:\n{failure}", pytrace=False)
        yield state
        print("\ncontainer docs timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in state.timings.items()))
    finally:
        try:
            if daemon.service is not None and state is not None:
                for argv in reversed(state.cleanup):
                    run(argv, env=state.env, cwd=state.checkout, timeout=300)
        finally:
            daemon.stop()
            lock.release()
            shutil.rmtree(root, ignore_errors=True)


def test_the_image_blocks_build_and_run_on_a_daemon_without_iptables(documented: Documented) -> None:
    blocks = shell_blocks(OPERATIONS, SECTION)
    build_line = next(line for block in blocks for line in block.splitlines()
                      if line.startswith("cp /path/to/site-ca.pem deploy/docker/extra-ca.crt && docker build"))
    assert "--network host" in build_line, build_line
    build = replace_once(build_line, "/path/to/site-ca.pem", str(MACHINE_CA))
    # Offline: the base the docs name for machines without an internet registry.
    build = replace_once(build, "-t authsvc .", '-t authsvc --build-arg "BASE_IMAGE=$(deploy/docker/build-base.sh)" .')
    started = time.monotonic()
    result = documented.shell(build)
    documented.timings["docker build (docs)"] = time.monotonic() - started
    assert result.returncode == 0, describe(result)
    assert_built_from_cache(documented, "authsvc:latest")

    host_network = next(b for b in blocks if "docker run -d --network host" in b)
    port, volume = free_port(), f"docs-{uuid.uuid4().hex[:8]}"
    run_line = host_network.replace("127.0.0.1:5001", f"127.0.0.1:{port}").replace("authsvc-data:", f"{volume}:")
    documented.cleanup.append(["docker", "volume", "rm", volume])  # cleanups run last first: after the container
    assert run_line.count(f"127.0.0.1:{port}") == 2, run_line
    started = time.monotonic()
    result = documented.shell(run_line)
    assert result.returncode == 0, describe(result)
    container = result.stdout.strip().splitlines()[-1]
    documented.cleanup.append(["docker", "rm", "-f", "-v", container])
    wait_for(f"http://127.0.0.1:{port}/healthz", 200, "the documented docker run")
    wait_for(f"http://127.0.0.1:{port}/readyz", 200, "the documented docker run")
    documented.timings["docker run (docs) ready"] = time.monotonic() - started
    user = documented.daemon.docker("exec", container, "id", "-u")
    assert user.stdout.strip() == "10001", describe(user)


def test_the_compose_block_builds_and_serves_on_a_daemon_without_iptables(documented: Documented) -> None:
    (block,) = [b for b in shell_blocks(OPERATIONS, SECTION) if "docker-compose up -d --build" in b]
    auth_port, registry_port = free_port(), free_port()
    script = replace_once(block, "docker login 127.0.0.1:5000", f"docker login 127.0.0.1:{registry_port}")
    project = f"acd{uuid.uuid4().hex[:8]}"
    # What the operator writes into .env for this machine; the environment overrides .env.
    env = {**documented.env,
           "COMPOSE_FILE": "compose.yaml:compose.host-network.yaml", "COMPOSE_PROJECT_NAME": project,
           "AUTHSVC_IMAGE": COMPOSE_IMAGE, "AUTHSVC_BASE_IMAGE": documented.images["base"],
           "REGISTRY_IMAGE": documented.images["registry"],
           "AUTH_PORT": str(auth_port), "REGISTRY_PORT": str(registry_port), "PUBLISH_ADDRESS": "127.0.0.1",
           "AUTH_REALM": f"http://127.0.0.1:{auth_port}/token", "REGISTRY_HOST": f"127.0.0.1:{registry_port}",
           # The inventory on, as the docs' .env offers: without it doctor rightly warns that the
           # registry feeds no inventory (registry-config-notifications).
           "NOTIFICATION_SECRET": "compose-docs-" + uuid.uuid4().hex}
    shutil.copyfile(MACHINE_CA, documented.checkout / "deploy" / "docker" / "extra-ca.crt")
    os.chmod(documented.checkout / "deploy" / "docker" / "extra-ca.crt", 0o644)
    compose_dir = documented.checkout / "deploy" / "compose"
    documented.cleanup.append(["sh", "-c", f"cd {compose_dir} && COMPOSE_PROJECT_NAME={project} "
                               "COMPOSE_FILE=compose.yaml:compose.host-network.yaml docker-compose down -v"])
    started = time.monotonic()
    result = run_on_terminal(["bash", "-euo", "pipefail", "-c", script], answer=ADMIN_PASSWORD, env=env,
                             cwd=documented.checkout, timeout=900)
    documented.timings["compose block"] = time.monotonic() - started
    assert result.returncode == 0, describe(result)
    assert (compose_dir / ".env").read_text() == (compose_dir / ".env.example").read_text()
    assert "Login Succeeded" in result.stdout, describe(result)
    assert "Step 1/" in result.stdout, "docker-compose did not build:\n" + result.stdout
    assert http_status(f"http://127.0.0.1:{auth_port}/readyz") == 200
    assert http_status(f"http://127.0.0.1:{registry_port}/v2/") == 401
    assert_built_from_cache(documented, COMPOSE_IMAGE)

    # Doctor is clean in this layout too: the key 0600 in authsvc-data, the bundle and the
    # registry's config in authsvc-public, the registry (host network: loopback) trusting our key.
    container = documented.daemon.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                                         "--filter", "label=com.docker.compose.service=authsvc").stdout.split()[0]
    doctor = documented.daemon.docker("exec", container, "authsvc", "doctor", "--json", "--registry",
                                      f"http://127.0.0.1:{registry_port}", "--registry-config",
                                      "/srv/authsvc-public/registry.yml")
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 0 and report["counts"]["warn"] == report["counts"]["fail"] == 0, doctor.stdout


def assert_built_from_cache(documented: Documented, image: str) -> None:
    """``image`` is the one build.sh made from the same inputs, but for build.sh's label (its last
    layer): every step was a cache hit, nothing was rebuilt."""
    image_id = documented.daemon.docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    history = documented.daemon.docker("history", "-q", "--no-trunc", documented.images["authsvc"]).stdout.split()
    assert image_id and image_id in history, (
        f"{image} ({image_id}) is not a layer of {documented.images['authsvc']}: it was built anew, so "
        "deploy/docker/build.sh's context no longer reaches the daemon as the documented builds' do")

