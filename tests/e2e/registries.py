"""The two registry generations the end-to-end scenarios run against, as real binaries.

* ``registry2``: Debian's ``docker-registry`` package (distribution 2.8.2), found on PATH.
* ``registry3``: the unmodified distribution 3.1.1 binary the project keeps beside its clones,
  ``<repo>/../shared/tools/registry-v3/registry-v3.1.1-linux-amd64.xz`` (``TEST_REGISTRY3_XZ``
  names another place; never a ``REGISTRY_*`` name, which the registry reads as configuration,
  nor ``AUTHSVC_*``, which authsvc refuses).  It is decompressed once into a cache shared by
  sessions (``DEPLOY_TEST_CACHE``, default /var/cache/authsvc-ci, as the deployment tests use)
  and its sha256 checked every time it is used: a tampered or truncated binary must never
  pass for the registry it claims to be.

A missing binary skips its tests with the reason, and fails them under ``CI=true``
(``processes.unavailable``); a wrong sha256 always fails, since the file exists but is not the
one the project verified.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from .processes import find_binary, run, unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
REGISTRY3_VERSION = "3.1.1"
REGISTRY3_SHA256 = "5c0dfc92fc1fd6ae419c1ed938fdc5c5cf9624914a505355e678021aec56e467"
REGISTRY3_XZ = Path(os.environ.get("TEST_REGISTRY3_XZ") or
                    REPO_ROOT.parent / "shared/tools/registry-v3/registry-v3.1.1-linux-amd64.xz")
CACHE_DIR = Path(os.environ.get("DEPLOY_TEST_CACHE", "/var/cache/authsvc-ci"))


@dataclass(frozen=True)
class Generation:
    """One registry generation: how tests name it, and what ``registry-config`` is asked for."""

    id: str                # the pytest id: registry2, registry3
    config_version: int    # authsvc registry-config --registry-version
    version_marker: str    # in ``registry --version`` of the right binary
    #: Extra environment of the registry process only.  Registry 3 exports OpenTelemetry traces
    #: to https://localhost:4318 unless told not to (distribution issue #4270; its configuration
    #: docs, "Disable traces export"): a test registry must not talk to whatever listens there.
    environ: tuple[tuple[str, str], ...] = ()

    def binary(self) -> str:
        """The registry executable, checked to be this generation, or the calling fixture stops
        (skip, or fail under CI)."""
        if self.config_version == 2:
            path = find_binary("docker-registry")
            if path is None:
                unavailable("missing binaries: docker-registry (Debian's distribution 2.8)")
        else:
            path = registry3_binary()
        result = run([path, "--version"], timeout=30)
        if self.version_marker not in result.stdout:
            pytest.fail(f"{path} is not {self.id}: `--version` printed {result.stdout.strip()!r}"
                        f"{result.stderr.strip()!r}, expected {self.version_marker!r} in it", pytrace=False)
        return path


REGISTRY2 = Generation("registry2", 2, " 2.8.")
REGISTRY3 = Generation("registry3", 3, f" v{REGISTRY3_VERSION}", environ=(("OTEL_TRACES_EXPORTER", "none"),))
GENERATIONS = {g.id: g for g in (REGISTRY2, REGISTRY3)}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def registry3_binary(source: Path = REGISTRY3_XZ, cache_dir: Path = CACHE_DIR,
                     expected_sha256: str = REGISTRY3_SHA256) -> str:
    """The verified, executable registry 3.1.1 in the cache, decompressed from ``source`` if needed.

    The cached file is named after the expected digest, written to a temporary name and renamed
    into place, so concurrent sessions never see half a binary; it is re-hashed on every use.
    """
    target = cache_dir / "registry-v3" / f"registry-v{REGISTRY3_VERSION}-{expected_sha256[:16]}"
    if not target.exists():
        if not source.is_file():
            unavailable(f"registry {REGISTRY3_VERSION} binary not found at {source} "
                        "(the repository's ../shared/tools/registry-v3/, or TEST_REGISTRY3_XZ)")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
            with os.fdopen(fd, "wb") as out, lzma.open(source) as compressed:
                for chunk in iter(lambda: compressed.read(1 << 20), b""):
                    out.write(chunk)
            os.chmod(partial, 0o755)
        except (OSError, lzma.LZMAError) as exc:
            pytest.fail(f"cannot decompress {source} into {target.parent}: {exc}", pytrace=False)
        actual = sha256_of(Path(partial))
        if actual != expected_sha256:
            os.unlink(partial)
            pytest.fail(f"{source} does not decompress to the verified registry {REGISTRY3_VERSION}: "
                        f"sha256 {actual}, expected {expected_sha256}", pytrace=False)
        os.replace(partial, target)
    actual = sha256_of(target)
    if actual != expected_sha256:
        pytest.fail(f"cached registry {REGISTRY3_VERSION} {target} has sha256 {actual}, expected "
                    f"{expected_sha256}: remove it (it is rebuilt from {source})", pytrace=False)
    return str(target)
