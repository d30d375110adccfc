"""deploy/kubernetes, installed as docs/operations.md says and run under docker, without a cluster.

The "Install on Kubernetes" block of docs/operations.md runs as written in a copy of
deploy/kubernetes (one change: the database URL, SQLite on the pod's ``data`` volume instead of
a PostgreSQL server this machine does not have), with a stand-in ``kubectl`` (tests/e2e/pods.py)
that renders the overlay with the real ``kubectl kustomize`` (where kubectl is installed; else
with tests/unit/test_kubernetes_manifests.py's renderer) and runs its pods' containers under
docker as the pod specs say: the images the overlay names (our images, tagged so: this machine
is offline, as the docs' offline operator is), the registry with the Deployment's ``args: [serve,
CONFIG]``, authsvc with its gunicorn command, users, read-only root filesystems, the key Secret
read-only with mode 0440 in the kubelet's layout.  The block ends with ``authsvc doctor
--registry`` in the authsvc pod, which must pass there.

The images come from the suite's cache (tests/e2e/deployment.py), shared with test_compose.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.docs import replace_once, shell_blocks

from .deployment import CACHE_DIR, CachedDockerd, CacheLock, build_images
from .pods import Pods
from .processes import StartupFailed, describe, require_binaries, run
from .stack import REPO_ROOT

pytestmark = pytest.mark.e2e

OPERATIONS = REPO_ROOT / "docs" / "operations.md"
K8S = REPO_ROOT / "deploy" / "kubernetes"
DOCUMENTED_DATABASE = "'postgresql+psycopg://authsvc:PASSWORD@postgres:5432/authsvc'"
#: On the pods' ``data`` emptyDir, shared by the init container that migrates and gunicorn.
POD_DATABASE = "'sqlite:////var/lib/authsvc/authsvc.db'"
ADMIN_PASSWORD = "k8s-Admin-Secret-1"


class Installed:
    def __init__(self, pods: Pods, tree: Path, output: str, timings: dict[str, float]):
        self.pods = pods
        self.tree = tree
        self.output = output
        self.timings = timings
        self.docs: list[dict] = json.loads((pods.root / "applied.json").read_text())

    def deployment(self, name: str) -> dict:
        (found,) = [d for d in self.docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
        return found

    def authsvc(self, *args: str, input: str | None = None):
        return self.pods.exec("authsvc", "authsvc", "authsvc", *args, input=input)


def _overlay_images() -> dict[str, str]:
    """name -> the image reference the example overlay gives it (kustomization ``images``)."""
    kustomization = yaml.safe_load((K8S / "overlays" / "example" / "kustomization.yaml").read_text())
    return {i["name"]: f"{i['newName']}:{i['newTag']}" for i in kustomization["images"]}


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    binaries = require_binaries("dockerd", "/usr/bin/docker", "debootstrap", "authsvc")
    root = Path(tempfile.mkdtemp(prefix="akp", dir="/tmp"))  # short: dockerd's sockets live here
    lock = CacheLock(CACHE_DIR / "lock")
    daemon = CachedDockerd(root, binaries)
    pods = Pods(root / "pods", f"akp{uuid.uuid4().hex[:8]}", node_image="", docker_host=daemon.host,
                docker_binary=binaries["/usr/bin/docker"])
    tagged: list[str] = []
    try:
        failure = None
        try:
            lock.acquire()
            running = _install(root, daemon, binaries, pods, tagged)
        except (StartupFailed, TimeoutError, AssertionError) as exc:
            failure = str(exc)
        if failure is not None:  # outside the except: the message is the whole story
            pytest.fail(f"the Kubernetes install did not come up:\n{failure}", pytrace=False)
        yield running
        print("\nkubernetes pods timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in running.timings.items()))
    finally:
        try:
            if daemon.service is not None:
                pods.remove()
                for ref in tagged:  # our tags only; the images stay cached under their own names
                    daemon.docker("image", "rm", ref)
        finally:
            daemon.stop()
            lock.release()
            shutil.rmtree(root, ignore_errors=True)


def _install(root: Path, daemon: CachedDockerd, binaries: dict[str, str], pods: Pods, tagged: list[str]) -> Installed:
    timings: dict[str, float] = {}
    started = time.monotonic()
    daemon.start()
    timings["dockerd"] = time.monotonic() - started
    images = build_images(daemon, root / "build.log", timings)
    pods.node_image = images["base"]
    # The overlay names the images it runs; this machine has ours under other names (an offline
    # node is given its images the same way: loaded and tagged as the manifests name them).
    for name, ref in _overlay_images().items():
        daemon.docker("tag", images[name], ref)
        tagged.append(ref)

    checkout = root / "checkout"
    shutil.copytree(K8S, checkout / "deploy" / "kubernetes", ignore=shutil.ignore_patterns("keys", "database-url"))
    blocks = shell_blocks(OPERATIONS, "## Install on Kubernetes")
    assert blocks, "docs/operations.md has no shell block under 'Install on Kubernetes'"
    script = replace_once(blocks[0], DOCUMENTED_DATABASE, POD_DATABASE)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(f'#!/bin/sh\nexec {sys.executable} -m tests.e2e.pods kubectl "$@"\n')
    (bin_dir / "kubectl").chmod(0o755)
    env = daemon.env({
        "PATH": f"{bin_dir}:{Path(binaries['authsvc']).parent}:{os.environ.get('PATH', '')}",
        "PODS_REAL_PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT), "EDITOR": "true",
        "PODS_ROOT": str(pods.root), "PODS_LABEL": pods.label, "PODS_NODE_IMAGE": images["base"],
        "PODS_DOCKER": binaries["/usr/bin/docker"],
    })
    pods.root.mkdir()
    begun = time.monotonic()
    result = run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=checkout,
                 input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n", timeout=600)
    timings["documented block"] = time.monotonic() - begun
    if result.returncode != 0:
        raise StartupFailed(f"the documented Kubernetes block failed:\n{describe(result)}\n{pods.logs()}",
                            exited=True, log="")
    return Installed(pods, checkout / "deploy" / "kubernetes", result.stdout, timings)


def test_the_registry_pod_runs_our_image_with_the_manifests_arguments(installed: Installed) -> None:
    """Kubernetes passes ``args`` as the image's CMD: the registry image must take ``serve CONFIG``."""
    registry = installed.deployment("registry")["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in registry and registry["args"][0] == "serve", registry
    assert installed.pods.http_status("http://registry:5000/v2/") == 401
    # The registry's own verdict on its config: a token challenge for authsvc's realm.
    challenge = installed.pods.exec("registry", "registry", "python3", "-c",
                                    "import urllib.request as u, urllib.error as e\n"
                                    "try: u.urlopen('http://127.0.0.1:5000/v2/')\n"
                                    "except e.HTTPError as x: print(x.headers['WWW-Authenticate'])")
    assert 'Bearer realm="https://registry.example.org/token"' in challenge.stdout, describe(challenge)


def test_the_authsvc_pod_serves_and_is_ready(installed: Installed) -> None:
    assert installed.pods.http_status("http://authsvc:5001/healthz") == 200
    assert installed.pods.http_status("http://authsvc:5001/readyz") == 200
    users = json.loads(installed.authsvc("user", "list", "--json").stdout)
    assert [u["name"] for u in users if u["admin"]] == ["admin"], users


def test_the_key_is_a_read_only_secret_of_mode_0440(installed: Installed) -> None:
    stat = installed.pods.exec("authsvc", "authsvc", "stat", "-L", "-c", "%a %u %g", "/etc/authsvc/keys/signing.key")
    assert stat.stdout.split() == ["440", "0", "10001"], describe(stat)
    assert installed.pods.exec("authsvc", "authsvc", "id", "-u").stdout.strip() == "10001"
    denied = installed.pods.exec("authsvc", "authsvc", "sh", "-c", "echo x >> /etc/authsvc/keys/signing.key")
    assert denied.returncode != 0, "the key Secret must be read-only"


def test_doctor_passes_in_the_pod(installed: Installed) -> None:
    """The documented block ran doctor already (and stopped on a failure); here its verdicts."""
    result = installed.authsvc("doctor", "--registry", "http://registry:5000", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"], result.stdout
    checks = {c["name"]: c for c in report["checks"]}
    assert "Kubernetes Secret volume" in checks["key-permissions"]["detail"], checks["key-permissions"]
    assert checks["trust-bundle"]["status"] == "skip", checks["trust-bundle"]
    assert checks["registry-token"]["status"] == "ok", checks["registry-token"]
    assert {n for n, c in checks.items() if c["status"] not in ("ok", "skip")} == {"registry-url"}, checks
