"""Projects and their members: every change goes through here, checked by ``core.policy``.

Each function takes the acting :class:`~authsvc.core.policy.Principal`: the
CLI passes ``OPERATOR`` (the person at the server's console), the REST API
passes the authenticated caller.  Visibility follows policy too: a private
project the actor may not see raises :class:`NotFound`, exactly as a project
that does not exist, so its existence never leaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from ..core.names import InvalidName, check_project_name
from ..core.policy import (OPERATOR, Permission, Principal, ProjectView, Role, allows, can_see,
                           may_create_projects, may_see_members)
from ..store.models import PRINCIPAL_NAME_MAX, Membership, Project, RetiredProjectName, User, db
from .accounts import get_user
from . import audit
from .context import current
from .errors import Conflict, Forbidden, Invalid, NotFound


@dataclass(frozen=True)
class MemberInfo:
    user: str
    role: Role


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise Invalid(f"unknown role {value[:40]!r}: choose one of {choices}", field="role") from None


def _role_of(actor: Principal, project: Project) -> Role | None:
    if actor == OPERATOR:
        return None  # the operator is not a user and holds no membership
    role = db.session.execute(
        select(Membership.role).join(User, Membership.user_id == User.id)
        .where(Membership.project_id == project.id, User.name == actor.subject)).scalar_one_or_none()
    return Role(role) if role else None


def _view(actor: Principal, project: Project) -> ProjectView:
    return ProjectView(project.name, project.is_public, _role_of(actor, project))


def _anonymous_pull() -> bool:
    return current().settings.anonymous_pull


def _visible(actor: Principal, name: str) -> tuple[Project, ProjectView]:
    project = db.session.execute(select(Project).where(Project.name == name)).scalar_one_or_none()
    view = _view(actor, project) if project is not None else None
    if project is None or not can_see(actor, view, anonymous_pull=_anonymous_pull()):
        raise NotFound(f"project {name[:80]!r} does not exist")
    return project, view


_DOING = {
    Permission.PULL: "pull from", Permission.PUSH: "push to", Permission.DELETE: "delete images of",
    Permission.MANAGE_MEMBERS: "manage the members of", Permission.MANAGE_PROJECT: "change or delete",
    Permission.MANAGE_ROBOTS: "manage the robots of",
}


def require_permission(actor: Principal, name: str, permission: Permission) -> Project:
    project, view = _visible(actor, name)
    if not allows(actor, view, permission, anonymous_pull=_anonymous_pull()):
        raise Forbidden(f"you may not {_DOING[permission]} project {name!r}")
    return project


def get_project(actor: Principal, name: str) -> tuple[Project, ProjectView]:
    return _visible(actor, name)


def list_projects(actor: Principal) -> list[tuple[Project, ProjectView]]:
    """Every project the actor may see: public ones, their own, or all for system admins.

    One query: projects left-joined with the actor's memberships.
    """
    actor_id = select(User.id).where(User.name == actor.subject).scalar_subquery()
    rows = db.session.execute(
        select(Project, Membership.role)
        .outerjoin(Membership, and_(Membership.project_id == Project.id, Membership.user_id == actor_id))
        .order_by(Project.name)).all()
    result = []
    anonymous_pull = _anonymous_pull()
    for project, role in rows:
        view = ProjectView(project.name, project.is_public, Role(role) if role else None)
        if can_see(actor, view, anonymous_pull=anonymous_pull):
            result.append((project, view))
    return result


def create_project(actor: Principal, name: str, *, public: bool, owner: str | None = None) -> Project:
    """Create a project; its owner (given, or else the acting user) becomes its Project Admin.

    The name of a deleted project stays reserved (see :func:`release_name`).
    """
    try:
        check_project_name(name)
    except InvalidName as exc:
        raise Invalid(str(exc), field="name") from None
    if not may_create_projects(actor, users_may_create=current().settings.project_creation == "everyone"):
        raise Forbidden("only system administrators may create projects")
    if owner is not None and owner != actor.subject and not actor.is_system_admin:
        raise Forbidden("only system administrators may create a project for another user")
    if owner is None and actor != OPERATOR:
        owner = actor.subject
    owner_user = get_user(owner) if owner is not None else None
    if db.session.execute(select(func.count()).select_from(Project).where(Project.name == name)).scalar():
        raise Conflict(f"project {name!r} already exists")
    if db.session.get(RetiredProjectName, name) is not None:
        raise Conflict(f"the name {name!r} belonged to a deleted project whose images may still be in the "
                       "registry; an operator must remove them and release the name first")
    project = Project(name=name, is_public=public, created_by=owner_user.id if owner_user else None)
    db.session.add(project)
    if owner_user is not None:
        db.session.add(Membership(project=project, user=owner_user, role=Role.ADMIN.value))
    audit.record(actor, "project.create", name, public=public, owner=owner)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"project {name!r} already exists") from None
    return project


def set_visibility(actor: Principal, name: str, public: bool) -> Project:
    project = require_permission(actor, name, Permission.MANAGE_PROJECT)
    project.is_public = public
    audit.record(actor, "project.visibility", name, public=public)
    db.session.commit()
    return project


def delete_project(actor: Principal, name: str) -> None:
    """Delete the project with its memberships and robots, and reserve its name.

    The images stay in the registry's storage, unreachable because no
    token names the project any more.  A new project of the same name would
    make them reachable to its members, so the name is retired until an
    operator has removed the images and calls :func:`release_name`.
    """
    project = require_permission(actor, name, Permission.MANAGE_PROJECT)
    db.session.delete(project)
    db.session.merge(RetiredProjectName(name=name, retired_by=actor.subject[:PRINCIPAL_NAME_MAX]))
    audit.record(actor, "project.delete", name)
    db.session.commit()


def release_name(actor: Principal, name: str) -> None:
    """Let a deleted project's name be used again (system administrators, after purging its images)."""
    if not actor.is_system_admin or actor.robot_scope is not None:
        raise Forbidden("only system administrators may release a deleted project's name")
    retired = db.session.get(RetiredProjectName, name)
    if retired is None:
        raise NotFound(f"{name[:80]!r} is not the name of a deleted project")
    db.session.delete(retired)
    audit.record(actor, "project.release_name", name)
    db.session.commit()


def list_members(actor: Principal, name: str) -> list[MemberInfo]:
    """Members are shown to the project's members and to system administrators."""
    project, view = _visible(actor, name)
    if not may_see_members(actor, view):
        raise Forbidden(f"only members of project {name!r} may list its members")
    rows = db.session.execute(
        select(User.name, Membership.role).join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project.id).order_by(User.name)).all()
    return [MemberInfo(user, Role(role)) for user, role in rows]


def get_member(actor: Principal, name: str, user_name: str) -> MemberInfo:
    """One member, under the same visibility rule as :func:`list_members`."""
    for member in list_members(actor, name):
        if member.user == user_name:
            return member
    raise NotFound(f"{user_name[:80]!r} is not a member of project {name!r}")


def _membership(project: Project, user: User) -> Membership | None:
    return db.session.execute(select(Membership).where(
        Membership.project_id == project.id, Membership.user_id == user.id)).scalar_one_or_none()


def _admin_count(project: Project) -> int:
    return db.session.execute(select(func.count()).select_from(Membership).where(
        Membership.project_id == project.id, Membership.role == Role.ADMIN.value)).scalar()


def add_member(actor: Principal, name: str, user_name: str, role: str) -> MemberInfo:
    parsed = parse_role(role)
    project = require_permission(actor, name, Permission.MANAGE_MEMBERS)
    user = get_user(user_name)
    if _membership(project, user) is not None:
        raise Conflict(f"{user_name!r} is already a member of project {name!r}")
    db.session.add(Membership(project_id=project.id, user_id=user.id, role=parsed.value))
    audit.record(actor, "member.add", f"{name}/{user_name}", role=parsed.value)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"{user_name!r} is already a member of project {name!r}") from None
    return MemberInfo(user.name, parsed)


def _existing_membership(actor: Principal, name: str, user_name: str) -> tuple[Project, Membership]:
    project = require_permission(actor, name, Permission.MANAGE_MEMBERS)
    user = get_user(user_name)
    membership = _membership(project, user)
    if membership is None:
        raise NotFound(f"{user_name!r} is not a member of project {name!r}")
    return project, membership


def _keep_an_admin(project: Project, membership: Membership) -> None:
    if membership.role == Role.ADMIN.value and _admin_count(project) <= 1:
        raise Conflict(f"project {project.name!r} must keep at least one Project Admin")


def set_role(actor: Principal, name: str, user_name: str, role: str) -> MemberInfo:
    parsed = parse_role(role)
    project, membership = _existing_membership(actor, name, user_name)
    if parsed != Role.ADMIN:
        _keep_an_admin(project, membership)
    membership.role = parsed.value
    audit.record(actor, "member.role", f"{name}/{user_name}", role=parsed.value)
    db.session.commit()
    return MemberInfo(user_name, parsed)


def remove_member(actor: Principal, name: str, user_name: str) -> None:
    project, membership = _existing_membership(actor, name, user_name)
    _keep_an_admin(project, membership)
    db.session.delete(membership)
    audit.record(actor, "member.remove", f"{name}/{user_name}")
    db.session.commit()


def project_summary(project: Project) -> dict:
    return {"name": project.name, "public": project.is_public,
            "created_at": project.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
