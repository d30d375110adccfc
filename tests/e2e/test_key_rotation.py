"""Key rotation against the real registry while pulls run: not one pull may be refused.

A stack of its own (its keys change, the session's must not): gunicorn with two workers and
the registry configured from ``authsvc registry-config``, once with docker-registry 2.8.2 and
once with distribution 3.1.1 (which checks the ``x5c`` chain against the rotated trust bundle
and keeps the JWKS beside it).  Puller threads fetch a token
from authsvc and the manifest and config blob from the registry, over and over, the whole time
the operator's steps run:

    keys rotate -> restart the registry -> keys activate --registry -> (workers switch)
    -> keys retire -> restart the registry

A registry restart is an outage of the registry process itself (connection refused), which a
load balancer in front of several registries hides; the pullers count those apart, and the test
asserts that no pull is ever refused *by authorization* (401/403 from the registry, or a token
request failing) and that pulls went through in every phase, with tokens of both keys.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import jwt
import pytest

from .processes import Service, http_status, ok, require_binaries
from .registries import Generation
from .stack import STARTUP_TIMEOUT, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]

PULLERS = 3
MANIFEST_TYPES = ", ".join(["application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"])


class RotationStack(Stack):
    """A Stack whose registry can be restarted on the same port, as an operator would."""

    def restart_registry(self) -> None:
        argv, env, log_path = self.registry.argv, self.registry.env, self.registry.log_path
        self.registry.stop()
        self.registry = Service(f"registry ({self.generation.id})", argv, env=env, log_path=log_path).start()
        url = f"http://127.0.0.1:{self.registry_port}/v2/"
        self.registry.wait_ready(lambda: http_status(url) == 401, timeout=STARTUP_TIMEOUT,
                                 what=f"GET {url} answered 401")


@pytest.fixture(scope="module")
def rotation_stack(e2e_root: Path, registry_generation: Generation):
    binaries = {**require_binaries("authsvc", "gunicorn", "skopeo"), "registry": registry_generation.binary()}
    # SQLite of its own: only keys matter here
    stack = RotationStack(e2e_root / f"rotation-{registry_generation.id}", binaries, generation=registry_generation)
    stack.root.mkdir()
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


class Pullers:
    """Threads pulling one private image through authsvc + the registry, keeping score."""

    def __init__(self, stack: Stack, user, repository: str):
        self.stack, self.user, self.repository = stack, user, repository
        self.outcomes: Counter[str] = Counter()
        self.kids: Counter[str] = Counter()
        self.failures: list[str] = []
        self.phase = "start"
        self.per_phase: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(PULLERS)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def wait_for_pulls(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` more pulls went through in the current phase (real progress, not time)."""
        with self._lock:
            target = self.per_phase[self.phase] + count
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.per_phase[self.phase] >= target or self.failures:
                    return
            time.sleep(0.05)  # polling interval
        raise AssertionError(f"pulls stalled in phase {self.phase}: {dict(self.outcomes)}")

    def _record(self, outcome: str, detail: str = "", kid: str = "") -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if outcome == "pulled":
                self.per_phase[self.phase] += 1
                self.kids[kid] += 1
            elif outcome != "registry-down":
                self.failures.append(f"{self.phase}: {outcome}: {detail}")

    def _run(self) -> None:
        credentials = base64.b64encode(f"{self.user.name}:{self.user.password}".encode()).decode()
        registry = f"http://{self.stack.host}"
        scope = f"repository:{self.repository}:pull"
        while not self._stop.is_set():
            try:
                request = urllib.request.Request(f"{self.stack.realm}?service=registry&scope={scope}",
                                                 headers={"Authorization": f"Basic {credentials}"})
                with urllib.request.urlopen(request, timeout=10) as response:
                    token = json.load(response)["token"]
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self._record("token-failed", repr(exc))
                continue
            kid = jwt.get_unverified_header(token)["kid"]
            try:
                headers = {"Authorization": f"Bearer {token}", "Accept": MANIFEST_TYPES}
                url = f"{registry}/v2/{self.repository}/manifests/v1"
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
                    manifest = json.load(response)
                blob = f"{registry}/v2/{self.repository}/blobs/{manifest['config']['digest']}"
                with urllib.request.urlopen(urllib.request.Request(blob, headers=headers), timeout=10) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                self._record(f"registry-{exc.code}", exc.read()[:200].decode(errors="replace"), kid)
                continue
            except (urllib.error.URLError, ConnectionError, OSError):
                self._record("registry-down")  # the registry process is restarting
                continue
            self._record("pulled", kid=kid)


def kid_now(stack: Stack) -> str:
    return json.loads(stack.authsvc("keys", "show", "--json").stdout)["kid"]


def test_rotation_while_pulls_run(rotation_stack: RotationStack):
    stack = rotation_stack
    owner = stack.user("rot-owner")
    project = stack.project("rotation", owner=owner)
    stack.push_image(project, "app", owner)
    registry_url = f"http://{stack.host}"
    old_kid = kid_now(stack)

    with Pullers(stack, owner, f"{project}/app") as pullers:
        pullers.wait_for_pulls(20)

        pullers.phase = "staged"
        staged = stack.authsvc("keys", "rotate")
        assert "next key" in staged.stdout
        state = json.loads(stack.authsvc("keys", "show", "--json").stdout)
        new_kid = [k["kid"] for k in state["trusted"] if k["role"] == "next"][0]
        # The registry has not been restarted: it must not trust the new key yet, so activation
        # is refused and signing stays with the old key.
        refused = stack.authsvc("keys", "activate", "--registry", registry_url, check=False)
        assert refused.returncode == 1 and "does NOT accept" in refused.stdout, refused.stdout + refused.stderr
        assert kid_now(stack) == old_kid
        pullers.wait_for_pulls(20)

        pullers.phase = "registry restarted with both keys"
        stack.restart_registry()
        pullers.wait_for_pulls(20)

        pullers.phase = "activated"
        activated = stack.authsvc("keys", "activate", "--registry", registry_url)
        assert "accepts the new key" in activated.stdout, activated.stdout
        pullers.wait_for_pulls(20)
        deadline = time.monotonic() + 30  # every worker re-reads the key files within seconds
        while pullers.kids[new_kid] < 10 and time.monotonic() < deadline and not pullers.failures:
            pullers.wait_for_pulls(5)
        assert pullers.kids[new_kid] >= 10, f"workers did not switch to {new_kid}: {dict(pullers.kids)}"

        pullers.phase = "retired"
        early = stack.authsvc("keys", "retire", check=False)
        assert early.returncode == 1 and "valid for another" in early.stderr
        stack.authsvc("keys", "retire", "--force")  # the unit tests cover waiting out token_ttl
        stack.restart_registry()
        pullers.wait_for_pulls(20)

    print(f"rotation under load: outcomes {dict(pullers.outcomes)}, pulls per key {dict(pullers.kids)}")
    assert pullers.failures == [], "\n".join(pullers.failures[:10])
    assert pullers.kids[old_kid] >= 20 and pullers.kids[new_kid] >= 20, dict(pullers.kids)
    assert set(pullers.outcomes) <= {"pulled", "registry-down"}, dict(pullers.outcomes)

    # The restarted registry no longer trusts the retired key: a token signed by it is refused.
    state = json.loads(stack.authsvc("keys", "show", "--json").stdout)
    assert [k["role"] for k in state["trusted"]] == ["active"] and state["kid"] == new_kid
    inspect = stack.client([stack.bin["skopeo"], "inspect", "--tls-verify=false", "--creds", owner.creds,
                            f"docker://{stack.host}/{project}/app:v1"])
    ok(inspect, "a real client pulls with the new key after the rotation")


def registry_answer(stack: Stack, material) -> int:
    """What ``GET /v2/`` answers to a token signed with ``material``."""
    from authsvc.signing.jwt import TokenSigner

    token = TokenSigner(material, issuer="authsvc", lifetime=60).issue(subject="probe", audience="registry",
                                                                        access=[]).token
    request = urllib.request.Request(f"http://{stack.host}/v2/", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def next_key_verdict(stack: Stack) -> str:
    result = stack.authsvc("doctor", "--registry", f"http://{stack.host}", "--json", check=False)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    return checks["registry-next-key"]["status"]


def test_the_old_key_is_trusted_until_retired_and_the_registry_restarted(rotation_stack: RotationStack, tmp_path):
    from authsvc.signing import keys

    stack = rotation_stack
    # authsvc deletes the old private key at activation; keep a copy to sign with it afterwards.
    old = keys.load(stack.data_dir / "signing.key", stack.data_dir / "signing.crt")
    stack.authsvc("keys", "rotate")
    assert next_key_verdict(stack) == "warn"  # doctor: the registry has not been restarted yet
    stack.restart_registry()
    assert next_key_verdict(stack) == "ok"
    stack.authsvc("keys", "activate", "--registry", f"http://{stack.host}")
    new = keys.load(stack.data_dir / "signing.key", stack.data_dir / "signing.crt")
    assert new.libtrust_kid != old.libtrust_kid
    assert registry_answer(stack, old) == 200, "tokens of the previous key must stay good until retired"
    stack.authsvc("keys", "retire", "--force")
    assert registry_answer(stack, old) == 200, "the running registry keeps the bundle it started with"
    stack.restart_registry()
    assert registry_answer(stack, old) == 401
    assert registry_answer(stack, new) == 200
