"""Build a tiny OCI image layout on disk, so the suite needs no network and no base image.

The layout (``oci-layout``, ``index.json``, ``blobs/sha256/...``) holds one
gzipped tar layer with a single text file, an image config whose
``rootfs.diff_ids`` names the uncompressed layer, and a manifest.  The text
file carries a caller-chosen marker, so every test pushes blobs the registry
has never seen: a push that "succeeds" because the blobs were already there
proves nothing about the push grant.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import tarfile
from pathlib import Path

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"

# docker and containerd pick the image for the host platform; a mismatch makes them refuse it.
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x"}.get(platform.machine(), platform.machine())


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer_tar(marker: str) -> bytes:
    """An uncompressed tar with ``/e2e-marker.txt`` holding ``marker`` (fixed mtimes: reproducible)."""
    content = f"authsvc e2e image {marker}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("e2e-marker.txt")
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def build_layout(directory: Path, tag: str, marker: str) -> str:
    """Write an OCI layout with one image tagged ``tag`` into ``directory``; return the manifest digest.

    Use the result as ``oci:DIRECTORY:TAG`` with skopeo.
    """
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> dict:
        digest = _sha256(data)
        (blobs / digest.split(":", 1)[1]).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    tar_bytes = _layer_tar(marker)
    layer = put(gzip.compress(tar_bytes, mtime=0))
    config = {
        "architecture": _ARCH,
        "os": "linux",
        "config": {"Cmd": ["/bin/true"], "Labels": {"e2e.marker": marker}},
        "rootfs": {"type": "layers", "diff_ids": [_sha256(tar_bytes)]},
        "history": [{"created_by": "authsvc e2e oci.build_layout"}],
    }
    config_ref = put(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, **config_ref},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, **layer}],
    }
    manifest_ref = put(json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": MANIFEST_MEDIA_TYPE, **manifest_ref,
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return manifest_ref["digest"]
