"""The registry clients the access rules must hold against: docker, podman, skopeo and ctr.

Each helper runs the real binary and returns its ``CompletedProcess`` with
output captured; :func:`~tests.e2e.processes.ok` and
:func:`~tests.e2e.processes.denied` turn it into an assertion whose message
holds the command, its output and the authsvc log tail.  Every client keeps
its credentials in a throw-away place (a ``DOCKER_CONFIG`` directory, a
podman ``--authfile``) so one test's login never leaks into another's.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from .stack import DockerDaemon, Stack, User, clean_environ


class Docker:
    """The Debian docker 20.10 CLI against our private dockerd, with its own DOCKER_CONFIG.

    Make one per user and test: the config directory *is* the login state.
    """

    def __init__(self, stack: Stack, daemon: DockerDaemon, config_dir: Path):
        self.stack = stack
        self.daemon = daemon
        self.config_dir = config_dir
        config_dir.mkdir(parents=True)

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        env = clean_environ({"DOCKER_HOST": self.daemon.host, "DOCKER_CONFIG": str(self.config_dir)})
        return self.stack.client([self.daemon.bin["/usr/bin/docker"], *args], env=env, input=input)

    def login(self, user: User, password: str | None = None) -> subprocess.CompletedProcess:
        return self("login", self.stack.host, "-u", user.name, "--password-stdin",
                    input=(user.password if password is None else password) + "\n")

    def stored_auth(self) -> dict:
        """This registry's entry in config.json, as ``docker login`` left it."""
        config = json.loads((self.config_dir / "config.json").read_text())
        return config.get("auths", {}).get(self.stack.host, {})

    def stored_user_and_password(self) -> tuple[str, str]:
        name, _, password = base64.b64decode(self.stored_auth().get("auth", "")).decode().partition(":")
        return name, password


class Podman:
    """podman without a daemon: vfs storage and its state under the session directory.

    One storage root is shared by the session (images are cheap); logins are
    per instance through ``--authfile``.
    """

    def __init__(self, stack: Stack, binary: str, root: Path, authfile: Path):
        self.stack = stack
        self.base = [binary, "--storage-driver", "vfs", "--root", str(root / "root"),
                     "--runroot", str(root / "run"), "--tmpdir", str(root / "tmp"), "--events-backend", "none"]
        self.authfile = authfile

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return self.stack.client([*self.base, *args], input=input)

    def _remote(self, command: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return self(command, "--tls-verify=false", "--authfile", str(self.authfile), *args, input=input)

    def login(self, user: User, password: str | None = None) -> subprocess.CompletedProcess:
        return self._remote("login", "-u", user.name, "--password-stdin", self.stack.host,
                            input=(user.password if password is None else password) + "\n")

    def pull(self, ref: str) -> subprocess.CompletedProcess:
        return self._remote("pull", ref)

    def push(self, ref: str) -> subprocess.CompletedProcess:
        return self._remote("push", ref)


def skopeo(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return stack.client([stack.bin["skopeo"], *args])


def skopeo_inspect(stack: Stack, ref: str, user: User | None) -> subprocess.CompletedProcess:
    """Read a manifest (a pull, as far as the token service is concerned)."""
    creds = ["--creds", user.creds] if user else ["--no-creds"]
    return skopeo(stack, "inspect", "--tls-verify=false", *creds, f"docker://{ref}")


def skopeo_copy(stack: Stack, source: str, dest: str, user: User) -> subprocess.CompletedProcess:
    """Copy between two repositories of our registry as ``user`` (pull from one, push to the other)."""
    return skopeo(stack, "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                  "--src-creds", user.creds, "--dest-creds", user.creds, f"docker://{source}", f"docker://{dest}")


def skopeo_delete(stack: Stack, ref: str, user: User) -> subprocess.CompletedProcess:
    return skopeo(stack, "delete", "--tls-verify=false", "--creds", user.creds, f"docker://{ref}")


def ctr_pull(stack: Stack, daemon: DockerDaemon, ref: str, user: User) -> subprocess.CompletedProcess:
    """Pull as a Kubernetes node does through CRI: containerd's POST password grant.

    ``--snapshotter native`` unpacks without overlayfs, which nested CI containers may lack;
    the token exchange, which is what is under test, is the same with every snapshotter.
    """
    return stack.client([daemon.bin["ctr"], "--address", str(daemon.containerd_socket), "-n", "k8s.io",
                         "images", "pull", "--plain-http", "--snapshotter", "native", "--user", user.creds, ref])
