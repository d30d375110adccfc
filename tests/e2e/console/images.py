"""An image in the test's dockerd without any registry: the state a developer starts the seed guide in.

``docker tag SOURCE_IMAGE`` needs an image the daemon already holds.  There is no internet, so it
is built here: an OCI layout (:mod:`tests.e2e.oci`, a marker that makes every one unique), turned
into a ``docker-archive`` by skopeo, and ``docker load``-ed.  Unique per call, so no push can be
satisfied by blobs an earlier test left in a registry.
"""

from __future__ import annotations

from .. import oci
from ..processes import ok
from ..stack import DockerDaemon, Stack


def local_image(stack: Stack, daemon: DockerDaemon, base: str = "app") -> str:
    """Load a never-seen image into ``daemon``; return its local name (``console-e2e/NAME:v1``)."""
    name = stack.unique(base)
    layout = stack.root / "layouts" / name
    oci.build_layout(layout, "v1", marker=name)
    archive = layout.with_suffix(".tar")
    reference = f"console-e2e/{name}:v1"
    ok(stack.client([stack.bin["skopeo"], "copy", f"oci:{layout}:v1", f"docker-archive:{archive}:{reference}"]),
       "building a local image for docker")
    ok(daemon.docker("load", "-i", str(archive)), "docker load of the local image")
    return reference
