"""deploy/local/up.sh as a new user runs it, on free ports and in a directory of the test's own.

The README's first command is ``deploy/local/up.sh``; the tests that hold it (and the walkthrough
after it) to what the README says run the script itself, not an imitation.  Everything the user's
machine would share is the test's own instead: STACK_DIR, the ports, XDG_CONFIG_HOME (where up.sh
links the settings for the CLI, and where the CLI finds them), the docker daemon (the session's,
through DOCKER_HOST), DOCKER_CONFIG, podman's storage and the registry auth file.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .processes import describe, require_binaries, restartable_port, run
from .stack import REPO_ROOT, DockerDaemon, clean_environ

UP = REPO_ROOT / "deploy" / "local" / "up.sh"
DOWN = REPO_ROOT / "deploy" / "local" / "down.sh"
#: up.sh's own bound per component is UP_TIMEOUT (90 s); the whole script gets this.
SCRIPT_TIMEOUT = 600


class LocalStack:
    """One stack of deploy/local/up.sh under ``root``; :meth:`env` is a user's shell beside it."""

    def __init__(self, root: Path, daemon: DockerDaemon):
        require_binaries("/usr/bin/docker-registry", "/usr/bin/docker", "podman", "skopeo", "openssl", "tar")
        self.root = root
        self.daemon = daemon
        self.state = root / "stack"
        self.registry_port = restartable_port()  # up.sh restarts both on the same ports
        self.auth_port = restartable_port()
        for sub in ("config", "docker-config", "tmp", "podman"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "podman" / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/podman/root"\nrunroot = "{root}/podman/run"\n')
        (root / "podman" / "containers.conf").write_text('[engine]\nevents_logger = "none"\n')

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    @property
    def config_link(self) -> Path:
        """Where the CLI looks for its settings, and up.sh links the stack's."""
        return self.root / "config" / "authsvc" / "authsvc.toml"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A user's shell on this machine: no AUTHSVC_* variable, the test's own client state."""
        return clean_environ({
            "STACK_DIR": str(self.state), "REGISTRY_PORT": str(self.registry_port),
            "AUTH_PORT": str(self.auth_port), "AUTH_WORKERS": "2", "DOCKER_HOST": self.daemon.host,
            "XDG_CONFIG_HOME": str(self.root / "config"), "DOCKER_CONFIG": str(self.root / "docker-config"),
            "TMPDIR": str(self.root / "tmp"), "REGISTRY_AUTH_FILE": str(self.root / "podman" / "auth.json"),
            "CONTAINERS_STORAGE_CONF": str(self.root / "podman" / "storage.conf"),
            "CONTAINERS_CONF": str(self.root / "podman" / "containers.conf"), **(extra or {})})

    def up(self, **settings: str) -> subprocess.CompletedProcess:
        """Run up.sh; ``settings``: variables given to it, as a user would (AUTHSVC_*, CLI_CONFIG)."""
        return run(["bash", str(UP)], env=self.env(settings), timeout=SCRIPT_TIMEOUT, cwd=REPO_ROOT)

    def down(self) -> subprocess.CompletedProcess:
        return run(["bash", str(DOWN)], env=self.env(), timeout=120, cwd=REPO_ROOT)

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        """The venv's ``authsvc`` with nothing but the user's environment: it must find the stack."""
        return run([str(REPO_ROOT / ".venv" / "bin" / "authsvc"), *args], env=self.env(), input=input,
                   cwd=self.root)

    def cli_json(self, *args: str):
        result = self.cli(*args, "--json")
        assert result.returncode == 0, describe(result)
        return json.loads(result.stdout)

    def pid(self, name: str) -> int:
        return int((self.state / f"{name}.pid").read_text())

    def logs(self) -> str:
        """The tail of each component's log, for an assertion message."""
        parts = []
        for name in ("authsvc", "registry"):
            path = self.state / f"{name}.log"
            text = path.read_text(errors="replace").splitlines()[-30:] if path.exists() else ["(none)"]
            parts.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(parts)
