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

from ...core.names import InvalidName, check_project_name
from ...core.policy import (
    OPERATOR,
    Permission,
    Principal,
    ProjectView,
    Role,
    allows,
    can_see,
    may_create_projects,
    may_see_members,
    role_with_groups,
)
from ...store.models import PRINCIPAL_NAME_MAX, GroupMembership, Membership, Project, RetiredProjectName, User
from .. import audit
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..unit_of_work import UnitOfWork
from .accounts import get_user


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


def _role_of(uow: UnitOfWork, actor: Principal, project: Project) -> Role | None:
    if actor == OPERATOR:
        return None  # the operator is not a user and holds no membership
    role = uow.session.execute(
        select(Membership.role).join(User, Membership.user_id == User.id)
        .where(Membership.project_id == project.id, User.name == actor.subject)).scalar_one_or_none()
    own = Role(role) if role else None
    return role_with_groups(own, group_roles(uow, actor).get(project.id, ()), actor.groups)


def group_roles(uow: UnitOfWork, actor: Principal) -> dict[int, list[tuple[str, Role]]]:
    """The roles the actor's directory groups hold, by project id (nothing to read for callers
    in no group: local users, robots, the operator)."""
    if not actor.groups or actor.robot_scope is not None:
        return {}
    roles: dict[int, list[tuple[str, Role]]] = {}
    for project_id, group, role in uow.session.execute(
            select(GroupMembership.project_id, GroupMembership.group_name, GroupMembership.role)
            .where(GroupMembership.group_name.in_(sorted(actor.groups)))):
        roles.setdefault(project_id, []).append((group, Role(role)))
    return roles


def own_roles(uow: UnitOfWork, actor: Principal) -> dict[int, Role]:
    """The actor's own memberships by project id, without what directory groups lend.

    A view's ``role`` is the effective one (``core.policy.role_with_groups``), which is what
    the actor may do; this is the membership an admin of the project granted them by name, which
    the API shows beside it so that a group-only member can tell the two apart."""
    if actor == OPERATOR or actor.robot_scope is not None or actor.is_anonymous:
        return {}
    return {project_id: Role(role) for project_id, role in uow.session.execute(
        select(Membership.project_id, Membership.role).join(User, Membership.user_id == User.id)
        .where(User.name == actor.subject))}


def _view(uow: UnitOfWork, actor: Principal, project: Project) -> ProjectView:
    return ProjectView(project.name, project.is_public, _role_of(uow, actor, project))


def _visible(uow: UnitOfWork, actor: Principal, name: str) -> tuple[Project, ProjectView]:
    project = uow.session.execute(select(Project).where(Project.name == name)).scalar_one_or_none()
    view = _view(uow, actor, project) if project is not None else None
    if project is None or not can_see(actor, view, anonymous_pull=uow.settings.anonymous_pull):
        raise NotFound(f"project {name[:80]!r} does not exist")
    return project, view


_DOING = {
    Permission.PULL: "pull from", Permission.PUSH: "push to", Permission.DELETE: "delete images of",
    Permission.MANAGE_MEMBERS: "manage the members of", Permission.MANAGE_PROJECT: "change or delete",
    Permission.MANAGE_ROBOTS: "manage the robots of",
}


def require_permission(uow: UnitOfWork, actor: Principal, name: str, permission: Permission) -> Project:
    project, view = _visible(uow, actor, name)
    if not allows(actor, view, permission, anonymous_pull=uow.settings.anonymous_pull):
        raise Forbidden(f"you may not {_DOING[permission]} project {name!r}")
    return project


def get_project(uow: UnitOfWork, actor: Principal, name: str) -> tuple[Project, ProjectView]:
    return _visible(uow, actor, name)


def list_projects(uow: UnitOfWork, actor: Principal) -> list[tuple[Project, ProjectView]]:
    """Every project the actor may see: public ones, their own, or all for system admins.

    One query: projects left-joined with the actor's memberships.
    """
    actor_id = select(User.id).where(User.name == actor.subject).scalar_subquery()
    rows = uow.session.execute(
        select(Project, Membership.role)
        .outerjoin(Membership, and_(Membership.project_id == Project.id, Membership.user_id == actor_id))
        .order_by(Project.name)).all()
    result = []
    anonymous_pull = uow.settings.anonymous_pull
    lent = group_roles(uow, actor)
    for project, role in rows:
        own = Role(role) if role else None
        view = ProjectView(project.name, project.is_public,
                           role_with_groups(own, lent.get(project.id, ()), actor.groups))
        if can_see(actor, view, anonymous_pull=anonymous_pull):
            result.append((project, view))
    return result


def may_create_project(uow: UnitOfWork, actor: Principal) -> bool:
    """Whether ``actor`` may create projects under this deployment's ``project_creation`` setting
    (the console asks before showing *New project*; create_project asks before creating one)."""
    return may_create_projects(actor, users_may_create=uow.settings.project_creation == "everyone")


def create_project(uow: UnitOfWork, actor: Principal, name: str, *, public: bool, owner: str | None = None) -> Project:
    """Create a project; its owner (given, or else the acting user) becomes its Project Admin.

    The name of a deleted project stays reserved (see :func:`release_name`).
    """
    try:
        check_project_name(name)
    except InvalidName as exc:
        raise Invalid(str(exc), field="name") from None
    if not may_create_project(uow, actor):
        raise Forbidden("only system administrators may create projects")
    if owner is not None and owner != actor.subject and not actor.is_system_admin:
        raise Forbidden("only system administrators may create a project for another user")
    if owner is None and actor != OPERATOR:
        owner = actor.subject
    owner_user = get_user(uow, owner) if owner is not None else None
    if uow.session.execute(select(func.count()).select_from(Project).where(Project.name == name)).scalar():
        raise Conflict(f"project {name!r} already exists")
    if uow.session.get(RetiredProjectName, name) is not None:
        raise Conflict(f"the name {name!r} belonged to a deleted project whose images may still be in the "
                       "registry; an operator must remove them and release the name first")
    project = Project(name=name, is_public=public, created_by=owner_user.id if owner_user else None)
    uow.session.add(project)
    if owner_user is not None:
        uow.session.add(Membership(project=project, user=owner_user, role=Role.ADMIN.value))
    audit.record(uow, actor, "project.create", name, public=public, owner=owner)
    try:
        uow.session.flush()
    except IntegrityError:  # a concurrent change won the race; the adapter rolls the unit back
        raise Conflict(f"project {name!r} already exists") from None
    return project


def set_visibility(uow: UnitOfWork, actor: Principal, name: str, public: bool) -> Project:
    project = require_permission(uow, actor, name, Permission.MANAGE_PROJECT)
    project.is_public = public
    audit.record(uow, actor, "project.visibility", name, public=public)
    return project


def delete_project(uow: UnitOfWork, actor: Principal, name: str) -> None:
    """Delete the project with its memberships and robots, and reserve its name.

    The images stay in the registry's storage, unreachable because no
    token names the project any more.  A new project of the same name would
    make them reachable to its members, so the name is retired until an
    operator has removed the images and calls :func:`release_name`.
    """
    project = require_permission(uow, actor, name, Permission.MANAGE_PROJECT)
    uow.session.delete(project)
    uow.session.merge(RetiredProjectName(name=name, retired_by=actor.subject[:PRINCIPAL_NAME_MAX]))
    audit.record(uow, actor, "project.delete", name)


def release_name(uow: UnitOfWork, actor: Principal, name: str) -> None:
    """Let a deleted project's name be used again (system administrators, after purging its images)."""
    if not actor.is_system_admin or actor.robot_scope is not None:
        raise Forbidden("only system administrators may release a deleted project's name")
    retired = uow.session.get(RetiredProjectName, name)
    if retired is None:
        raise NotFound(f"{name[:80]!r} is not the name of a deleted project")
    uow.session.delete(retired)
    audit.record(uow, actor, "project.release_name", name)


def list_members(uow: UnitOfWork, actor: Principal, name: str) -> list[MemberInfo]:
    """Members are shown to the project's members and to system administrators."""
    project, view = _visible(uow, actor, name)
    if not may_see_members(actor, view):
        raise Forbidden(f"only members of project {name!r} may list its members")
    rows = uow.session.execute(
        select(User.name, Membership.role).join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project.id).order_by(User.name)).all()
    return [MemberInfo(user, Role(role)) for user, role in rows]


def get_member(uow: UnitOfWork, actor: Principal, name: str, user_name: str) -> MemberInfo:
    """One member, under the same visibility rule as :func:`list_members`."""
    for member in list_members(uow, actor, name):
        if member.user == user_name:
            return member
    raise NotFound(f"{user_name[:80]!r} is not a member of project {name!r}")


def _membership(uow: UnitOfWork, project: Project, user: User) -> Membership | None:
    return uow.session.execute(select(Membership).where(
        Membership.project_id == project.id, Membership.user_id == user.id)).scalar_one_or_none()


def _admin_count(uow: UnitOfWork, project: Project) -> int:
    return uow.session.execute(select(func.count()).select_from(Membership).where(
        Membership.project_id == project.id, Membership.role == Role.ADMIN.value)).scalar()


def add_member(uow: UnitOfWork, actor: Principal, name: str, user_name: str, role: str) -> MemberInfo:
    parsed = parse_role(role)
    project = require_permission(uow, actor, name, Permission.MANAGE_MEMBERS)
    user = get_user(uow, user_name)
    if _membership(uow, project, user) is not None:
        raise Conflict(f"{user_name!r} is already a member of project {name!r}")
    uow.session.add(Membership(project_id=project.id, user_id=user.id, role=parsed.value))
    audit.record(uow, actor, "member.add", f"{name}/{user_name}", role=parsed.value)
    try:
        uow.session.flush()
    except IntegrityError:  # a concurrent change won the race; the adapter rolls the unit back
        raise Conflict(f"{user_name!r} is already a member of project {name!r}") from None
    return MemberInfo(user.name, parsed)


def _existing_membership(uow: UnitOfWork, actor: Principal, name: str, user_name: str) -> tuple[Project, Membership]:
    project = require_permission(uow, actor, name, Permission.MANAGE_MEMBERS)
    user = get_user(uow, user_name)
    membership = _membership(uow, project, user)
    if membership is None:
        raise NotFound(f"{user_name!r} is not a member of project {name!r}")
    return project, membership


def _keep_an_admin(uow: UnitOfWork, project: Project, membership: Membership) -> None:
    if membership.role == Role.ADMIN.value and _admin_count(uow, project) <= 1:
        raise Conflict(f"project {project.name!r} must keep at least one Project Admin")


def set_role(uow: UnitOfWork, actor: Principal, name: str, user_name: str, role: str) -> MemberInfo:
    parsed = parse_role(role)
    project, membership = _existing_membership(uow, actor, name, user_name)
    if parsed != Role.ADMIN:
        _keep_an_admin(uow, project, membership)
    membership.role = parsed.value
    audit.record(uow, actor, "member.role", f"{name}/{user_name}", role=parsed.value)
    return MemberInfo(user_name, parsed)


def remove_member(uow: UnitOfWork, actor: Principal, name: str, user_name: str) -> None:
    project, membership = _existing_membership(uow, actor, name, user_name)
    _keep_an_admin(uow, project, membership)
    uow.session.delete(membership)
    audit.record(uow, actor, "member.remove", f"{name}/{user_name}")


def project_summary(project: Project) -> dict:
    return {"name": project.name, "public": project.is_public,
            "created_at": project.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
