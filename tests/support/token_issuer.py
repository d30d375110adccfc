"""A workload-identity issuer for the keyless-machine tests: a real HTTP process on loopback that
serves an OIDC discovery document and a JWKS, with tokens minted in the test's own process.

The process (``python -m tests.support.token_issuer DIR PORT``) answers
``/.well-known/openid-configuration`` and ``/jwks`` from ``DIR/keys.json`` (the public keys),
read at every request, so a test rotates the issuer's key by writing a new file -- no restart,
exactly as a CI platform rotates.  :class:`Issuer` holds the private keys, mints tokens shaped
like GitHub Actions', GitLab CI's and Kubernetes service accounts', and rotates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

STARTUP_TIMEOUT = 15.0


class Issuer:
    """The running issuer: its URL, its current signing key, and tokens it signs."""

    def __init__(self, url: str, directory: Path, process: subprocess.Popen):
        self.url = url
        self.directory = directory
        self.process = process
        self.keys: list = []
        self.rotate()

    def rotate(self, *, keep_old: bool = False, kind: str = "EC") -> None:
        """A new signing key (published at once); ``keep_old`` keeps the previous one published."""
        key = ECKey.generate_key("P-256", {"kid": uuid.uuid4().hex[:16]}) if kind == "EC" else \
            RSAKey.generate_key(2048, {"kid": uuid.uuid4().hex[:16]})
        self.keys = [key, *self.keys[:1]] if keep_old else [key]
        self.publish(KeySet(self.keys).as_dict(private=False))

    def publish(self, document: dict) -> None:
        """Serve exactly this JWKS from now on (a test may publish a hostile one)."""
        tmp = self.directory / "keys.json.tmp"
        tmp.write_text(json.dumps(document))
        os.replace(tmp, self.directory / "keys.json")

    @property
    def key(self):
        return self.keys[0]

    def sign(self, claims: dict, *, key=None, header: dict | None = None) -> str:
        key = key or self.key
        alg = "ES256" if isinstance(key, ECKey) else "RS256"
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT", **(header or {})}, claims, key)

    def claims(self, audience: str, *, lifetime: int = 300, **extra) -> dict:
        now = int(time.time())
        return {"iss": self.url, "aud": audience, "iat": now, "nbf": now - 5, "exp": now + lifetime,
                "jti": uuid.uuid4().hex, **extra}

    def github(self, audience: str, *, repository: str = "acme/app", ref: str = "refs/heads/main",
               environment: str | None = None, **extra) -> str:
        """Like a GitHub Actions job's token (``sub`` repo:OWNER/REPO:ref:REF, or :environment:ENV)."""
        owner = repository.split("/")[0]
        sub = f"repo:{repository}:environment:{environment}" if environment else f"repo:{repository}:ref:{ref}"
        claims = self.claims(audience, sub=sub, repository=repository, repository_owner=owner, ref=ref,
                             ref_type="branch", event_name="push", workflow="build", **extra)
        if environment:
            claims["environment"] = environment
        return self.sign(claims)

    def gitlab(self, audience: str, *, project_path: str = "acme/app", ref: str = "main", **extra) -> str:
        """Like a GitLab CI job's ``id_tokens`` token."""
        namespace = project_path.rsplit("/", 1)[0]
        return self.sign(self.claims(audience, sub=f"project_path:{project_path}:ref_type:branch:ref:{ref}",
                                     project_path=project_path, namespace_path=namespace, ref=ref,
                                     ref_type="branch", pipeline_source="push", **extra))

    def kubernetes(self, audience: str, *, namespace: str = "ci", service_account: str = "builder",
                   **extra) -> str:
        """Like a projected Kubernetes service-account token."""
        claims = self.claims(audience, sub=f"system:serviceaccount:{namespace}:{service_account}", **extra)
        claims["kubernetes.io"] = {"namespace": namespace,
                                   "serviceaccount": {"name": service_account, "uid": str(uuid.uuid4())},
                                   "pod": {"name": f"{service_account}-pod", "uid": str(uuid.uuid4())}}
        return self.sign(claims)


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/.well-known/openid-configuration", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def running_issuer(directory: Path):
    """Start the issuer process on a free loopback port; wait until its discovery answers."""
    from tests.e2e.processes import free_port

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "keys.json").write_text('{"keys": []}')
    for _attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = directory / f"issuer-{port}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "tests.support.token_issuer", str(directory), str(port)],
                                       stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline and not _ready(url):
            time.sleep(0.05)  # polling real readiness: the discovery document answers
        if process.poll() is None and _ready(url):
            break
        process.kill()
        process.wait()
        if b"Address already in use" not in log.read_bytes():
            raise RuntimeError(f"the token issuer did not start: {log.read_text()[-2000:]}")
    else:
        raise RuntimeError("the token issuer found no free port")
    try:
        yield Issuer(url, directory, process)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _serve(directory: Path, port: int) -> None:
    url = f"http://127.0.0.1:{port}"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            if self.path == "/.well-known/openid-configuration":
                body = json.dumps({"issuer": url, "jwks_uri": f"{url}/jwks",
                                   "id_token_signing_alg_values_supported": ["ES256", "RS256"],
                                   "response_types_supported": ["id_token"],
                                   "subject_types_supported": ["public"]}).encode()
            elif self.path == "/jwks":
                body = (directory / "keys.json").read_bytes()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - quiet; the test reads the log only on failure
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), int(sys.argv[2]))
