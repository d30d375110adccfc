"""Robot accounts against the real registry and every real client.

A robot logs in as ``robot.<project>.<name>`` wherever a user name goes:
``docker login``, podman, skopeo ``--creds`` and containerd's ``--user`` (the
POST password grant).  It holds only the actions it was given, on its own
project only (plus pull on public projects, like anyone).  It never gets a
refresh token, so docker keeps its secret in config.json and sends it with
every token request -- which is what lets a disable, re-key or delete refuse
the very next pull of a docker that logged in long before.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from .clients import ctr_pull, skopeo_delete, skopeo_inspect
from .machines import api, audit, rekey, robot
from .processes import denied, ok
from .stack import User

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]


def token_requests_since(stack, mark: int) -> list[str]:
    return [line for line in stack.log_since(mark).splitlines() if "/token" in line]


def test_a_robot_logs_in_with_docker_podman_skopeo_and_containerd(stack, docker, podman, dockerd):
    owner = stack.user("owner")
    project = stack.project("robo", owner=owner)
    ref = stack.push_image(project, "app", owner)
    ci = robot(stack, project, "ci", actions="pull,push")
    assert ci.name == f"robot.{project}.ci"

    client = docker()
    ok(client.login(ci), "docker login as a robot")
    entry = client.stored_auth()
    assert not entry.get("identitytoken"), f"a robot login must get no refresh token: {entry}"
    assert client.stored_user_and_password() == (ci.name, ci.password), "docker keeps the robot's secret"
    ok(client("pull", ref), "the robot pulls from its project with docker")
    pushed = f"{stack.host}/{project}/byrobot:v1"
    ok(client("tag", ref, pushed))
    ok(client("push", pushed), "a pull,push robot pushes to its project with docker")

    pod = podman()
    ok(pod.login(ci), "podman login as a robot")
    ok(pod.pull(pushed), "the robot pulls with podman what it pushed with docker")
    ok(skopeo_inspect(stack, pushed, ci), "skopeo --creds with the robot's login")

    mark = stack.log_mark()
    ok(ctr_pull(stack, dockerd, pushed, ci), "containerd pulls with --user robot.P.N:SECRET")
    requests = token_requests_since(stack, mark)
    assert requests and all('"POST /token ' in line and '" 200 ' in line for line in requests), (
        "containerd should have been served by the POST password grant:\n" + "\n".join(requests))

    grants = audit(stack, actor=ci.name, action="token.grant")
    assert grants and {g["actor"] for g in grants} == {ci.name}, grants
    granted = [s for g in grants for s in g["details"]["granted"]]
    assert any(s.startswith(f"repository:{project}/byrobot:") and "push" in s.rsplit(":", 1)[1]
               for s in granted), f"no push grant to the robot on record: {granted}"
    assert any(g["details"]["client"] == "docker" for g in grants), grants


def test_a_robot_holds_only_its_actions_and_only_on_its_own_project(stack, docker):
    owner, other = stack.user("owner"), stack.user("other")
    project = stack.project("robo", owner=owner)
    theirs = stack.project("theirs", owner=other)
    public = stack.project("pub", public=True, owner=other)
    ref = stack.push_image(project, "app", owner)
    theirs_ref = stack.push_image(theirs, "app", other)
    public_ref = stack.push_image(public, "app", other)
    reader = robot(stack, project, "reader")
    writer = robot(stack, project, "writer", actions="pull,push")

    reading, writing = docker(), docker()
    ok(reading.login(reader))
    ok(writing.login(writer))
    ok(reading("pull", ref), "a pull robot pulls its project")
    target = f"{stack.host}/{project}/fresh:v1"
    ok(reading("tag", ref, target))
    denied(reading("push", target), "a pull-only robot must not push")
    ok(writing("push", target), "a pull,push robot pushes the same tag")
    denied(skopeo_delete(stack, target, writer), "a robot without delete must not delete")

    for name, client in (("reader", reading), ("writer", writing)):
        denied(client("pull", theirs_ref), f"the {name} robot must not reach another private project")
        ok(client("pull", public_ref), f"the {name} robot pulls a public project of others, like anyone")
        for elsewhere in (public, theirs):
            foreign = f"{stack.host}/{elsewhere}/by{name}:v1"
            ok(client("tag", ref, foreign))
            denied(client("push", foreign), f"the {name} robot must not push to {elsewhere}")


@pytest.mark.database  # the CLI's write reaches every worker at once, on either database
def test_disabling_a_robot_refuses_a_logged_in_docker_at_once(stack, docker, dockerd):
    owner = stack.user("owner")
    project = stack.project("robo", owner=owner)
    ref = stack.push_image(project, "app", owner)
    public_ref = stack.push_image(stack.project("pub", public=True, owner=owner), "app", owner)
    bot = robot(stack, project, "deploy")
    client = docker()
    ok(client.login(bot))
    ok(client("pull", ref))
    ok(ctr_pull(stack, dockerd, ref, bot))

    stack.authsvc("robot", "disable", project, "deploy")

    denied(client("pull", ref), "docker still sends the disabled robot's secret from config.json")
    denied(client("pull", public_ref), "a refused robot is not downgraded to anonymous on a public project")
    denied(skopeo_inspect(stack, ref, bot), "skopeo as a disabled robot")
    denied(ctr_pull(stack, dockerd, ref, bot), "a node pulling as a disabled robot")
    assert audit(stack, actor=bot.name, action="login.failure"), "the refused robot logins are on record"

    stack.authsvc("robot", "enable", project, "deploy")
    ok(client("pull", ref), "enabling the robot again restores the same docker login")


def test_re_keying_a_robot_refuses_the_old_secret_at_once(stack, docker, dockerd):
    owner = stack.user("owner")
    project = stack.project("robo", owner=owner)
    ref = stack.push_image(project, "app", owner)
    old = robot(stack, project, "ci")
    client = docker()
    ok(client.login(old))
    ok(client("pull", ref))

    new = rekey(stack, project, "ci")
    assert new.name == old.name and new.password != old.password

    denied(client("pull", ref), "docker holding the old secret")
    denied(skopeo_inspect(stack, ref, old), "skopeo with the old secret")
    denied(ctr_pull(stack, dockerd, ref, old), "a node with the old secret")
    denied(client.login(old), "docker login with the old secret")
    ok(client.login(new))
    ok(client("pull", ref), "the new secret works at once")
    ok(ctr_pull(stack, dockerd, ref, new))


def test_deleting_a_robot_refuses_it_at_once_and_a_new_robot_of_that_name_has_a_new_secret(stack, docker):
    owner = stack.user("owner")
    project = stack.project("robo", owner=owner)
    ref = stack.push_image(project, "app", owner)
    bot = robot(stack, project, "ci")
    client = docker()
    ok(client.login(bot))
    ok(client("pull", ref))

    stack.authsvc("robot", "delete", project, "ci")

    denied(client("pull", ref), "docker holding a deleted robot's secret")
    denied(skopeo_inspect(stack, ref, bot), "skopeo as a deleted robot")

    reborn = robot(stack, project, "ci")
    assert reborn.name == bot.name
    denied(client("pull", ref), "the deleted robot's secret must not work for the new robot of that name")
    ok(skopeo_inspect(stack, ref, reborn))


def test_an_expired_robot_is_refused_on_the_next_pull(stack, docker):
    """``authsvc robot create`` takes whole minutes at least, so this robot is made by its Project
    Admin through the REST API, which takes an exact ``expires_at``, a few seconds ahead.

    The robot must be seen working before it expires; on a machine too loaded for that within the
    margin, another round gets a fresh robot and a longer margin instead of a flaky verdict.
    (The expiry rule itself, at every boundary, is tested in-process in tests/http.)
    """
    owner = stack.user("owner")
    project = stack.project("robo", owner=owner)
    ref = stack.push_image(project, "app", owner)
    for margin in (4, 8, 16):
        expires = int(time.time()) + 1 + margin
        stamp = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status, body = api(stack, "POST", f"/projects/{project}/robots", owner,
                           {"name": f"short-{margin}", "actions": ["pull"], "expires_at": stamp})
        assert status == 201, body
        assert body["expires_at"] == stamp, body
        bot = User(body["login"], body["secret"])
        client = docker()
        results = [client.login(bot), client("pull", ref)]
        if time.time() < expires:
            break
    else:
        pytest.fail("three rounds could not log in and pull before the robot expired: machine too loaded")
    for result in results:
        ok(result, "the robot works until it expires")

    while time.time() <= expires:  # wait for the known instant the robot expires, not a guess
        time.sleep(min(0.2, max(expires - time.time(), 0) + 0.01))

    denied(client("pull", ref), "docker holding an expired robot's secret")
    denied(skopeo_inspect(stack, ref, bot), "skopeo as an expired robot")
