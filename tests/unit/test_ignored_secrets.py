"""Every secrets file docs/operations.md has operators create inside the checkout is git-ignored.

The install docs put passwords and keys into files beside the repository's own: the compose
stack's ``.env`` (NOTIFICATION_SECRET, DATABASE_URL, POSTGRES_PASSWORD), a Kubernetes overlay's
``database-url`` and ``keys/`` (the signing key, the registry's http.secret).  One ``git add .``
must not commit them.  Each path is tied to the documented command that creates it, so a doc
that starts writing a file elsewhere makes this test fail rather than pass on a stale list.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.docs import shell_blocks

REPO = Path(__file__).resolve().parents[2]
OPERATIONS = REPO / "docs" / "operations.md"
CONTAINERS = "## Install with containers (image and compose)"
KUBERNETES = "## Install on Kubernetes"

#: path in the checkout -> (section, the documented command that writes it)
DOCUMENTED = {
    "deploy/compose/.env": (CONTAINERS, "cd deploy/compose && cp .env.example .env"),
    "deploy/kubernetes/overlays/prod/database-url": (KUBERNETES, "> overlays/prod/database-url"),
    # prepare-overlay.sh: the key pair, the rotation's next key, its scratch database, http.secret
    "deploy/kubernetes/overlays/prod/keys/signing.key": (KUBERNETES, "./prepare-overlay.sh overlays/prod"),
    "deploy/kubernetes/overlays/prod/keys/signing.next.key": (KUBERNETES, "./prepare-overlay.sh overlays/prod"),
    "deploy/kubernetes/overlays/prod/keys/authsvc.db": (KUBERNETES, "./prepare-overlay.sh overlays/prod"),
    "deploy/kubernetes/overlays/prod/keys/registry-http-secret": (KUBERNETES, "./prepare-overlay.sh overlays/prod"),
    "deploy/docker/extra-ca.crt": (CONTAINERS, "deploy/docker/extra-ca.crt"),
}


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def checkout() -> None:
    if shutil.which("git") is None or git("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        pytest.skip("not a git checkout")


@pytest.mark.parametrize("path", sorted(DOCUMENTED))
def test_a_documented_secrets_file_is_ignored_and_not_committed(checkout, path):
    section, command = DOCUMENTED[path]
    assert any(command in block for block in shell_blocks(OPERATIONS, section)), (
        f"docs/operations.md ({section}) no longer runs {command!r}: update this test's list")
    ignored = git("check-ignore", "-v", path)
    assert ignored.returncode == 0, f"{path} is not git-ignored: {ignored.stdout}{ignored.stderr}"
    assert git("ls-files", "--", path).stdout == "", f"{path} is committed"


def test_the_templates_beside_them_are_not_ignored(checkout):
    """The rule must not swallow what operators copy from."""
    for path in ("deploy/compose/.env.example", "deploy/kubernetes/overlays/example/authsvc.toml",
                 "deploy/kubernetes/overlays/example/kustomization.yaml"):
        assert git("check-ignore", "-q", path).returncode == 1, f"{path} is ignored"
