"""The container deployment, for real: deploy/docker's images, deploy/compose's stack.

Built FROM a debootstrap base (no internet registry here), run by Debian's docker-compose on
host networking (dockerd without iptables), and used with the docker CLI exactly as the docs
say: the authsvc CLI inside the container for the admin, then ``docker login / push / pull``.
On the PostgreSQL pass of tests/run the stack uses that server (through its Unix socket,
mounted into the containers) with two authsvc replicas (compose.replicas.yaml).

Slow parts are cached (see deployment.py); the durations of the build and of the start are
printed at the end of the module (``-rA`` or ``-s`` shows them).
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from .deployment import CACHE_DIR, CachedDockerd, CacheLock, ComposeStack, build_images
from .processes import StartupFailed, denied, free_port, ok, require_binaries

ADMIN_PASSWORD = "compose-Admin-Secret-1"


class Deployed:
    """The running compose stack, its dockerd, and helpers that act as a user of it."""

    def __init__(self, root: Path, daemon: CachedDockerd, compose: ComposeStack, auth_port: int,
                 registry_port: int, images: dict[str, str], replicas: int):
        self.root = root
        self.daemon = daemon
        self.compose = compose
        self.auth_url = f"http://127.0.0.1:{auth_port}"
        self.registry_url = f"http://127.0.0.1:{registry_port}"
        self.host = f"127.0.0.1:{registry_port}"
        self.images = images
        self.replicas = replicas
        self.timings: dict[str, float] = {}
        self._n = 0

    def unique(self, base: str) -> str:
        self._n += 1
        return f"{base}{self._n}"

    def up(self) -> None:
        self.compose.up(self.auth_url, self.registry_url)

    def docker(self, config: str):
        """A docker CLI with its own DOCKER_CONFIG (the login state) named ``config``."""
        config_dir = self.root / "docker-config" / config
        config_dir.mkdir(parents=True, exist_ok=True)
        return lambda *args, input=None: self.daemon.docker(*args, env={"DOCKER_CONFIG": str(config_dir)},
                                                             input=input)

    def user(self, base: str) -> tuple[str, str]:
        name, password = self.unique(base), f"{base}-Secret-{uuid.uuid4().hex[:8]}"
        ok(self.compose.authsvc("user", "create", name, "--password-stdin", input=password + "\n"))
        return name, password

    def local_image(self, marker: str) -> str:
        """A one-file image made with ``docker import``: no base image or registry needed."""
        content = f"compose e2e {marker}\n".encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("marker.txt")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        tarball = self.root / f"{marker}.tar"
        tarball.write_bytes(buffer.getvalue())
        ref = f"compose-e2e/{marker}:v1"
        ok(self.daemon.docker("import", str(tarball), ref))
        return ref


def _postgres_override(root: Path, database_url: str) -> tuple[Path, ...]:
    """On the PostgreSQL pass: the session's database over its Unix socket, two replicas."""
    if not database_url:
        return ()
    socket_dir = parse_qs(urlsplit(database_url).query).get("host", [""])[0]
    assert socket_dir.startswith("/"), f"expected a Unix-socket PostgreSQL URL, got {database_url!r}"
    mount = [f"{socket_dir}:{socket_dir}"]
    override = root / "compose.test-postgres.yaml"
    override.write_text(json.dumps({"services": {  # JSON is YAML
        "authsvc-init": {"volumes": mount}, "authsvc": {"volumes": mount}}}))
    return (Path(__file__).resolve().parents[2] / "deploy" / "compose" / "compose.replicas.yaml", override)


@pytest.fixture(scope="module")
def deployed(database_url: str) -> Iterator[Deployed]:
    binaries = require_binaries("dockerd", "/usr/bin/docker", "docker-compose", "debootstrap")
    root = Path(tempfile.mkdtemp(prefix="acmp", dir="/tmp"))  # short: dockerd's sockets live here
    lock = CacheLock(CACHE_DIR / "lock")
    daemon = CachedDockerd(root, binaries)
    compose: ComposeStack | None = None
    try:
        running, failure = None, None
        try:
            lock.acquire()
            running = _start(root, daemon, binaries, database_url)
            compose = running.compose
        except (StartupFailed, TimeoutError) as exc:
            failure = str(exc)
        if failure is not None:  # outside the except: the message is the whole story
            pytest.fail(f"the compose deployment did not come up:\n{failure}", pytrace=False)
        tests_started = time.monotonic()
        yield running
        running.timings["tests"] = time.monotonic() - tests_started
        print("\ncompose deployment timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in running.timings.items()))
    finally:
        try:
            if compose is not None:
                compose("down", "-v", "--remove-orphans")
            if daemon.service is not None:  # the images the tests imported and pushed, not the cached ones
                for ref in set(daemon.docker("image", "ls", "-q", "compose-e2e/*").stdout.split()):
                    daemon.docker("image", "rm", "-f", ref)
        finally:
            daemon.stop()
            lock.release()
            shutil.rmtree(root, ignore_errors=True)


def _start(root: Path, daemon: CachedDockerd, binaries: dict[str, str], database_url: str) -> Deployed:
    """dockerd, the images (cached), the stack on free ports, and the system administrator."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    daemon.start()
    timings["dockerd"] = time.monotonic() - started
    images = build_images(daemon, root / "build.log", timings)
    built = time.monotonic()
    auth_port, registry_port = free_port(), free_port()
    variables = {
        "AUTHSVC_IMAGE": images["authsvc"], "REGISTRY_IMAGE": images["registry"],
        "AUTH_PORT": str(auth_port), "REGISTRY_PORT": str(registry_port), "PUBLISH_ADDRESS": "127.0.0.1",
        "AUTH_REALM": f"http://127.0.0.1:{auth_port}/token", "REGISTRY_HOST": f"127.0.0.1:{registry_port}",
        "NOTIFICATION_SECRET": uuid.uuid4().hex,
    }
    if database_url:
        variables["DATABASE_URL"] = database_url
    compose = ComposeStack(daemon, binaries["docker-compose"], project=f"acmp{uuid.uuid4().hex[:8]}", root=root,
                           variables=variables, extra_files=_postgres_override(root, database_url))
    running = Deployed(root, daemon, compose, auth_port, registry_port, images, 2 if database_url else 1)
    running.up()
    timings["compose up"] = time.monotonic() - built
    running.timings = timings
    ok(compose.authsvc("user", "create", "admin", "--admin", "--password-stdin", input=ADMIN_PASSWORD + "\n"))
    return running


@pytest.mark.database  # two replicas on one PostgreSQL database
def test_admin_creates_project_and_users_push_and_pull(deployed: Deployed) -> None:
    project = deployed.unique("team")
    ok(deployed.compose.authsvc("project", "create", project))
    dev, dev_password = deployed.user("dev")
    ok(deployed.compose.authsvc("member", "add", project, dev, "--role", "developer"))

    docker = deployed.docker(deployed.unique("dev"))
    denied(docker("login", deployed.host, "-u", dev, "--password-stdin", input="wrong-password\n"),
           "a wrong password must not log in")
    ok(docker("login", deployed.host, "-u", dev, "--password-stdin", input=dev_password + "\n"))

    local = deployed.local_image(deployed.unique("img"))
    remote = f"{deployed.host}/{project}/app:v1"
    ok(docker("tag", local, remote))
    ok(docker("push", remote))
    ok(docker("image", "rm", remote, local))
    ok(docker("pull", remote))
    ok(docker("image", "rm", remote))

    # An outsider cannot even pull from the private project.
    outsider, outsider_password = deployed.user("out")
    other = deployed.docker(deployed.unique("out"))
    ok(other("login", deployed.host, "-u", outsider, "--password-stdin", input=outsider_password + "\n"))
    denied(other("pull", remote), "a non-member pulled from a private project")

    # The registry's notifications reach authsvc across the containers: the inventory gets the push
    # (delivered asynchronously, so polled for).
    deadline = time.monotonic() + 30
    while True:
        repos = json.loads(ok(deployed.compose.authsvc("repo", "list", project, "--json")).stdout)
        if repos or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # polling interval, not a wait for readiness
    assert [r["name"] for r in repos] == [f"{project}/app"], repos


def test_runs_as_non_root_and_the_key_is_private(deployed: Deployed) -> None:
    assert ok(deployed.compose.exec("authsvc", "id", "-u")).stdout.strip() == "10001"
    assert ok(deployed.compose.exec("registry", "id", "-u")).stdout.strip() != "0"
    modes = ok(deployed.compose.exec("authsvc", "stat", "-c", "%a %U %n", "/var/lib/authsvc",
                                "/var/lib/authsvc/signing.key")).stdout.split("\n")
    assert modes[0] == "700 authsvc /var/lib/authsvc", modes
    assert modes[1] == "600 authsvc /var/lib/authsvc/signing.key", modes
    # The registry sees the certificates and its config, never the private key.
    listing = ok(deployed.compose.exec("registry", "ls", "/srv/authsvc-public")).stdout.split()
    assert "registry.yml" in listing and "signing.crt" in listing and "signing.key" not in listing, listing
    assert deployed.compose.exec("registry", "ls", "/var/lib/authsvc").returncode != 0
    # The image's own HEALTHCHECK command, run as docker runs it, passes against the live service.
    container = deployed.compose.container("authsvc")
    check = json.loads(ok(deployed.daemon.docker("inspect", "--format", "{{json .Config.Healthcheck.Test}}",
                                                 container)).stdout)
    assert check[0] == "CMD", check
    ok(deployed.daemon.docker("exec", container, *check[1:]), "the image's HEALTHCHECK failed")


@pytest.mark.database  # two replicas on one PostgreSQL database
def test_replicas_share_the_database(deployed: Deployed) -> None:
    containers = ok(deployed.compose("ps", "-q", "authsvc")).stdout.split()
    assert len(containers) == deployed.replicas, containers


@pytest.mark.database  # two replicas on one PostgreSQL database
def test_data_survives_down_and_up(deployed: Deployed) -> None:
    project = deployed.unique("keep")
    ok(deployed.compose.authsvc("project", "create", project))
    user, password = deployed.user("keeper")
    ok(deployed.compose.authsvc("member", "add", project, user, "--role", "maintainer"))
    key_before = ok(deployed.compose.authsvc("keys", "show", "--json")).stdout
    docker = deployed.docker(deployed.unique("keeper"))
    ok(docker("login", deployed.host, "-u", user, "--password-stdin", input=password + "\n"))
    local = deployed.local_image(deployed.unique("kept"))
    remote = f"{deployed.host}/{project}/kept:v1"
    ok(docker("tag", local, remote))
    ok(docker("push", remote))
    ok(docker("image", "rm", remote, local))

    ok(deployed.compose("down"))  # no -v: the volumes stay
    deployed.up()

    assert json.loads(ok(deployed.compose.authsvc("keys", "show", "--json")).stdout)["kid"] == \
        json.loads(key_before)["kid"], "the signing key changed across down/up"
    again = deployed.docker(deployed.unique("keeper"))
    ok(again("login", deployed.host, "-u", user, "--password-stdin", input=password + "\n"),
       "the user must survive down/up")
    ok(again("pull", remote), "the image must survive down/up")
    ok(again("image", "rm", remote))


def test_registry_3_variant_config(deployed: Deployed) -> None:
    """REGISTRY_VERSION=3 (with REGISTRY_IMAGE=registry:3, which this machine cannot pull): the
    init step publishes the JWKS beside the trust bundle, where the registry's mount can read it."""
    config = "/srv/authsvc-public/registry-v3-test.yml"
    ok(deployed.compose("run", "--rm", "-T", "-e", "REGISTRY_VERSION=3", "-e", f"REGISTRY_CONFIG={config}",
                        "authsvc-init"))
    text = ok(deployed.compose.exec("registry", "cat", config)).stdout
    assert 'jwks: "/srv/authsvc-public/jwks.json"' in text, text
    assert 'rootcertbundle: "/srv/authsvc-public/' in text, text
    jwks = json.loads(ok(deployed.compose.exec("registry", "cat", "/srv/authsvc-public/jwks.json")).stdout)
    kid = json.loads(ok(deployed.compose.authsvc("keys", "show", "--json")).stdout)["kid"]
    assert kid in [key.get("kid") for key in jwks["keys"]], (kid, jwks)


def test_key_rotation_reaches_the_registry(deployed: Deployed) -> None:
    """The trust bundle authsvc maintains is the one the registry reads: a rotation in the authsvc
    container, a registry restart, and the registry accepts tokens signed by the new key."""
    def bundle_certificates() -> int:
        return ok(deployed.compose.exec("registry", "cat", "/srv/authsvc-public/trust-bundle.pem")).stdout.count(
            "BEGIN CERTIFICATE")

    before = json.loads(ok(deployed.compose.authsvc("keys", "show", "--json")).stdout)["kid"]
    assert bundle_certificates() == 1
    ok(deployed.compose.authsvc("keys", "rotate"))
    assert bundle_certificates() == 2, "the registry does not see the next key's certificate"
    ok(deployed.compose("restart", "registry"))
    deployed.up()  # both services ready again
    ok(deployed.compose.authsvc("keys", "activate", "--registry", deployed.registry_url))
    assert json.loads(ok(deployed.compose.authsvc("keys", "show", "--json")).stdout)["kid"] != before

    project = deployed.unique("rot")
    ok(deployed.compose.authsvc("project", "create", project))
    user, password = deployed.user("rot")
    ok(deployed.compose.authsvc("member", "add", project, user, "--role", "developer"))
    docker = deployed.docker(deployed.unique("rot"))
    ok(docker("login", deployed.host, "-u", user, "--password-stdin", input=password + "\n"))
    local = deployed.local_image(deployed.unique("rotimg"))
    remote = f"{deployed.host}/{project}/after-rotation:v1"
    ok(docker("tag", local, remote))
    ok(docker("push", remote), "a push with the new key after the rotation")
