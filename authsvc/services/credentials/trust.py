"""Trusted issuers and robots' trust policies: who may act as a robot without its secret.

A **trusted issuer** (system administrators only: it decides whose tokens count at all) is a CI
platform's or a cluster's OIDC issuer with the audience its tokens must carry here.  A **trust
policy** (whoever may manage the project's robots) lets that issuer's tokens whose claims match
its conditions act as one robot -- with the robot's own actions, never more.  Adding a policy
makes a credential, so it needs a password login, as making a robot secret does; every change
is audited.  Identity tokens are checked by services/authn/identity_token.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ...core.claim_conditions import Condition, InvalidCondition, conditions
from ...core.names import InvalidName, check_project_name, robot_login
from ...core.policy import Permission, Principal, may_create_credentials, may_manage_users
from ...store.models import PRINCIPAL_NAME_MAX, RobotTrustPolicy, TrustedIssuer
from .. import audit
from ..access.projects import require_permission
from ..authn.issuer_keys import UnusableKeys, parse_jwks
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..unit_of_work import UnitOfWork
from .robots import find as find_robot

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class PolicyInfo:
    id: int
    robot: str
    issuer: str
    conditions: tuple[Condition, ...]
    created_by: str
    created_at: object
    last_used_at: object


def _require_admin(actor: Principal) -> None:
    if not may_manage_users(actor):
        raise Forbidden("only system administrators may manage trusted issuers")


def _require_password_login(actor: Principal) -> None:
    if not may_create_credentials(actor):
        raise Forbidden("a trust policy is a credential: adding one needs a login with a password, not a token")


def check_issuer_url(url: str) -> str:
    """An issuer as tokens name it: ``https://`` (``http://`` only on loopback, for tests)."""
    if not isinstance(url, str) or len(url) > 250:
        raise Invalid("the issuer must be a URL of at most 250 characters", field="issuer")
    parts = urlsplit(url)
    if not parts.hostname or parts.query or parts.fragment or not url.isprintable() or " " in url:
        raise Invalid("the issuer must be a URL such as https://token.actions.githubusercontent.com", field="issuer")
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise Invalid("the issuer must be an https:// URL (http:// only on this host's loopback)", field="issuer")
    return url


def _check_audience(audience: str) -> str:
    if not isinstance(audience, str) or not audience or len(audience) > 200 or not audience.isprintable():
        raise Invalid("the audience must be 1 to 200 printable characters (what the tokens' aud must be)",
                      field="audience")
    return audience


def _checked_jwks(jwks: str | None) -> str | None:
    if jwks is None:
        return None
    try:
        parse_jwks(jwks)
    except UnusableKeys as exc:
        raise Invalid(str(exc), field="jwks") from None
    return jwks


def _issuer(uow: UnitOfWork, name: str) -> TrustedIssuer:
    found = uow.session.execute(select(TrustedIssuer).where(TrustedIssuer.name == str(name)[:64])).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no trusted issuer is named {str(name)[:64]!r}")
    return found


def add_issuer(uow: UnitOfWork, actor: Principal, name: str, issuer: str, audience: str, *,
               jwks: str | None = None) -> TrustedIssuer:
    _require_admin(actor)
    try:
        check_project_name(name)
    except InvalidName as exc:
        raise Invalid(str(exc).replace("project", "issuer"), field="name") from None
    row = TrustedIssuer(name=name, issuer=check_issuer_url(issuer), audience=_check_audience(audience),
                        jwks=_checked_jwks(jwks), created_by=actor.subject[:PRINCIPAL_NAME_MAX])
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict(f"a trusted issuer named {name!r} or with issuer {issuer!r} already exists") from None
    audit.record(uow, actor, "issuer.add", name, issuer=issuer, audience=audience, stored_keys=jwks is not None)
    return row


def list_issuers(uow: UnitOfWork, actor: Principal) -> list[tuple[TrustedIssuer, int]]:
    """Every trusted issuer with how many policies use it."""
    _require_admin(actor)
    counts = (select(RobotTrustPolicy.issuer_id, func.count().label("n")).group_by(RobotTrustPolicy.issuer_id)
              .subquery())
    rows = uow.session.execute(select(TrustedIssuer, func.coalesce(counts.c.n, 0))
                               .outerjoin(counts, counts.c.issuer_id == TrustedIssuer.id).order_by(TrustedIssuer.name))
    return [(row[0], row[1]) for row in rows]


def set_issuer_keys(uow: UnitOfWork, actor: Principal, name: str, jwks: str | None) -> TrustedIssuer:
    """Replace the stored JWKS (a cluster rotated its service-account key), or drop it (None:
    fetch the keys from the issuer's discovery document from now on)."""
    _require_admin(actor)
    row = _issuer(uow, name)
    row.jwks = _checked_jwks(jwks)
    audit.record(uow, actor, "issuer.keys", name, stored_keys=jwks is not None)
    return row


def remove_issuer(uow: UnitOfWork, actor: Principal, name: str) -> None:
    _require_admin(actor)
    row = _issuer(uow, name)
    used = uow.session.execute(select(func.count()).select_from(RobotTrustPolicy)
                               .where(RobotTrustPolicy.issuer_id == row.id)).scalar()
    if used:
        raise Conflict(f"issuer {name!r} is used by {used} trust polic{'y' if used == 1 else 'ies'}: remove them "
                       "first (authsvc robot trust list), so that no pipeline stops unannounced")
    uow.session.delete(row)
    audit.record(uow, actor, "issuer.remove", name)


def issuer_choices(uow: UnitOfWork, actor: Principal, project_name: str) -> list[tuple[str, str, str]]:
    """``(name, issuer, audience)`` of every trusted issuer, for whoever manages the project's
    robots: they must name an issuer in a policy and give its audience to their CI job, but
    :func:`list_issuers` (with keys and use counts) is for system administrators only."""
    require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS)
    rows = uow.session.execute(select(TrustedIssuer.name, TrustedIssuer.issuer, TrustedIssuer.audience)
                               .order_by(TrustedIssuer.name))
    return [(name, issuer, audience) for name, issuer, audience in rows]


def _info(policy: RobotTrustPolicy, login: str, issuer: str) -> PolicyInfo:
    return PolicyInfo(policy.id, login, issuer, conditions(json.loads(policy.conditions)), policy.created_by,
                      policy.created_at, policy.last_used_at)


def add_policy(uow: UnitOfWork, actor: Principal, project_name: str, robot_name: str, issuer_name: str,
               condition_texts: list[str]) -> PolicyInfo:
    """Let tokens of ``issuer_name`` whose claims match every condition act as the robot."""
    project = require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS)
    _require_password_login(actor)
    robot = find_robot(uow, project, robot_name)
    try:
        parsed = conditions(condition_texts)
    except InvalidCondition as exc:
        raise Invalid(str(exc), field="conditions") from None
    try:
        issuer = _issuer(uow, issuer_name)
    except NotFound as exc:
        raise Invalid(exc.message + " (authsvc issuer list)", field="issuer") from None
    policy = RobotTrustPolicy(robot_id=robot.id, issuer_id=issuer.id, conditions=json.dumps([str(c) for c in parsed]),
                              created_by=actor.subject[:PRINCIPAL_NAME_MAX])
    uow.session.add(policy)
    uow.session.flush()
    login = robot_login(project.name, robot.name)
    audit.record(uow, actor, "robot.trust.add", login, policy=policy.id, issuer=issuer.name,
                 conditions=[str(c) for c in parsed])
    return _info(policy, login, issuer.name)


def list_policies(uow: UnitOfWork, actor: Principal, project_name: str, robot_name: str) -> list[PolicyInfo]:
    project = require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS)
    robot = find_robot(uow, project, robot_name)
    rows = uow.session.execute(select(RobotTrustPolicy, TrustedIssuer.name)
                               .join(TrustedIssuer, TrustedIssuer.id == RobotTrustPolicy.issuer_id)
                               .where(RobotTrustPolicy.robot_id == robot.id).order_by(RobotTrustPolicy.id))
    login = robot_login(project.name, robot.name)
    return [_info(policy, login, issuer) for policy, issuer in rows]


def remove_policy(uow: UnitOfWork, actor: Principal, project_name: str, robot_name: str, policy_id: int) -> None:
    project = require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS)
    robot = find_robot(uow, project, robot_name)
    policy = uow.session.execute(select(RobotTrustPolicy).where(
        RobotTrustPolicy.id == policy_id, RobotTrustPolicy.robot_id == robot.id)).scalar_one_or_none()
    if policy is None:
        raise NotFound(f"robot {robot_name!r} has no trust policy {policy_id}")
    uow.session.delete(policy)
    audit.record(uow, actor, "robot.trust.remove", robot_login(project.name, robot.name), policy=policy_id)


__all__ = ["PolicyInfo", "add_issuer", "add_policy", "check_issuer_url", "issuer_choices", "list_issuers",
           "list_policies", "remove_issuer", "remove_policy", "set_issuer_keys"]
