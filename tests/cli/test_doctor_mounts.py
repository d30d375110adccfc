"""``authsvc doctor`` in the documented Kubernetes layout: the key pair on a read-only Secret mount.

deploy/kubernetes mounts the key Secret read-only with mode 0440 (root-owned, group-readable by
the pod's fsGroup, which is its runAsGroup) and does not mount the trust bundle in authsvc's pod.
Doctor must pass there -- it is the post-deploy check the docs give -- while a key readable by
others, or by a group the process is not in, still fails, and the same modes outside such a mount
still fail as before.  The kubelet's layout is built here as the kubelet writes it; the real
mount, under docker, is tests/e2e/test_kubernetes_pods.py.
"""

from __future__ import annotations

import os
import shutil

import pytest

from authsvc.services.operations import key_mounts
from tests.cli.test_doctor import doctor, only_failure, publish_bundle


def secret_volume(directory, files: dict, *, mode: int, gid: int | None = None):
    """The kubelet's atomic-writer layout: ``NAME -> ..data/NAME``, ``..data -> ..<timestamp>``,
    the real files in the timestamped directory with the volume's defaultMode."""
    stamped = directory / "..2026_11_30_10_00_00.000000001"
    stamped.mkdir(parents=True)
    for name, source in files.items():
        shutil.copyfile(source, stamped / name)
        os.chmod(stamped / name, mode)
        if gid is not None:
            os.chown(stamped / name, 0, gid)
        (directory / name).symlink_to(f"..data/{name}")
    (directory / "..data").symlink_to(stamped.name)
    return directory


@pytest.fixture
def mounted(cli, tmp_path, monkeypatch):
    """An installation whose settings point at the key pair in a Secret volume (as
    deploy/kubernetes' authsvc.toml does), mode 0440, group: this process's."""
    cli("user", "create", "root", "--admin", "--password-stdin", input="root-pass-1\n")
    data = tmp_path / "data"
    keys = secret_volume(tmp_path / "keys", {"signing.key": data / "signing.key", "signing.crt": data / "signing.crt"},
                         mode=0o440, gid=os.getegid() if os.geteuid() == 0 else None)
    monkeypatch.setenv("AUTHSVC_SIGNING_KEY", str(keys / "signing.key"))
    monkeypatch.setenv("AUTHSVC_SIGNING_CERT", str(keys / "signing.crt"))
    return keys


def test_the_documented_kubernetes_layout_passes(mounted):
    code, checks, result = doctor()
    assert code == 0, result.output
    assert {n: c["status"] for n, c in checks.items() if c["status"] != "ok"} == {"trust-bundle": "skip"}
    key = checks["key-permissions"]["detail"]
    assert "mode 0440 on a Kubernetes Secret volume (read-only)" in key and f"group {os.getegid()}" in key, key
    bundle = checks["trust-bundle"]["detail"]
    assert str(mounted / "trust-bundle.pem") in bundle and "--registry URL" in bundle, bundle


@pytest.mark.parametrize("mode", [0o444, 0o404, 0o460, 0o450], ids=lambda mode: f"{mode:04o}")
def test_a_secret_readable_by_others_or_writable_by_its_group_fails(cli, tmp_path, monkeypatch, mode):
    data = tmp_path / "data"
    keys = secret_volume(tmp_path / "keys", {"signing.key": data / "signing.key", "signing.crt": data / "signing.crt"},
                         mode=mode)
    monkeypatch.setenv("AUTHSVC_SIGNING_KEY", str(keys / "signing.key"))
    monkeypatch.setenv("AUTHSVC_SIGNING_CERT", str(keys / "signing.crt"))
    code, checks, _ = doctor()
    check = only_failure(checks, "key-permissions")
    assert code == 1 and f"mode {mode:04o}" in check["detail"]
    assert "defaultMode to 0440" in check["fix"] and "chmod" not in check["fix"], check["fix"]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file another group needs root")
def test_a_secret_readable_by_a_group_the_process_is_not_in_fails(cli, tmp_path, monkeypatch):
    data = tmp_path / "data"
    foreign = max({os.getegid(), *os.getgroups()}) + 4242
    keys = secret_volume(tmp_path / "keys", {"signing.key": data / "signing.key", "signing.crt": data / "signing.crt"},
                         mode=0o440, gid=foreign)
    monkeypatch.setenv("AUTHSVC_SIGNING_KEY", str(keys / "signing.key"))
    monkeypatch.setenv("AUTHSVC_SIGNING_CERT", str(keys / "signing.crt"))
    code, checks, _ = doctor()
    check = only_failure(checks, "key-permissions")
    assert code == 1 and f"readable by group {foreign}, which this process is not in" in check["detail"]


def test_the_same_mode_outside_a_secret_mount_still_fails(cli, tmp_path):
    publish_bundle(tmp_path / "data")
    os.chmod(tmp_path / "data" / "signing.key", 0o440)
    code, checks, _ = doctor()
    check = only_failure(checks, "key-permissions")
    assert code == 1 and "mode 0440: members of group" in check["detail"]
    assert check["fix"] == f"chmod 600 {tmp_path / 'data' / 'signing.key'}"


def test_a_symlink_that_only_looks_like_the_layout_is_no_secret_mount(cli, tmp_path, monkeypatch):
    """``NAME -> ..data/NAME`` without the ``..data`` link itself is not the kubelet's layout."""
    data = tmp_path / "data"
    keys = tmp_path / "keys"
    (keys / "..data").mkdir(parents=True)
    for name in ("signing.key", "signing.crt"):
        shutil.copyfile(data / name, keys / "..data" / name)
        (keys / name).symlink_to(f"..data/{name}")
    os.chmod(keys / "..data" / "signing.key", 0o440)
    monkeypatch.setenv("AUTHSVC_SIGNING_KEY", str(keys / "signing.key"))
    monkeypatch.setenv("AUTHSVC_SIGNING_CERT", str(keys / "signing.crt"))
    code, checks, _ = doctor()
    assert code == 1 and checks["key-permissions"]["status"] == "fail"
    assert checks["trust-bundle"]["status"] == "fail", "a missing bundle on a writable disk is a failure"


def test_a_read_only_filesystem_counts_as_such_a_mount(cli, tmp_path, monkeypatch):
    """`docker run -v keys:/etc/authsvc/keys:ro`, or a Secret mounted with subPath: no ``..data``
    layout, but a read-only filesystem (the e2e test mounts one for real; here statvfs says so)."""
    data = tmp_path / "data"
    os.chmod(data / "signing.key", 0o440)
    (data / "trust-bundle.pem").unlink(missing_ok=True)  # not on the read-only mount
    real_statvfs = os.statvfs

    def statvfs(path):
        result = real_statvfs(path)
        if str(path).startswith(str(data)):
            return os.statvfs_result((*result[:8], result.f_flag | os.ST_RDONLY, result.f_namemax))
        return result

    monkeypatch.setattr(key_mounts.os, "statvfs", statvfs)
    code, checks, result = doctor()
    assert code == 0, result.output
    assert "mode 0440 on a read-only filesystem" in checks["key-permissions"]["detail"]
    assert checks["trust-bundle"]["status"] == "skip"
    os.chmod(data / "signing.key", 0o444)
    code, checks, _ = doctor()
    check = only_failure(checks, "key-permissions")
    assert code == 1 and "mode 0400 (or 0440" in check["fix"] and "read-only filesystem" in check["fix"]
