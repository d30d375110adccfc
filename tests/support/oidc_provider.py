"""A real OpenID provider process on loopback for the OIDC tests: ``oidc-provider-mock`` (PyPI).

It is a standalone server made for tests (authlib's authorization server under uvicorn):
discovery, JWKS, the authorization-code grant with PKCE and nonce, refresh tokens, userinfo, and
a small admin API -- ``PUT /users/<sub>`` sets a person's claims (their groups included) and
``POST /users/<sub>/revoke-tokens`` ends their grants, as an administrator would at a real
provider.  Its authorization page is a form: ``sub`` (who signs in) and an *Authorize* button;
a POST of that form answers the redirect back to us with the code.

The process is started once per test session and worker (each on its own free port) and torn
down at the end; the tests give every case people of its own (a unique ``sub``), so they never
see each other's state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests

from tests.e2e.processes import free_port

STARTUP_TIMEOUT = 20.0


class Provider:
    """A running provider: its issuer URL, and what an administrator can do there."""

    def __init__(self, issuer: str, process: subprocess.Popen, log: Path):
        self.issuer = issuer
        self.process = process
        self.log = log

    def set_user(self, sub: str, **claims) -> None:
        """Give ``sub`` these claims (replacing earlier ones): what the next ID token and userinfo say."""
        response = requests.put(f"{self.issuer}/users/{quote(sub, safe='')}", json=claims, timeout=10)
        assert response.status_code == 204, response.text

    def revoke(self, sub: str) -> None:
        """End every access and refresh token of ``sub`` (the person signed out everywhere, or removed)."""
        response = requests.post(f"{self.issuer}/users/{quote(sub, safe='')}/revoke-tokens", timeout=10)
        assert response.status_code == 204, response.text

    def authorize(self, authorization_url: str, sub: str) -> str:
        """What the browser does at the provider's page, as a form post: the URL it is sent back to."""
        response = requests.post(authorization_url, data={"sub": sub}, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), (response.status_code, response.text[:300])
        return response.headers["Location"]

    def new_person(self, **claims) -> str:
        """A fresh subject with ``claims`` (a unique ``preferred_username`` unless given)."""
        sub = f"person-{uuid.uuid4().hex[:12]}"
        claims.setdefault("preferred_username", sub)
        claims.setdefault("email", f"{sub}@example.com")
        claims.setdefault("email_verified", True)
        self.set_user(sub, **claims)
        return sub


def _ready(issuer: str) -> bool:
    try:
        return requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def running_provider(directory: Path, *, require_nonce: bool = True, require_registration: bool = False):
    """Start ``oidc-provider-mock`` on a free loopback port, wait until its discovery answers.

    ``require_registration``: only clients registered at it are known (any other client id is
    refused, as a real provider refuses an unregistered one)."""
    for _attempt in range(3):
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        log = directory / f"oidc-provider-{port}.log"
        args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
        if require_nonce:
            args += ["--require-nonce", "true"]
        if require_registration:
            args += ["--require-registration", "true"]
        with open(log, "wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                       env={**os.environ, "NO_COLOR": "1"})
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline and not _ready(issuer):
            time.sleep(0.1)  # polling real readiness: the discovery document answers
        if process.poll() is None and _ready(issuer):
            break
        process.kill()
        process.wait()
        if b"address already in use" not in log.read_bytes():
            raise RuntimeError(f"oidc-provider-mock did not start: {log.read_text()[-2000:]}")
    else:
        raise RuntimeError("oidc-provider-mock found no free port")
    try:
        yield Provider(issuer, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def secret_file(directory: Path, secret: str = "test-client-secret") -> Path:
    """The client secret in a 0600 file, as oidc_client_secret_file requires."""
    path = directory / "oidc-client-secret"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path
