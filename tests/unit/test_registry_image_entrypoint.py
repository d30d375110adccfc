"""deploy/docker/registry/entrypoint.sh takes the official registry image's arguments, for real.

The image's entrypoint decides what Kubernetes' ``args: [serve, CONFIG]``, compose's
``command: [CONFIG.yml]`` and ``garbage-collect`` mean; a fixed ``docker-registry serve`` turned
the first into ``serve serve CONFIG``.  Here the script runs on this machine with Debian's own
registry binary (the one the image installs), no docker needed; the image itself runs under the
Kubernetes manifests' arguments in tests/e2e/test_kubernetes_pods.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "registry" / "entrypoint.sh"
REGISTRY = Path("/usr/bin/docker-registry")


@pytest.fixture(autouse=True)
def registry_binary():
    if not REGISTRY.exists():
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("/usr/bin/docker-registry is missing (deploy/local/install.sh installs it)")
        pytest.skip("Debian's docker-registry is not installed")


def config(tmp_path: Path) -> tuple[Path, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "config.yml"
    path.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {tmp_path}/data}}}}\n"
                    f"http: {{addr: 127.0.0.1:{port}}}\n")
    return path, port


def serves(argv: list[str], port: int) -> bool:
    """Whether the entrypoint with ``argv`` brings up a registry answering /v2/ (polled, 15 s)."""
    process = subprocess.Popen(["sh", str(ENTRYPOINT), *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)  # polling interval, not a wait for readiness
        return False
    finally:
        process.kill()
        process.wait()


def test_serve_config_as_the_kubernetes_manifests_pass_it(tmp_path):
    path, port = config(tmp_path)
    assert serves(["serve", str(path)], port)


def test_a_lone_config_file_as_compose_passes_it(tmp_path):
    path, port = config(tmp_path)
    assert serves([str(path)], port)


def test_garbage_collect_and_options_reach_the_registry(tmp_path):
    path, _ = config(tmp_path)
    for part in ("repositories", "blobs"):  # an empty store
        (tmp_path / "data" / "docker" / "registry" / "v2" / part).mkdir(parents=True)
    gc = subprocess.run(["sh", str(ENTRYPOINT), "garbage-collect", "--dry-run", str(path)],
                        capture_output=True, text=True, timeout=60)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    version = subprocess.run(["sh", str(ENTRYPOINT), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "distribution" in version.stdout, version.stdout + version.stderr


def test_anything_else_runs_as_is():
    result = subprocess.run(["sh", str(ENTRYPOINT), "echo", "hello"], capture_output=True, text=True, timeout=60)
    assert result.stdout == "hello\n"
