"""Robot accounts: per-project machine credentials, managed by the project's admins.

A robot logs in as ``robot.<project>.<name>`` with a random secret shown
once at creation or re-keying.  Its authority is a :class:`RobotScope` —
some of pull/push/delete on its own project — and it can never administer
anything.  Expired, disabled or deleted robots are refused at once: every
token request reads the robot's row (``authn/robot.py`` checks the secret;
this module only manages robots).  Making or re-keying a secret needs a
caller who logged in with a password (``core.policy.may_create_credentials``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...core.credential_secrets import digest, new_secret
from ...core.names import InvalidName, check_robot_name, robot_login
from ...core.policy import ROBOT_PERMISSIONS, Permission, Principal, may_create_credentials
from ...store.models import PRINCIPAL_NAME_MAX, Project, Robot, utcnow
from .. import audit
from ..access.projects import require_permission
from ..errors import Conflict, Forbidden, Invalid, NotFound, storable
from ..unit_of_work import UnitOfWork


@dataclass(frozen=True)
class CreatedRobot:
    login: str
    secret: str  # shown once; only its hash is stored
    robot: Robot


def parse_actions(actions: str | list[str]) -> frozenset[Permission]:
    """``"pull,push"`` or ``["pull"]`` to permissions; only registry actions are allowed."""
    items = actions.split(",") if isinstance(actions, str) else list(actions)
    items = [a.strip() for a in items if a.strip()]
    allowed = {p.value for p in ROBOT_PERMISSIONS}
    unknown = [a for a in items if a not in allowed]
    if not items or unknown:
        raise Invalid(f"robot actions must be some of {', '.join(sorted(allowed))}", field="actions")
    return frozenset(Permission(a) for a in items)


def _actions_text(permissions: frozenset[Permission]) -> str:
    return ",".join(p.value for p in (Permission.PULL, Permission.PUSH, Permission.DELETE) if p in permissions)


def _require_password_login(actor: Principal) -> None:
    if not may_create_credentials(actor):
        raise Forbidden("making a robot secret needs a login with a password, not a token")


def check_expiry(expires_at: dt.datetime | None, never_expires: bool) -> dt.datetime | None:
    """Every machine credential expires unless its creator explicitly asked for one that never does."""
    if never_expires == (expires_at is not None):
        raise Invalid("give an expiry time, or ask explicitly for a robot that never expires",
                      field="expires_at")
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("the expiry must be in the future", field="expires_at")
    return expires_at


def find(uow: UnitOfWork, project: Project, name: str) -> Robot:
    """The project's robot of that name (the caller has checked its right to the project)."""
    robot = uow.session.execute(select(Robot).where(Robot.project_id == project.id,
                                                   Robot.name == name)).scalar_one_or_none()
    if robot is None:
        raise NotFound(f"robot {name[:40]!r} does not exist in project {project.name!r}")
    return robot


def create(uow: UnitOfWork, actor: Principal, project_name: str, name: str, *, actions: str | list[str],
           expires_at: dt.datetime | None = None, never_expires: bool = False,
           description: str = "") -> CreatedRobot:
    """Create a robot that expires at ``expires_at``, or never when ``never_expires`` says so."""
    try:
        check_robot_name(name)
    except InvalidName as exc:
        raise Invalid(str(exc), field="name") from None
    permissions = parse_actions(actions)
    check_expiry(expires_at, never_expires)
    project = require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS)
    _require_password_login(actor)
    secret = new_secret()
    robot = Robot(project_id=project.id, name=name, secret_hash=digest(secret),
                  actions=_actions_text(permissions), description=storable(description, "description", 300),
                  expires_at=expires_at,
                  disabled=False, created_by=actor.subject[:PRINCIPAL_NAME_MAX])
    uow.session.add(robot)
    login = robot_login(project.name, name)
    audit.record(uow, actor, "robot.create", login, actions=robot.actions,
                 expires_at=expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") if expires_at else None)
    try:
        uow.session.flush()
    except IntegrityError:  # a concurrent create won the race; the adapter rolls the unit back
        raise Conflict(f"robot {name!r} already exists in project {project_name!r}") from None
    return CreatedRobot(login, secret, robot)


def list_robots(uow: UnitOfWork, actor: Principal, project_name: str) -> list[Robot]:
    project = require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS)
    return list(uow.session.execute(select(Robot).where(Robot.project_id == project.id)
                                   .order_by(Robot.name)).scalars())


def get(uow: UnitOfWork, actor: Principal, project_name: str, name: str) -> Robot:
    return find(uow, require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS), name)


def set_disabled(uow: UnitOfWork, actor: Principal, project_name: str, name: str, disabled: bool) -> Robot:
    project = require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS)
    robot = find(uow, project, name)
    robot.disabled = disabled
    audit.record(uow, actor, "robot.disable" if disabled else "robot.enable", robot_login(project.name, name))
    return robot


def rekey(uow: UnitOfWork, actor: Principal, project_name: str, name: str) -> CreatedRobot:
    """A new secret; the old one stops working at once."""
    project = require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS)
    _require_password_login(actor)
    robot = find(uow, project, name)
    secret = new_secret()
    robot.secret_hash = digest(secret)
    login = robot_login(project.name, name)
    audit.record(uow, actor, "robot.rekey", login)
    return CreatedRobot(login, secret, robot)


def delete(uow: UnitOfWork, actor: Principal, project_name: str, name: str) -> None:
    project = require_permission(uow, actor, project_name, Permission.MANAGE_ROBOTS)
    uow.session.delete(find(uow, project, name))
    audit.record(uow, actor, "robot.delete", robot_login(project.name, name))


def robot_summary(robot: Robot, project_name: str) -> dict:
    return {
        "name": robot.name,
        "login": robot_login(project_name, robot.name),
        "actions": robot.actions.split(","),
        "description": robot.description,
        "expires_at": robot.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") if robot.expires_at else None,
        "disabled": robot.disabled,
        "created_by": robot.created_by,
        "created_at": robot.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
