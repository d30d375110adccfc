"""Kubernetes image pull secrets backed by a robot account, never by a person's password.

The manifest is a ``kubernetes.io/dockerconfigjson`` Secret whose
``.dockerconfigjson`` holds ``username``, ``password`` and ``auth`` for the
registry host — the shape kubelet, containerd, docker and podman all read.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from ...core.credential_secrets import digest as secret_digest
from ...core.names import ROBOT_NAME_MAX, robot_login
from ...core.policy import Principal
from ..errors import Forbidden, Invalid, storable
from ..unit_of_work import UnitOfWork
from . import robots

# Applied with fullmatch (and \Z in the look-ahead): "$" would let "ns\n" through.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")


@dataclass(frozen=True)
class PullSecret:
    login: str
    manifest: str        # YAML, ready for kubectl apply -f -
    dockerconfigjson: dict


def docker_config(host: str, login: str, secret: str) -> dict:
    auth = base64.b64encode(f"{login}:{secret}".encode()).decode()
    return {"auths": {host: {"username": login, "password": secret, "auth": auth}}}


def manifest(*, name: str, namespace: str, config: dict) -> str:
    encoded = base64.b64encode(json.dumps(config, separators=(",", ":")).encode()).decode()
    return ("apiVersion: v1\nkind: Secret\nmetadata:\n"
            f"  name: {name}\n  namespace: {namespace}\n"
            "type: kubernetes.io/dockerconfigjson\n"
            f"data:\n  .dockerconfigjson: {encoded}\n")


def default_robot_name(namespace: str) -> str:
    """``pull-<namespace>`` in the robot grammar; long names keep a hash so they stay distinct."""
    name = "pull-" + re.sub("-+", "-", namespace).strip("-")
    if len(name) > ROBOT_NAME_MAX:
        digest = hashlib.sha256(namespace.encode()).hexdigest()[:8]
        name = name[:ROBOT_NAME_MAX - 9].rstrip("-") + "-" + digest
    return name


def issue(uow: UnitOfWork, actor: Principal, project: str, *, namespace: str, registry_host: str | None = None,
          name: str | None = None, robot: str | None = None, create_robot: bool = False, actions: str = "pull",
          expires_at: dt.datetime | None = None, never_expires: bool = False) -> PullSecret:
    """A pull secret for ``project``: for a new robot (``create_robot``), or for an existing one,
    which is re-keyed because only a secret's hash is stored (its old secret stops working).
    ``registry_host`` defaults to the ``registry_host`` setting."""
    registry_host, secret_name = _check_target(project, namespace, registry_host, name, robot, uow.settings)
    if create_robot:
        robot_name = robot or default_robot_name(namespace)
        created = robots.create(uow, actor, project, robot_name, actions=actions, expires_at=expires_at,
                                never_expires=never_expires,
                                description=f"image pull secret for namespace {namespace}")
    elif robot is not None:
        created = robots.rekey(uow, actor, project, robot)
    else:
        raise Invalid("name an existing robot or ask for a new one", field="robot")
    config = docker_config(registry_host, created.login, created.secret)
    return PullSecret(created.login, manifest(name=secret_name, namespace=namespace, config=config), config)


def for_presented_secret(uow: UnitOfWork, actor: Principal, project: str, robot: str, secret: str, *,
                         namespace: str, registry_host: str | None = None) -> PullSecret:
    """The pull secret of an existing robot whose secret the caller just saw (the console's
    "download" after creating or re-keying it): nothing is re-keyed, since the caller holds the
    secret; it must be that robot's current secret (compared in constant time), and the caller
    must still manage the project's robots."""
    registry_host, secret_name = _check_target(project, namespace, registry_host, None, robot, uow.settings)
    row = robots.get(uow, actor, project, robot)
    storable(secret, "secret")
    if not hmac.compare_digest(row.secret_hash, secret_digest(secret)):
        raise Forbidden("that is not this robot's current secret; re-key the robot for a new one", field="secret")
    login = robot_login(project, row.name)
    config = docker_config(registry_host, login, secret)
    return PullSecret(login, manifest(name=secret_name, namespace=namespace, config=config), config)


def _check_target(project: str, namespace: str, registry_host: str | None, name: str | None,
                  robot: str | None, settings) -> tuple[str, str]:
    """The registry host and the Secret's name, every input checked (a 400 naming the field)."""
    registry_host = registry_host or settings.registry_host
    for field, value in (("namespace", namespace), ("registry", registry_host), ("name", name), ("robot", robot)):
        storable(value, field)  # a lone surrogate from argv or JSON is a 400, not a failed SQL lookup
    if not _DNS_LABEL.fullmatch(namespace or ""):
        raise Invalid(f"invalid Kubernetes namespace {namespace[:80]!r}", field="namespace")
    if not registry_host or not _HOST.fullmatch(registry_host):
        raise Invalid("the registry host (host[:port]) is required: set registry_host or pass it",
                      field="registry")
    secret_name = name or f"{re.sub('[^a-z0-9]+', '-', project)}-pull"
    if not _DNS_SUBDOMAIN.fullmatch(secret_name):
        raise Invalid(f"invalid Kubernetes secret name {secret_name[:80]!r}", field="name")
    return registry_host, secret_name
