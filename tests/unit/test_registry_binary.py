"""The registry 3 binary the end-to-end suite runs: verified, cached, and never silently skipped in CI.

``tests/e2e/registries.py`` decompresses the project's registry 3.1.1 archive into a cache and
checks its sha256.  These tests use a small stand-in archive, so they show the rules without the
real 30 MB binary: a wrong digest is a failure wherever the suite runs, a missing archive is a
failure under ``CI=true`` and a skip elsewhere, and a cached copy that changed is never used.
"""

from __future__ import annotations

import hashlib
import lzma
import os

import pytest

from tests.e2e.registries import registry3_binary

CONTENT = b"#!/bin/sh\necho stand-in registry\n"
DIGEST = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "registry.xz"
    path.write_bytes(lzma.compress(CONTENT))
    return path


def test_decompressed_once_verified_and_executable(archive, tmp_path):
    binary = registry3_binary(archive, tmp_path / "cache", DIGEST)
    assert open(binary, "rb").read() == CONTENT and os.access(binary, os.X_OK)
    archive.unlink()  # the second use finds the verified copy
    assert registry3_binary(archive, tmp_path / "cache", DIGEST) == binary


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_wrong_digest_fails_everywhere_and_leaves_nothing_behind(archive, tmp_path, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="does not decompress to the verified registry"):
        registry3_binary(archive, tmp_path / "cache", "0" * 64)
    assert list((tmp_path / "cache").rglob("*")) == [tmp_path / "cache" / "registry-v3"]


def test_a_cached_copy_that_changed_is_refused(archive, tmp_path):
    binary = registry3_binary(archive, tmp_path / "cache", DIGEST)
    with open(binary, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(pytest.fail.Exception, match="has sha256"):
        registry3_binary(archive, tmp_path / "cache", DIGEST)


def test_a_missing_archive_fails_under_ci_and_skips_elsewhere(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.xz"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="not found"):
        registry3_binary(missing, tmp_path / "cache", DIGEST)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="not found"):
        registry3_binary(missing, tmp_path / "cache", DIGEST)
