"""``authsvc credential-provider``: the kubelet's image credential provider (exec plugin,
``credentialprovider.kubelet.k8s.io/v1``), so that a pod pulls with its own service account.

The kubelet (1.33+, with ``tokenAttributes`` in its CredentialProviderConfig) runs this on the
node for every image that matches, with a ``CredentialProviderRequest`` on stdin: the image,
the pod's service-account token (audience: authsvc's), and the annotations of the service
account it was told to pass (``authsvc.dev/robot: robot.PROJECT.NAME``).  The plugin exchanges
the token at authsvc's /token (RFC 8693) for a pull of the image's repository, only to learn
that a trust policy of that robot matches and how long the answer lives; it then hands the
kubelet the robot's login with the *service-account token* as the password.  containerd
presents those as Basic at /token at every pull, where the identity-token verifier checks them
again -- so the kubelet's cache never holds anything that outlives the pod's token, and
nothing on the node is a stored secret.

A node has no authsvc database or settings: this command never builds the app, it only speaks
HTTP.  Every failure is one line on stderr and exit status 1 with nothing on stdout, which the
kubelet logs and treats as "no credentials from this plugin".
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys

import click
import requests

from ..core.names import parse_robot_login
from .common import fail

API_VERSION = "credentialprovider.kubelet.k8s.io/v1"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
#: The kubelet's request is a few kilobytes; anything much larger is not one.
MAX_REQUEST = 256 * 1024
DEFAULT_ANNOTATION = "authsvc.dev/robot"


class ProviderError(Exception):
    """Why no credentials can be given: the one line the kubelet logs."""


def read_request(text: str) -> dict:
    """The ``CredentialProviderRequest`` as the kubelet writes it, checked field by field."""
    try:
        request = json.loads(text)
    except ValueError:
        raise ProviderError("stdin is not a JSON CredentialProviderRequest") from None
    if not isinstance(request, dict) or request.get("kind") != "CredentialProviderRequest":
        raise ProviderError("stdin is not a CredentialProviderRequest (kind)")
    if request.get("apiVersion") != API_VERSION:
        raise ProviderError(f"apiVersion {str(request.get('apiVersion'))[:60]!r} is not supported: set "
                            f"apiVersion: {API_VERSION} for this provider in the CredentialProviderConfig")
    if not isinstance(request.get("image"), str) or not request["image"]:
        raise ProviderError("the request names no image")
    token = request.get("serviceAccountToken")
    if not isinstance(token, str) or not token:
        raise ProviderError("the request carries no serviceAccountToken: the kubelet sends one only with "
                            "tokenAttributes.serviceAccountTokenAudience in its CredentialProviderConfig "
                            "(Kubernetes 1.33 or later)")
    annotations = request.get("serviceAccountAnnotations") or {}
    if not isinstance(annotations, dict):
        raise ProviderError("serviceAccountAnnotations is not a map")
    return request


def split_image(image: str) -> tuple[str, str]:
    """(registry host, repository) of an image reference, without its tag or digest."""
    name = image.split("@", 1)[0]
    host, slash, path = name.partition("/")
    if not slash or not ("." in host or ":" in host or host == "localhost"):
        raise ProviderError(f"image {image[:200]!r} names no registry host")
    last = path.rsplit("/", 1)
    if ":" in last[-1]:
        path = path[:len(path) - len(last[-1])] + last[-1].split(":", 1)[0]
    if not path:
        raise ProviderError(f"image {image[:200]!r} names no repository")
    return host, path


def robot_of(annotations: dict, key: str) -> str:
    robot = annotations.get(key)
    if not isinstance(robot, str) or not robot:
        raise ProviderError(f"the pod's service account has no annotation {key} naming the robot it acts as "
                            "(robot.PROJECT.NAME); list it in tokenAttributes of the CredentialProviderConfig")
    if parse_robot_login(robot.lower()) is None:
        raise ProviderError(f"annotation {key} is {robot[:100]!r}, not a robot login (robot.PROJECT.NAME)")
    return robot


def _refusal(response: requests.Response) -> str:
    try:
        error = response.json()["errors"][0]
        return f"{error['code']}: {error['message']}"[:300]
    except (ValueError, KeyError, IndexError, TypeError):
        return f"HTTP {response.status_code}"


def _granted_actions(token: str, repository: str) -> set[str]:
    """The actions on ``repository`` in authsvc's registry token (read only, not verified: it came
    from authsvc over the connection just checked, and the registry verifies it anyway)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return {action for entry in claims.get("access", [])
                if entry.get("type") == "repository" and entry.get("name") == repository
                for action in entry.get("actions", [])}
    except (IndexError, ValueError, binascii.Error, AttributeError, TypeError):
        raise ProviderError("authsvc's answer holds no registry token") from None


def exchange(token_url: str, service: str, robot: str, token: str, repository: str, *,
             verify: str | bool, timeout: float) -> int:
    """The token exchange for a pull of ``repository`` as ``robot``; the answer's ``expires_in``."""
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": token, "subject_token_type": JWT_TOKEN_TYPE,
            "requested_subject": robot, "service": service, "scope": f"repository:{repository}:pull"}
    try:
        response = requests.post(token_url, data=form, timeout=timeout, verify=verify, allow_redirects=False)
    except requests.RequestException as exc:
        raise ProviderError(f"cannot reach authsvc at {token_url}: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
    if response.status_code != 200:
        raise ProviderError(f"authsvc refused the service account token for {robot} "
                            f"({_refusal(response)})")
    try:
        body = response.json()
        expires_in, registry_token = int(body["expires_in"]), str(body["token"])
    except (ValueError, KeyError, TypeError):
        raise ProviderError(f"{token_url} did not answer like authsvc's /token") from None
    if "pull" not in _granted_actions(registry_token, repository):
        raise ProviderError(f"{robot} may not pull {repository} (authsvc granted no pull)")
    return expires_in


def cache_seconds(expires_in: int) -> int:
    """How long the kubelet may reuse the credentials: within the token's life, with a margin
    for the pull itself (a tenth, at least 10 s); 0 (no caching) for a token about to end."""
    return max(0, expires_in - max(10, expires_in // 10))


def response_document(host: str, repository: str, robot: str, token: str, expires_in: int) -> dict:
    return {"apiVersion": API_VERSION, "kind": "CredentialProviderResponse", "cacheKeyType": "Image",
            "cacheDuration": f"{cache_seconds(expires_in)}s",
            "auth": {f"{host}/{repository}": {"username": robot, "password": token}}}


@click.command("credential-provider")
@click.option("--token-url", required=True, help="authsvc's token endpoint (https://auth.example.com/token).")
@click.option("--service", default="registry", show_default=True, help="The registry's service name.")
@click.option("--robot-annotation", default=DEFAULT_ANNOTATION, show_default=True,
              help="The service-account annotation naming the robot (robot.PROJECT.NAME).")
@click.option("--ca-file", help="CA bundle for authsvc's certificate (default: the system's CAs).")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for authsvc.")
def credential_provider(token_url, service, robot_annotation, ca_file, timeout) -> None:
    """The kubelet's image credential provider: a pod's service-account token as a robot's login.

    Reads a CredentialProviderRequest on stdin, writes a CredentialProviderResponse on stdout."""
    try:
        if ca_file and not os.path.isfile(ca_file):
            raise ProviderError(f"--ca-file {ca_file}: no such file")
        text = sys.stdin.read(MAX_REQUEST + 1)
        if len(text) > MAX_REQUEST:
            raise ProviderError(f"the request on stdin is longer than {MAX_REQUEST} characters")
        request = read_request(text)
        host, repository = split_image(request["image"])
        robot = robot_of(request.get("serviceAccountAnnotations") or {}, robot_annotation)
        token = request["serviceAccountToken"]
        expires_in = exchange(token_url, service, robot, token, repository,
                              verify=ca_file or True, timeout=timeout)
    except ProviderError as exc:
        fail(str(exc))
    click.echo(json.dumps(response_document(host, repository, robot, token, expires_in)))
