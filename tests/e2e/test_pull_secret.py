"""``authsvc pull-secret``: the generated Secret works in every container runtime, and no further.

The manifest is parsed as kubectl would (YAML, then base64 of
``data['.dockerconfigjson']``), and the decoded config is handed, unchanged,
to each runtime the way a node or a developer would: to docker as
``$DOCKER_CONFIG/config.json``, to podman and skopeo as ``--authfile``, and to
containerd as ``ctr --user`` with the username and password it holds (the
CRI plugin does the same with an imagePullSecret).  The secret's robot can
pull the project's private images but push only when it was given push.
"""

from __future__ import annotations

import base64

import pytest

from .clients import ctr_pull, skopeo, skopeo_inspect
from .machines import pull_secret, robot
from .processes import denied, ok

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]


def test_a_new_robots_pull_secret_pulls_everywhere_but_cannot_push(stack, docker, podman, dockerd):
    owner, other = stack.user("owner"), stack.user("other")
    project = stack.project("k8s", owner=owner)
    ref = stack.push_image(project, "app", owner)
    theirs_ref = stack.push_image(stack.project("theirs", owner=other), "app", other)
    namespace = stack.unique("ns")

    secret = pull_secret(stack, project, "--namespace", namespace, "--create-robot", "--expires-in", "30d")
    assert secret.manifest["metadata"] == {"name": f"{project}-pull", "namespace": namespace}, secret.manifest
    assert secret.creds.name == f"robot.{project}.pull-{namespace}", secret.entry
    assert base64.b64decode(secret.entry["auth"]).decode() == secret.creds.creds, "auth must match user:pass"

    # docker, with the secret as its whole config.json
    client = docker()
    (client.config_dir / "config.json").write_text(secret.config_text())
    ok(client("pull", ref), "docker pulls with the pull secret as config.json")
    target = f"{stack.host}/{project}/fromdocker:v1"
    ok(client("tag", ref, target))
    denied(client("push", target), "the pull secret's robot must not push with docker")
    denied(client("pull", theirs_ref), "the pull secret reaches no other private project")

    # podman, with the secret as its --authfile
    pod = podman()
    pod.authfile.write_text(secret.config_text())
    ok(pod.pull(ref), "podman pulls with the pull secret as --authfile")
    target = f"{stack.host}/{project}/frompodman:v1"
    ok(pod("tag", ref, target))
    denied(pod.push(target), "the pull secret's robot must not push with podman")

    # skopeo, with the same file
    ok(skopeo(stack, "inspect", "--tls-verify=false", "--authfile", str(pod.authfile), f"docker://{ref}"),
       "skopeo reads with the pull secret as --authfile")
    denied(skopeo(stack, "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                  "--src-authfile", str(pod.authfile), "--dest-authfile", str(pod.authfile),
                  f"docker://{ref}", f"docker://{stack.host}/{project}/fromskopeo:v1"),
           "the pull secret's robot must not push with skopeo")

    # containerd, with the username and password from the secret
    ok(ctr_pull(stack, dockerd, ref, secret.creds), "containerd pulls with the pull secret's credentials")


def test_a_pull_secret_for_a_push_robot_re_keys_it_and_pushes(stack, docker, dockerd):
    """Only a secret's hash is stored, so a pull secret for an existing robot re-keys it: the robot's
    old secret (a CI variable, an older Secret) stops working, and the new Secret carries whatever the
    robot was given -- here push too."""
    owner = stack.user("owner")
    project = stack.project("k8s", owner=owner)
    ref = stack.push_image(project, "app", owner)
    pusher = robot(stack, project, "ci", actions="pull,push")
    ok(skopeo_inspect(stack, ref, pusher), "the robot's first secret works")

    secret = pull_secret(stack, project, "--namespace", stack.unique("ns"), "--name", "ci-push",
                         "--robot", "ci")
    assert secret.manifest["metadata"]["name"] == "ci-push", secret.manifest
    assert secret.creds.name == pusher.name and secret.creds.password != pusher.password, secret.entry

    denied(skopeo_inspect(stack, ref, pusher), "the robot's old secret died with the re-key")
    denied(ctr_pull(stack, dockerd, ref, pusher), "a node holding the old secret")

    client = docker()
    (client.config_dir / "config.json").write_text(secret.config_text())
    ok(client("pull", ref), "docker pulls with the new pull secret")
    target = f"{stack.host}/{project}/fromsecret:v1"
    ok(client("tag", ref, target))
    ok(client("push", target), "the secret of a pull,push robot pushes")
    ok(skopeo_inspect(stack, target, owner), "the push landed in the registry")
    ok(ctr_pull(stack, dockerd, target, secret.creds), "containerd pulls what the secret pushed")
