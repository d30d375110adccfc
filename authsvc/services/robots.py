"""Robot accounts: per-project machine credentials, managed by the project's admins.

A robot logs in as ``robot.<project>.<name>`` with a random secret shown
once at creation or re-keying.  Its authority is a :class:`RobotScope` —
some of pull/push/delete on its own project — and it can never administer
anything.  Expired, disabled or deleted robots are refused at once: every
token request reads the robot's row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..core.names import InvalidName, check_robot_name, robot_login
from ..core.policy import ROBOT_PERMISSIONS, Permission, Principal, RobotScope
from ..store.models import PRINCIPAL_NAME_MAX, Project, Robot, db, utcnow
from . import audit
from .errors import Conflict, Invalid, NotFound, storable
from .projects import require_permission

SECRET_BYTES = 32


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


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _find(project: Project, name: str) -> Robot:
    robot = db.session.execute(select(Robot).where(Robot.project_id == project.id,
                                                   Robot.name == name)).scalar_one_or_none()
    if robot is None:
        raise NotFound(f"robot {name[:40]!r} does not exist in project {project.name!r}")
    return robot


def create(actor: Principal, project_name: str, name: str, *, actions: str | list[str],
           expires_at: dt.datetime | None, description: str = "") -> CreatedRobot:
    """Create a robot; ``expires_at=None`` means no expiry, which callers must ask for explicitly."""
    try:
        check_robot_name(name)
    except InvalidName as exc:
        raise Invalid(str(exc), field="name") from None
    permissions = parse_actions(actions)
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("the expiry must be in the future", field="expires_at")
    project = require_permission(actor, project_name, Permission.MANAGE_ROBOTS)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    robot = Robot(project_id=project.id, name=name, secret_hash=hash_secret(secret),
                  actions=_actions_text(permissions), description=storable(description, "description", 300),
                  expires_at=expires_at,
                  disabled=False, created_by=actor.subject[:PRINCIPAL_NAME_MAX])
    db.session.add(robot)
    login = robot_login(project.name, name)
    audit.record(actor, "robot.create", login, actions=robot.actions,
                 expires_at=expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") if expires_at else None)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"robot {name!r} already exists in project {project_name!r}") from None
    return CreatedRobot(login, secret, robot)


def list_robots(actor: Principal, project_name: str) -> list[Robot]:
    project = require_permission(actor, project_name, Permission.MANAGE_ROBOTS)
    return list(db.session.execute(select(Robot).where(Robot.project_id == project.id)
                                   .order_by(Robot.name)).scalars())


def get(actor: Principal, project_name: str, name: str) -> Robot:
    return _find(require_permission(actor, project_name, Permission.MANAGE_ROBOTS), name)


def set_disabled(actor: Principal, project_name: str, name: str, disabled: bool) -> Robot:
    project = require_permission(actor, project_name, Permission.MANAGE_ROBOTS)
    robot = _find(project, name)
    robot.disabled = disabled
    audit.record(actor, "robot.disable" if disabled else "robot.enable", robot_login(project.name, name))
    db.session.commit()
    return robot


def rekey(actor: Principal, project_name: str, name: str) -> CreatedRobot:
    """A new secret; the old one stops working at once."""
    project = require_permission(actor, project_name, Permission.MANAGE_ROBOTS)
    robot = _find(project, name)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    robot.secret_hash = hash_secret(secret)
    login = robot_login(project.name, name)
    audit.record(actor, "robot.rekey", login)
    db.session.commit()
    return CreatedRobot(login, secret, robot)


def delete(actor: Principal, project_name: str, name: str) -> None:
    project = require_permission(actor, project_name, Permission.MANAGE_ROBOTS)
    db.session.delete(_find(project, name))
    audit.record(actor, "robot.delete", robot_login(project.name, name))
    db.session.commit()


def principal_for(row, secret: str) -> Principal | None:
    """The robot's principal if ``secret`` is right and the robot usable now, else None.

    ``row`` is the robot's row joined with its project's name (store.queries.robot_by_login).
    """
    if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(secret)):
        return None
    if row.disabled or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    scope = RobotScope(row.project_name, frozenset(Permission(a) for a in row.actions.split(",") if a))
    return Principal(robot_login(row.project_name, row.name), robot_scope=scope)


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
