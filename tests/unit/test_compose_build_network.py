"""compose.yaml's image build runs on the host's network, in every documented file combination.

A dockerd without iptables has no bridge network: a build step on the default build network
cannot resolve a name, so pip inside ``docker-compose up --build`` fails ("No matching
distribution found").  The end-to-end run of the compose block (tests/e2e/test_container_docs.py)
finds the build's layers cached and never runs pip, so it cannot notice the setting missing;
this asks docker-compose itself how it resolves the files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"
COMBINATIONS = [
    "compose.yaml:compose.bridge.yaml",  # .env.example's
    "compose.yaml:compose.host-network.yaml",
    "compose.yaml:compose.bridge.yaml:compose.postgres.yaml",
    "compose.yaml:compose.host-network.yaml:compose.replicas.yaml",
]


def resolved(files: str) -> dict:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("docker-compose is not installed (deploy/local/install.sh installs it)")
        pytest.skip("docker-compose is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    env.update(COMPOSE_FILE=files, POSTGRES_PASSWORD="x", DATABASE_URL="postgresql+psycopg://a:b@c/d")
    result = subprocess.run([binary, "--env-file", str(COMPOSE / ".env.example"), "config"], cwd=COMPOSE, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.mark.parametrize("files", COMBINATIONS)
def test_every_build_uses_the_host_network(files):
    services = resolved(files)["services"]
    built = {name: s["build"] for name, s in services.items() if "build" in s}
    assert set(built) == {"authsvc-init", "authsvc"}, built
    for name, build in built.items():
        assert build.get("network") == "host", f"{files}: {name}'s build runs on {build.get('network')!r}"
