"""Keyless machines end to end: CI jobs and pods log in with the identity token they already hold.

A real workload-identity issuer process (tests/support/token_issuer.py) serves discovery and a
JWKS on loopback and mints tokens shaped like GitHub Actions', GitLab CI's and Kubernetes
service accounts'; authsvc under gunicorn (two workers) and the registry of each generation
trust it through ``authsvc issuer add`` and ``authsvc robot trust add``, exactly as an operator
and a Project Admin would.  The real docker, podman, skopeo and ctr present the token as the
robot's password; the kubelet's side is ``authsvc credential-provider`` fed a
CredentialProviderRequest as the kubelet writes it, its answer handed to ``ctr --user`` as
containerd gets it from the kubelet.

Three issuers per session: ``ci`` (a CI platform, keys by discovery), ``rotating`` (its own, so
that rotating its key cannot disturb the others' tests) and ``cluster`` (a cluster whose issuer
authsvc cannot reach: its JWKS stored, as ``kubectl get --raw /openid/v1/jwks`` prints it).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from joserfc.jwk import KeySet

from authsvc.services.authn.issuer_keys import REFETCH_SECONDS
from tests.support.token_issuer import Issuer, running_issuer

from .clients import ctr_pull, skopeo_inspect
from .machines import audit, robot
from .processes import denied, ok, run
from .stack import REPO_ROOT, Stack, User, clean_environ

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries, pytest.mark.usefixtures("rotation")]

CI_AUDIENCE = "authsvc-e2e"
CLUSTER_AUDIENCE = "registry-e2e"


def _start_issuer(stack_: contextlib.ExitStack, directory: Path) -> Issuer:
    failure = None
    try:
        return stack_.enter_context(running_issuer(directory))
    except RuntimeError as exc:
        failure = str(exc)
    pytest.fail(f"the token issuer did not start:\n{failure}", pytrace=False)


@dataclass
class Issuers:
    ci: Issuer
    rotating: Issuer
    cluster: Issuer


@pytest.fixture(scope="session")
def issuers(e2e_root: Path) -> Iterator[Issuers]:
    with contextlib.ExitStack() as running:
        yield Issuers(*(_start_issuer(running, e2e_root / f"issuer-{name}") for name in ("ci", "rotating", "cluster")))


@dataclass
class Trusted:
    """The names this stack trusts the session's issuers under."""

    ci: str
    rotating: str
    cluster: str


@pytest.fixture(scope="session")
def trusted(stack: Stack, issuers: Issuers) -> Trusted:
    names = Trusted(stack.unique("ci"), stack.unique("rot"), stack.unique("cluster"))
    stack.authsvc("issuer", "add", names.ci, "--issuer", issuers.ci.url, "--audience", CI_AUDIENCE)
    stack.authsvc("issuer", "add", names.rotating, "--issuer", issuers.rotating.url, "--audience", CI_AUDIENCE)
    jwks = stack.root / f"{names.cluster}-jwks.json"  # what `kubectl get --raw /openid/v1/jwks` prints
    jwks.write_text(json.dumps(KeySet(issuers.cluster.keys).as_dict(private=False)))
    stack.authsvc("issuer", "add", names.cluster, "--issuer", issuers.cluster.url, "--audience",
                  CLUSTER_AUDIENCE, "--jwks-file", str(jwks))
    return names


def trust(stack: Stack, project: str, name: str, issuer: str, *claims: str) -> int:
    """``authsvc robot trust add``; the new policy's id."""
    args = [arg for claim in claims for arg in ("--claim", claim)]
    rows = json.loads(stack.authsvc("robot", "trust", "add", project, name, "--issuer", issuer, *args,
                                    "--json").stdout)
    return rows[0]["id"]


def ci_robot(stack: Stack, trusted: Trusted, issuer: str, *, actions: str = "pull,push"):
    """A project of a fresh owner with an image, and a robot trusting the CI jobs of branch main of
    the GitHub repository ``acme/<project>``: (owner, project, ref, robot login, policy id)."""
    owner = stack.user("owner")
    project = stack.project("kl", owner=owner)
    ref = stack.push_image(project, "app", owner)
    bot = robot(stack, project, "ci", actions=actions)
    policy = trust(stack, project, "ci", issuer, f"sub=repo:acme/{project}:ref:refs/heads/main")
    return owner, project, ref, bot.name, policy


@dataclass
class Rotation:
    robot: str
    project: str
    ref: str
    first_job_done: float


@pytest.fixture(scope="session")
def rotation(stack: Stack, trusted: Trusted, issuers: Issuers) -> Rotation:
    """A first job with the rotating issuer's first key, done when the module's first test starts:
    a worker that fetched the keys for it refetches for an unknown ``kid`` only
    :data:`REFETCH_SECONDS` later, and the rotation test waits for that instant from here."""
    _, project, ref, login, _ = ci_robot(stack, trusted, trusted.rotating, actions="pull")
    token = issuers.rotating.github(CI_AUDIENCE, repository=f"acme/{project}")
    ok(skopeo_inspect(stack, ref, User(login, token)), "the first job, with the issuer's first key")
    return Rotation(login, project, ref, time.time())


def test_a_ci_jobs_token_pushes_and_pulls_with_docker_podman_and_skopeo(stack, docker, podman, trusted, issuers):
    _, project, ref, login, policy = ci_robot(stack, trusted, trusted.ci)
    job = User(login, issuers.ci.github(CI_AUDIENCE, repository=f"acme/{project}"))

    client = docker()
    ok(client.login(job), "docker login -u robot.P.N --password-stdin with the job's identity token")
    assert not client.stored_auth().get("identitytoken"), "an identity-token login gets no refresh token"
    ok(client("pull", ref), "the CI job pulls as its push robot")
    pushed = f"{stack.host}/{project}/fromci:v1"
    ok(client("tag", ref, pushed))
    ok(client("push", pushed), "and pushes")

    pod = podman()
    ok(pod.login(job), "podman login with an identity token")
    ok(pod.pull(pushed), "podman pulls what docker pushed")
    ok(skopeo_inspect(stack, pushed, job), "skopeo --creds robot.P.N:TOKEN")

    used = audit(stack, actor=login, action="robot.identity_token")
    assert used and used[0]["details"]["policy"] == policy, used
    assert used[0]["details"]["matched"] == [f"sub=repo:acme/{project}:ref:refs/heads/main"], used


def test_a_gitlab_jobs_token_matches_a_project_path_and_ref_policy(stack, trusted, issuers):
    owner = stack.user("owner")
    project = stack.project("kl", owner=owner)
    ref = stack.push_image(project, "app", owner)
    bot = robot(stack, project, "gl")
    trust(stack, project, "gl", trusted.ci, f"project_path=acme/{project}", "ref=main")
    ok(skopeo_inspect(stack, ref, User(bot.name, issuers.ci.gitlab(CI_AUDIENCE, project_path=f"acme/{project}"))))
    denied(skopeo_inspect(stack, ref, User(bot.name, issuers.ci.gitlab(
        CI_AUDIENCE, project_path=f"acme/{project}", ref="feature"))), "a GitLab job of another branch")


def test_the_token_for_another_project_branch_or_audience_is_refused(stack, docker, trusted, issuers):
    _, project, ref, login, _ = ci_robot(stack, trusted, trusted.ci)
    _, theirs, theirs_ref, their_login, _ = ci_robot(stack, trusted, trusted.ci)
    ci = issuers.ci
    good = ci.github(CI_AUDIENCE, repository=f"acme/{project}")
    ok(skopeo_inspect(stack, ref, User(login, good)), "the matching job's token works")

    denied(docker().login(User(their_login, good)), "this repository's job token as another project's robot")
    denied(skopeo_inspect(stack, theirs_ref, User(their_login, good)), "the same with skopeo")
    denied(skopeo_inspect(stack, theirs_ref, User(login, good)), "the robot itself never reaches another project")
    branch = ci.github(CI_AUDIENCE, repository=f"acme/{project}", ref="refs/heads/dev")
    denied(docker().login(User(login, branch)), "a job of another branch")
    audience = ci.github("someone-else", repository=f"acme/{project}")
    denied(skopeo_inspect(stack, ref, User(login, audience)), "a token for another audience")
    both = ci.sign(ci.claims([CI_AUDIENCE, "someone-else"], sub=f"repo:acme/{project}:ref:refs/heads/main"))
    denied(skopeo_inspect(stack, ref, User(login, both)), "an audience list naming others beside ours")


def test_an_expired_token_is_refused(stack, trusted, issuers):
    _, project, ref, login, _ = ci_robot(stack, trusted, trusted.ci, actions="pull")
    sub = f"repo:acme/{project}:ref:refs/heads/main"
    for margin in (3, 6, 12):  # seen working before its exp; a loaded machine gets a longer margin
        claims = issuers.ci.claims(CI_AUDIENCE, lifetime=margin, sub=sub)
        token = issuers.ci.sign(claims)
        working = skopeo_inspect(stack, ref, User(login, token))
        if time.time() < claims["exp"]:
            break
    else:
        pytest.fail("three rounds could not pull before the token expired: machine too loaded")
    ok(working, "the token works until its exp")
    while time.time() <= claims["exp"]:  # the known instant it expires, not a guess
        time.sleep(min(0.2, max(claims["exp"] - time.time(), 0) + 0.01))
    denied(skopeo_inspect(stack, ref, User(login, token)), "the same token after its exp")
    past = issuers.ci.sign({**issuers.ci.claims(CI_AUDIENCE, sub=sub), "exp": int(time.time()) - 600})
    denied(skopeo_inspect(stack, ref, User(login, past)), "a token expired ten minutes ago")


@pytest.mark.database  # the CLI's write reaches every worker at once, on either database
def test_removing_the_policy_refuses_the_next_login(stack, docker, trusted, issuers):
    _, project, ref, login, policy = ci_robot(stack, trusted, trusted.ci)
    job = User(login, issuers.ci.github(CI_AUDIENCE, repository=f"acme/{project}"))
    client = docker()
    ok(client.login(job))
    ok(client("pull", ref))

    stack.authsvc("robot", "trust", "remove", project, "ci", str(policy))

    denied(client("pull", ref), "docker still sends the job's token from config.json")
    denied(client.login(job), "docker login with the token of a policy removed")
    fresh = User(login, issuers.ci.github(CI_AUDIENCE, repository=f"acme/{project}"))
    denied(skopeo_inspect(stack, ref, fresh), "the next job's fresh token")


def test_a_pods_token_through_the_credential_provider_lets_containerd_pull(stack, dockerd, trusted, issuers):
    owner = stack.user("owner")
    project = stack.project("kl", owner=owner)
    ref = stack.push_image(project, "app", owner)
    bot = robot(stack, project, "node")
    namespace = stack.unique("ns")
    trust(stack, project, "node", trusted.cluster, f"kubernetes.io/namespace={namespace}",
          "kubernetes.io/serviceaccount/name=builder")

    token = issuers.cluster.kubernetes(CLUSTER_AUDIENCE, namespace=namespace, service_account="builder")
    answer = provide(stack, ref, token, bot.name)
    ok(answer, "the credential provider answers for the pod's service account")
    response = json.loads(answer.stdout)
    assert response["kind"] == "CredentialProviderResponse" and response["cacheKeyType"] == "Image", response
    key = f"{stack.host}/{project}/app"
    assert list(response["auth"]) == [key], response
    creds = response["auth"][key]
    assert creds == {"username": bot.name, "password": token}, response
    assert 0 < int(response["cacheDuration"].removesuffix("s")) < 300, response
    ok(ctr_pull(stack, dockerd, ref, User(creds["username"], creds["password"])),
       "containerd pulls a private image with what the kubelet got from the provider")

    other = issuers.cluster.kubernetes(CLUSTER_AUDIENCE, namespace=stack.unique("ns"), service_account="builder")
    refused = provide(stack, ref, other, bot.name)
    assert refused.returncode != 0 and refused.stdout == "", refused
    assert len(refused.stderr.strip().splitlines()) == 1 and "refused" in refused.stderr, refused.stderr
    denied(ctr_pull(stack, dockerd, ref, User(bot.name, other)), "another namespace's token at /token itself")


def provide(stack: Stack, image: str, token: str, login: str):
    """``authsvc credential-provider`` as the kubelet runs it on a node: no authsvc settings in
    its environment, a request as the kubelet writes it on stdin."""
    request = json.dumps({"kind": "CredentialProviderRequest", "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                          "image": image, "serviceAccountToken": token,
                          "serviceAccountAnnotations": {"authsvc.dev/robot": login}}, separators=(",", ":"))
    node = clean_environ({"PYTHONPATH": str(REPO_ROOT)})
    return run([stack.bin["authsvc"], "credential-provider", "--token-url", stack.realm, "--service", "registry"],
               env=node, input=request + "\n")


def test_after_the_issuer_rotates_its_key_the_next_job_works_without_a_restart(stack, docker, issuers, rotation):
    master = stack.gunicorn.proc.pid
    issuers.rotating.rotate()  # the new key published, the old one gone, as a platform rotates
    # Every worker refetches for the new kid once the rate limit since its last fetch has lapsed.
    ready = rotation.first_job_done + REFETCH_SECONDS + 0.5
    while time.time() < ready:  # the known instant, not a guess
        time.sleep(min(1.0, max(ready - time.time(), 0) + 0.01))

    job = User(rotation.robot, issuers.rotating.github(CI_AUDIENCE, repository=f"acme/{rotation.project}"))
    client = docker()
    ok(client.login(job), "the next job's token, signed with the new key")
    ok(client("pull", rotation.ref), "and its pull")
    ok(skopeo_inspect(stack, rotation.ref, job))
    assert stack.gunicorn.proc.poll() is None and stack.gunicorn.proc.pid == master, "authsvc was not restarted"
