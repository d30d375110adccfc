"""The container deployment under test: images built by deploy/docker, the stack run by Debian's
docker-compose from deploy/compose, on a dockerd of our own.

The images are expensive (a debootstrap, pip downloads, and vfs storage, which copies every
layer in full), and ``tests/run`` runs the suite twice, so this dockerd keeps its data-root
under a persistent cache directory: the second pass, and the next CI run on the same machine,
find the images already tagged with the hash of their inputs and build nothing.  Everything
else (sockets, exec-root, the stack's volumes) is per session and removed at the end.

A lock file keeps two sessions from sharing the data-root at once; the second waits.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .processes import StartupFailed, describe, http_status, run
from .stack import REPO_ROOT, DockerDaemon

#: Persistent cache: debootstrap tarballs and this dockerd's data-root (images).  Not an
#: AUTHSVC_* variable: authsvc refuses unknown ones, and this one is the tests' own.
CACHE_DIR = Path(os.environ.get("DEPLOY_TEST_CACHE", "/var/cache/authsvc-ci"))
COMPOSE_DIR = REPO_ROOT / "deploy" / "compose"
DOCKER_DIR = REPO_ROOT / "deploy" / "docker"
#: The machine's CA bundle: pip inside the image build reaches PyPI through it (the build's
#: optional extra CA), as pip on this machine does.
MACHINE_CA = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_REPOS = ("authsvc-ci/authsvc", "authsvc-ci/registry")
BUILD_TIMEOUT = 1200
LOCK_TIMEOUT = 1200
STARTUP_TIMEOUT = 120


class CacheLock:
    """An exclusive flock on the cache directory, waited for with a deadline."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self, timeout: float = LOCK_TIMEOUT) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.fd = fd
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise TimeoutError(f"{self.path} stayed locked for {timeout:.0f}s by another test session")
                time.sleep(1)  # polling another session's lock, not waiting for readiness

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


class CachedDockerd(DockerDaemon):
    """The suite's private dockerd, with its data-root (the images) in the persistent cache."""

    def __init__(self, root: Path, binaries: dict[str, str]):
        super().__init__(root, binaries, data_root=CACHE_DIR / "docker", name="dockerd (deployment)")


def build_images(daemon: CachedDockerd, log: Path, timings: dict[str, float]) -> dict[str, str]:
    """The local Debian base, then the authsvc and registry images FROM it: {name: reference}.
    ``timings`` receives each script's duration.

    Each script prints the reference it made or found; nothing is rebuilt whose inputs are unchanged.
    Images of older input hashes are pruned, so the cache holds one generation.
    """
    env = daemon.env({"CACHE_DIR": str(CACHE_DIR), "DOCKER": daemon.bin["/usr/bin/docker"]})

    def script(*argv: str) -> str:
        started = time.monotonic()
        result = run([str(DOCKER_DIR / argv[0]), *argv[1:]], env=env, timeout=BUILD_TIMEOUT)
        with open(log, "a") as fh:
            fh.write(describe(result) + "\n")
        if result.returncode != 0:
            raise StartupFailed(f"image build failed:\n{describe(result)}", exited=True, log="")
        built = "built" if ("building" in result.stderr or "debootstrap" in result.stderr) else "found"
        timings[f"{' '.join(argv[:2]).removesuffix(' --base')} ({built})"] = time.monotonic() - started
        return result.stdout.strip().splitlines()[-1]

    base = script("build-base.sh")
    extra_ca = ["--extra-ca", str(MACHINE_CA)] if MACHINE_CA.is_file() else []
    authsvc = script("build.sh", "authsvc", "--base", base, "--repo", IMAGE_REPOS[0], "--prune", *extra_ca)
    registry = script("build.sh", "registry", "--base", base, "--repo", IMAGE_REPOS[1], "--prune")
    return {"base": base, "authsvc": authsvc, "registry": registry}


class ComposeStack:
    """One compose project from deploy/compose, on host networking, with ports of our choosing."""

    def __init__(self, daemon: CachedDockerd, binary: str, *, project: str, root: Path, variables: dict[str, str],
                 extra_files: tuple[Path, ...] = ()):
        self.daemon = daemon
        self.binary = binary
        self.project = project
        self.variables = variables
        # An empty --env-file: a developer's deploy/compose/.env must not change what is tested.
        self.env_file = root / "compose.env"
        self.env_file.write_text("")
        self.files = [COMPOSE_DIR / "compose.yaml", COMPOSE_DIR / "compose.host-network.yaml", *extra_files]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 300):
        argv = [self.binary, "--env-file", str(self.env_file), "-p", self.project]
        for path in self.files:
            argv += ["-f", str(path)]
        # The compose variables (AUTHSVC_IMAGE among them) are docker-compose's environment only;
        # compose.yaml passes real settings into the containers explicitly.
        env = self.daemon.env({"COMPOSE_INTERACTIVE_NO_CLI": "1", **self.variables})
        env.pop("COMPOSE_FILE", None)
        env.pop("COMPOSE_PROFILES", None)
        return run([*argv, *args], env=env, input=input, timeout=timeout)

    def logs(self) -> str:
        return self("logs", "--no-color", "--tail", "40", timeout=60).stdout

    def up(self, auth_url: str, registry_url: str) -> None:
        """``up -d`` without building, then poll authsvc /readyz (200) and the registry /v2/ (401)."""
        result = self("up", "-d", "--no-build")
        if result.returncode != 0:
            raise StartupFailed(f"docker-compose up failed:\n{describe(result)}\n--- logs ---\n{self.logs()}",
                                exited=True, log="")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        delay = 0.1
        while not (http_status(f"{auth_url}/readyz") == 200 and http_status(f"{registry_url}/v2/") == 401):
            if time.monotonic() > deadline:
                raise StartupFailed(f"the compose stack was not ready after {STARTUP_TIMEOUT}s "
                                    f"({auth_url}/readyz: {http_status(auth_url + '/readyz')}, "
                                    f"{registry_url}/v2/: {http_status(registry_url + '/v2/')})\n"
                                    f"--- ps ---\n{self('ps').stdout}\n--- logs ---\n{self.logs()}",
                                    exited=False, log="")
            time.sleep(delay)  # polling interval, not a wait for readiness
            delay = min(delay * 2, 1.0)

    def container(self, service: str) -> str:
        """The id of the service's first container."""
        ids = self("ps", "-q", service, timeout=60).stdout.split()
        assert ids, f"no running container of {service}:\n{self('ps').stdout}"
        return ids[0]

    def exec(self, service: str, *argv: str, input: str | None = None):
        """Run a command in the service's container, as `docker-compose exec` does for an operator.

        Through `docker exec -i`: compose 1.29's `exec -T` does not close the command's stdin, so a
        command reading it (``--password-stdin``) never finishes.
        """
        return self.daemon.docker("exec", "-i", self.container(service), *argv, input=input, timeout=120)

    def authsvc(self, *args: str, input: str | None = None):
        """The authsvc CLI inside the running authsvc container."""
        return self.exec("authsvc", "authsvc", *args, input=input)
