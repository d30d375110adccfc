"""The repository inventory against the real registries (2.8.2 and 3.1.1): their notifications, not our idea.

The stack's registry is configured by ``authsvc registry-config`` with the notifications endpoint
(the stack sets ``notification_secret``), so every push and delete below reaches authsvc the way
it would in production: asynchronously, one event per request, from the registry's own queue.
The tests therefore wait on what authsvc reports (the REST API), with a deadline, never sleep.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from . import oci
from .clients import skopeo, skopeo_delete
from .processes import ok
from .stack import Stack, User

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
#: The registry delivers within milliseconds when authsvc answers; this bounds a broken pipeline.
DELIVERY_DEADLINE = 30


def api(stack: Stack, path: str, user: User | None = None) -> tuple[int, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{stack.auth_port}/api/v1{path}")
    if user is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(user.creds.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def tags_of(stack: Stack, repository: str, user: User) -> dict[str, dict] | None:
    """The repository's tags as authsvc lists them, or None while it lists no such repository."""
    project, _, path = repository.partition("/")
    status, body = api(stack, f"/projects/{project}/repositories/{path}/tags?page_size=100", user)
    if status == 404:
        return None
    assert status == 200, body
    return {tag["name"]: tag for tag in body}


def eventually(what: str, probe: Callable[[], object], stack: Stack):
    """Poll ``probe`` until it returns something true, or fail after DELIVERY_DEADLINE seconds."""
    deadline = time.monotonic() + DELIVERY_DEADLINE
    delay = 0.05
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            registry_log = stack.registry.log_tail(20) if stack.registry else ""
            raise AssertionError(f"not within {DELIVERY_DEADLINE}s: {what}\n--- authsvc log ---\n"
                                 f"{stack.log_tail(20)}\n--- registry log ---\n{registry_log}")
        time.sleep(delay)  # polling interval, not a wait for delivery
        delay = min(delay * 2, 0.5)


def test_a_docker_push_is_listed_and_a_skopeo_delete_removes_it(stack, docker):
    owner, dev, maintainer = stack.user("owner"), stack.user("dev"), stack.user("maint")
    outsider = stack.user("outsider")
    project = stack.project("priv", owner=owner, members={dev: "developer", maintainer: "maintainer"})
    base = stack.push_image(project, "base", owner)  # skopeo: an OCI manifest

    client = docker()
    ok(client.login(dev))
    ok(client("pull", base))
    pushed = f"{stack.host}/{project}/team/app:v1"
    ok(client("tag", base, pushed))
    output = ok(client("push", pushed), "a developer pushes with docker").stdout
    digest, size = re.search(r"v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)", output).groups()

    repository = f"{project}/team/app"
    listed = eventually(f"{repository}:v1 listed", lambda: (tags_of(stack, repository, owner) or {}).get("v1"), stack)
    assert (listed["digest"], listed["size"], listed["pushed_by"]) == (digest, int(size), dev.name)
    assert listed["media_type"] == DOCKER_MANIFEST, listed  # dockerd pushes Docker schema 2
    base_tags = eventually("the skopeo push listed", lambda: tags_of(stack, f"{project}/base", owner), stack)
    assert base_tags["v1"]["media_type"] == oci.MANIFEST_MEDIA_TYPE and base_tags["v1"]["pushed_by"] == owner.name

    # The CLI shows the same; the project's visibility holds for the inventory.
    names = [r["name"] for r in json.loads(stack.authsvc("repo", "list", project, "--json").stdout)]
    assert names == [f"{project}/base", repository]
    assert [t["digest"] for t in json.loads(stack.authsvc("tag", "list", repository, "--json").stdout)] == [digest]
    assert api(stack, f"/projects/{project}/repositories", outsider)[0] == 404
    assert api(stack, f"/projects/{project}/repositories/team/app/tags")[0] == 404

    ok(skopeo_delete(stack, pushed, maintainer), "a maintainer deletes with skopeo")
    eventually(f"{repository} gone", lambda: tags_of(stack, repository, owner) is None, stack)
    status, body = api(stack, f"/projects/{project}/repositories", dev)
    assert status == 200 and [r["name"] for r in body] == [f"{project}/base"]


def _index_layout(directory: Path, tag: str) -> str:
    """An OCI layout whose tag names a one-platform image index; return the index digest."""
    child = oci.build_layout(directory, "child", marker=directory.name)
    blobs = directory / "blobs" / "sha256"
    size = (blobs / child.split(":", 1)[1]).stat().st_size
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": oci.MANIFEST_MEDIA_TYPE, "digest": child, "size": size,
         "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    (blobs / digest.split(":", 1)[1]).write_bytes(index)
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_INDEX, "digest": digest, "size": len(index),
         "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return digest


def test_indexes_of_both_families_are_listed_with_their_media_type(stack):
    owner = stack.user("owner")
    project = stack.project("pub", public=True, owner=owner)
    layout = stack.root / "layouts" / stack.unique("index")
    digest = _index_layout(layout, "multi")
    for repo, extra in (("oci", []), ("docker", ["--format", "v2s2"])):
        ok(skopeo(stack, "copy", "--all", *extra, "--dest-tls-verify=false", "--dest-creds", owner.creds,
                  f"oci:{layout}:multi", f"docker://{stack.host}/{project}/{repo}:multi"))

    oci_tags = eventually("the OCI index listed", lambda: tags_of(stack, f"{project}/oci", owner), stack)
    assert (oci_tags["multi"]["digest"], oci_tags["multi"]["media_type"]) == (digest, OCI_INDEX)
    docker_tags = eventually("the manifest list listed", lambda: tags_of(stack, f"{project}/docker", owner), stack)
    assert docker_tags["multi"]["media_type"] == DOCKER_LIST
    # A public project's inventory is anyone's to read, but not who pushed.
    status, body = api(stack, f"/projects/{project}/repositories/oci/tags")
    assert status == 200 and body[0]["digest"] == digest and body[0]["pushed_by"] is None
