"""Machine credentials for the end-to-end suite: robots, personal tokens, pull secrets, the audit log.

Everything is made through the real ``authsvc`` CLI (or, where only it can
express the case, the REST API over HTTP), exactly as an operator or a
Project Admin would.  A credential comes back as a :class:`~tests.e2e.stack.User`
(login name and secret), so every client helper that takes a person's
credentials takes a robot's or a personal token just the same: that is the
point of robots and tokens.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import yaml

from .stack import Stack, User


def robot(stack: Stack, project: str, name: str, *, actions: str = "pull",
          expires_in: str | None = "30d") -> User:
    """``authsvc robot create``; ``expires_in=None`` asks for --no-expiry."""
    expiry = ["--expires-in", expires_in] if expires_in is not None else ["--no-expiry"]
    shown = json.loads(stack.authsvc("robot", "create", project, name, "--actions", actions, *expiry,
                                     "--json").stdout)
    return User(shown["login"], shown["secret"])


def rekey(stack: Stack, project: str, name: str) -> User:
    shown = json.loads(stack.authsvc("robot", "rekey", project, name, "--json").stdout)
    return User(shown["login"], shown["secret"])


def personal_token(stack: Stack, user: User, name: str, *, expires_in: str = "30d") -> User:
    """``authsvc pat create``: the user's name with the token as the password."""
    shown = json.loads(stack.authsvc("pat", "create", user.name, name, "--expires-in", expires_in,
                                     "--json").stdout)
    assert shown["secret"].startswith("asvc_pat_"), shown
    return User(user.name, shown["secret"])


@dataclass(frozen=True)
class PullSecret:
    """A ``kubernetes.io/dockerconfigjson`` Secret as ``authsvc pull-secret`` printed it."""

    manifest: dict
    dockerconfigjson: dict  # the decoded data['.dockerconfigjson']
    host: str

    @property
    def entry(self) -> dict:
        return self.dockerconfigjson["auths"][self.host]

    @property
    def creds(self) -> User:
        """The username and password the secret holds, as ``ctr --user`` takes them."""
        return User(self.entry["username"], self.entry["password"])

    def config_text(self) -> str:
        """The decoded ``.dockerconfigjson``, byte for byte what kubelet would hand a runtime."""
        return json.dumps(self.dockerconfigjson)


def pull_secret(stack: Stack, project: str, *args: str) -> PullSecret:
    """``authsvc pull-secret PROJECT --registry HOST ARGS``, parsed as kubectl would read it."""
    manifest = yaml.safe_load(stack.authsvc("pull-secret", project, "--registry", stack.host, *args).stdout)
    assert manifest["kind"] == "Secret" and manifest["type"] == "kubernetes.io/dockerconfigjson", manifest
    config = json.loads(base64.b64decode(manifest["data"][".dockerconfigjson"], validate=True))
    return PullSecret(manifest, config, stack.host)


def audit(stack: Stack, *, actor: str, action: str) -> list[dict]:
    """Audit events of ``actor`` whose action starts with ``action``, newest first."""
    return json.loads(stack.authsvc("audit", "list", "--actor", actor, "--action", action, "--json").stdout)


def api(stack: Stack, method: str, path: str, caller: User, body: dict | None = None) -> tuple[int, dict]:
    """One REST API call with Basic credentials; the status and the decoded JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{stack.auth_port}/api/v1{path}", data=data,
                                     method=method)
    request.add_header("Authorization", "Basic " + base64.b64encode(caller.creds.encode()).decode())
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
