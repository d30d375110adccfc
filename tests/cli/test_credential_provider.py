"""``authsvc credential-provider``, fed CredentialProviderRequest documents exactly as the kubelet
writes them (Go's encoding/json: compact, in the struct's field order, a trailing newline, and no
``serviceAccountToken`` at all when tokenAttributes is not configured), against an authsvc app
served over real HTTP on loopback and the real workload-identity issuer process.

The command runs with no authsvc settings in its environment, as on a node: it must not need them.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner
from werkzeug.serving import make_server

from authsvc import create_app
from authsvc.cli import main
from authsvc.cli.credential_provider import DEFAULT_ANNOTATION, credential_provider, split_image
from tests.cli.conftest import one_line_error
from tests.e2e.processes import free_port
from tests.support.token_issuer import running_issuer

AUDIENCE = "registry.test"
HOST = "registry.test:5000"
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "node" / "credential-provider-config.yaml"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    with running_issuer(tmp_path_factory.mktemp("issuer")) as running:
        yield running


@pytest.fixture
def authsvc(cli, issuer, monkeypatch):
    """A project with a pull robot trusting pods of namespace ci, service account builder, and the
    app serving it on a loopback port: the URL of its /token."""
    cli("user", "create", "alice", "--password-stdin", input="alice-pass-1\n")
    cli("project", "create", "priv", "--owner", "alice")
    cli("project", "create", "other", "--owner", "alice")
    cli("robot", "create", "priv", "puller", "--actions", "pull", "--expires-in", "30d")
    cli("issuer", "add", "cluster", "--issuer", issuer.url, "--audience", AUDIENCE)
    cli("robot", "trust", "add", "priv", "puller", "--issuer", "cluster",
        "--claim", "kubernetes.io/namespace=ci", "--claim", "kubernetes.io/serviceaccount/name=builder")
    app = create_app(serving=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The provider runs on a node: no authsvc setting reaches it.
    for name in list(os.environ):
        if name.startswith("AUTHSVC_"):
            monkeypatch.delenv(name)
    try:
        yield f"http://127.0.0.1:{server.server_port}/token"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def kubelet_request(image: str, token: str | None = None, annotations: dict | None = None) -> str:
    """What the kubelet writes on the plugin's stdin (the fields it omits when empty are absent)."""
    document = {"kind": "CredentialProviderRequest", "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                "image": image}
    if token:
        document["serviceAccountToken"] = token
    if annotations:
        document["serviceAccountAnnotations"] = annotations
    return json.dumps(document, separators=(",", ":")) + "\n"


def provide(token_url: str, stdin: str, *extra: str):
    return CliRunner().invoke(main, ["credential-provider", "--token-url", token_url, *extra], input=stdin,
                              catch_exceptions=False)


ROBOT = {DEFAULT_ANNOTATION: "robot.priv.puller"}


def test_a_pods_token_becomes_the_robots_login_for_the_image_within_the_tokens_life(authsvc, issuer):
    token = issuer.kubernetes(AUDIENCE, namespace="ci", service_account="builder")
    result = provide(authsvc, kubelet_request(f"{HOST}/priv/app:v1", token, ROBOT))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    answer = json.loads(result.stdout)
    assert answer["apiVersion"] == "credentialprovider.kubelet.k8s.io/v1"
    assert answer["kind"] == "CredentialProviderResponse" and answer["cacheKeyType"] == "Image"
    assert answer["auth"] == {f"{HOST}/priv/app": {"username": "robot.priv.puller", "password": token}}
    seconds = int(answer["cacheDuration"].removesuffix("s"))
    assert answer["cacheDuration"] == f"{seconds}s" and 0 < seconds < 300, answer

    # What containerd then does with them: Basic at /token, where the identity-token verifier checks.
    creds = answer["auth"][f"{HOST}/priv/app"]
    basic = base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
    granted = requests.get(authsvc, params={"service": "registry", "scope": "repository:priv/app:pull"},
                           headers={"Authorization": f"Basic {basic}"}, timeout=10)
    assert granted.status_code == 200, granted.text


def test_the_cache_duration_never_outlives_a_short_token(authsvc, issuer):
    token = issuer.sign({**issuer.claims(AUDIENCE, lifetime=40, sub="system:serviceaccount:ci:builder"),
                         "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder", "uid": "u"}}})
    result = provide(authsvc, kubelet_request(f"{HOST}/priv/app@sha256:{'a' * 64}", token, ROBOT))
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert int(answer["cacheDuration"].removesuffix("s")) <= 30, answer
    assert list(answer["auth"]) == [f"{HOST}/priv/app"], "a digest is no part of the auth key"


def test_an_older_kubelet_without_a_service_account_token_gets_a_clear_error(authsvc):
    result = provide(authsvc, kubelet_request(f"{HOST}/priv/app:v1"))
    one_line_error(result, "no serviceAccountToken")
    assert "tokenAttributes" in result.stderr and result.stdout == ""


def test_a_service_account_without_the_robot_annotation_is_refused(authsvc, issuer):
    token = issuer.kubernetes(AUDIENCE)
    result = provide(authsvc, kubelet_request(f"{HOST}/priv/app:v1", token, {"other/key": "x"}))
    one_line_error(result, DEFAULT_ANNOTATION)
    assert result.stdout == ""
    result = provide(authsvc, kubelet_request(f"{HOST}/priv/app:v1", token, {DEFAULT_ANNOTATION: "alice"}))
    one_line_error(result, "not a robot login")


def test_a_token_of_another_namespace_is_refused_by_authsvc(authsvc, issuer):
    token = issuer.kubernetes(AUDIENCE, namespace="prod", service_account="builder")
    result = provide(authsvc, kubelet_request(f"{HOST}/priv/app:v1", token, ROBOT))
    one_line_error(result, "authsvc refused the service account token for robot.priv.puller")
    assert result.stdout == ""


def test_a_token_for_another_audience_is_refused_by_authsvc(authsvc, issuer):
    token = issuer.kubernetes("someone-else")
    result = provide(authsvc, kubelet_request(f"{HOST}/priv/app:v1", token, ROBOT))
    one_line_error(result, "authsvc refused")


def test_an_image_of_a_project_the_robot_cannot_pull_gets_no_credentials(authsvc, issuer):
    token = issuer.kubernetes(AUDIENCE)
    result = provide(authsvc, kubelet_request(f"{HOST}/other/app:v1", token, ROBOT))
    one_line_error(result, "may not pull other/app")
    assert result.stdout == ""


def test_authsvc_unreachable_is_one_line(issuer, tmp_path):
    token = issuer.kubernetes(AUDIENCE)
    result = provide(f"http://127.0.0.1:{free_port()}/token", kubelet_request(f"{HOST}/priv/app:v1", token, ROBOT),
                     "--timeout", "3")
    one_line_error(result, "cannot reach authsvc")
    missing = provide("https://auth.test/token", kubelet_request(f"{HOST}/priv/app:v1", token, ROBOT),
                      "--ca-file", str(tmp_path / "nope.pem"))
    one_line_error(missing, "no such file")


@pytest.mark.parametrize(("stdin", "fragment"), [
    ("", "not a JSON"),
    ("{not json", "not a JSON"),
    ("[]", "not a CredentialProviderRequest"),
    ('{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1",'
     '"image":"registry.test/priv/app"}', "apiVersion"),
    ('{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}', "no image"),
    (kubelet_request("priv/app:v1", "eyJ.x.y", ROBOT), "names no registry host"),
    ("x" * 300_000, "longer than"),
])
def test_bad_requests_are_one_line_errors_without_a_network_call(stdin, fragment):
    result = provide("http://127.0.0.1:9/token", stdin)
    one_line_error(result, fragment)
    assert result.stdout == ""


@pytest.mark.parametrize(("image", "expected"), [
    ("registry.test/priv/app", ("registry.test", "priv/app")),
    ("registry.test:5000/priv/app:v1", ("registry.test:5000", "priv/app")),
    ("127.0.0.1:5000/team/sub/app:1.0@sha256:" + "b" * 64, ("127.0.0.1:5000", "team/sub/app")),
    ("localhost/priv/app", ("localhost", "priv/app")),
])
def test_images_split_into_host_and_repository(image, expected):
    assert split_image(image) == expected


def test_the_shipped_kubelet_config_matches_the_command():
    """deploy/kubernetes/node's example: the v1 schema's field names, and arguments this command takes."""
    config = yaml.safe_load(EXAMPLE.read_text())
    assert config["apiVersion"] == "kubelet.config.k8s.io/v1" and config["kind"] == "CredentialProviderConfig"
    (provider,) = config["providers"]
    assert set(provider) == {"name", "matchImages", "defaultCacheDuration", "apiVersion", "args", "tokenAttributes"}
    assert provider["name"] == "authsvc-credential-provider"
    assert provider["apiVersion"] == "credentialprovider.kubelet.k8s.io/v1"
    attributes = provider["tokenAttributes"]
    assert set(attributes) <= {"serviceAccountTokenAudience", "cacheType", "requireServiceAccount",
                               "requiredServiceAccountAnnotationKeys", "optionalServiceAccountAnnotationKeys"}
    assert attributes["requireServiceAccount"] is True and attributes["cacheType"] in ("Token", "ServiceAccount")
    assert DEFAULT_ANNOTATION in attributes["requiredServiceAccountAnnotationKeys"]
    assert provider["args"][0] == "credential-provider"
    context = credential_provider.make_context("credential-provider", list(provider["args"][1:]))
    assert context.params["robot_annotation"] == DEFAULT_ANNOTATION
    assert context.params["token_url"].endswith("/token")
