"""Directory groups as project members: ``cn=payments-dev`` is a Developer of ``payments``.

Managed exactly like a person's membership (Project Admins and system administrators, checked by
``core.policy``), and seen by the same people.  A person's role in a project is the highest of
their own membership and those of the groups the directory puts them in
(``core.policy.role_with_groups``); the groups are read at sign-in and count for at most
``credential_cache_ttl`` (services/authn/directory.py).  A group membership never counts as the
project's last Project Admin: the group may empty in the directory at any time.

Group names are compared case-insensitively (LDAP compares ``cn`` so): they are stored in lower case.

Adding a group the directory does not have is allowed (a group created there later must be
addable beforehand), but never silent: with a service account the group is looked up and a
missing one is named in :attr:`GroupMemberInfo.warning`; without one, the warning says it was
not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...core.policy import Permission, Principal, Role, may_see_members
from ...store.models import GROUP_NAME_MAX, OIDC_SOURCE, GroupMembership, Project, User
from .. import audit
from ..authn.directory import parse_groups
from ..authn.directory_client import DirectoryUnavailable
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..unit_of_work import UnitOfWork
from .projects import get_project, parse_role, require_permission


@dataclass(frozen=True)
class GroupMemberInfo:
    group: str
    role: Role
    #: Set by :func:`add_group_member` when the group may give nobody access (see the module).
    warning: str | None = None


def check_group_name(name: str) -> str:
    """A directory group's name as stored: its ``cn`` (or configured attribute), lower-cased."""
    if not isinstance(name, str) or not name.strip():
        raise Invalid("group name must not be empty", field="group")
    if len(name) > GROUP_NAME_MAX:
        raise Invalid(f"group name longer than {GROUP_NAME_MAX} characters", field="group")
    if name != name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise Invalid("group name must not hold control characters or surrounding spaces", field="group")
    return name.lower()


def _looked_up(group: str) -> str | None:
    """A name to look a group member up by: one no group can have is simply not a member (a 404
    after the caller's rights are checked, as an unknown project or user is), not a 400."""
    try:
        return check_group_name(group)
    except Invalid:
        return None


def _find(uow: UnitOfWork, project: Project, group: str) -> GroupMembership | None:
    return uow.session.execute(select(GroupMembership).where(
        GroupMembership.project_id == project.id, GroupMembership.group_name == group)).scalar_one_or_none()


def list_group_members(uow: UnitOfWork, actor: Principal, name: str) -> list[GroupMemberInfo]:
    """The project's groups, shown to whoever may see its people (members, system administrators)."""
    project, view = get_project(uow, actor, name)
    if not may_see_members(actor, view):
        raise Forbidden(f"only members of project {name!r} may list its members")
    rows = uow.session.execute(select(GroupMembership.group_name, GroupMembership.role)
                               .where(GroupMembership.project_id == project.id)
                               .order_by(GroupMembership.group_name)).all()
    return [GroupMemberInfo(group, Role(role)) for group, role in rows]


def get_group_member(uow: UnitOfWork, actor: Principal, name: str, group: str) -> GroupMemberInfo:
    wanted = _looked_up(group)
    for member in list_group_members(uow, actor, name):
        if member.group == wanted:
            return member
    raise NotFound(f"group {group[:80]!r} is not a member of project {name!r}")


def add_group_member(uow: UnitOfWork, actor: Principal, name: str, group: str, role: str) -> GroupMemberInfo:
    parsed, group = parse_role(role), check_group_name(group)
    project = require_permission(uow, actor, name, Permission.MANAGE_MEMBERS)
    if _find(uow, project, group) is not None:
        raise Conflict(f"group {group!r} is already a member of project {name!r}")
    warning = _directory_warning(uow, group)
    uow.session.add(GroupMembership(project_id=project.id, group_name=group, role=parsed.value))
    audit.record(uow, actor, "member.add_group", f"{name}/{group}", role=parsed.value)
    try:
        uow.session.flush()
    except IntegrityError:  # a concurrent change won the race; the adapter rolls the unit back
        raise Conflict(f"group {group!r} is already a member of project {name!r}") from None
    return GroupMemberInfo(group, parsed, warning)


def _directory_warning(uow: UnitOfWork, group: str) -> str | None:
    """Why the group may give nobody access, or None when the directory has it (or, for a
    provider's group, when someone who signed in through the provider was in it)."""
    directory = uow.context.authenticator.directory
    oidc = uow.context.authenticator.oidc
    base = uow.settings.ldap_group_base_dn
    prefix = uow.settings.oidc_groups_prefix.lower()
    if oidc.enabled and (not directory.enabled or (prefix and group.startswith(prefix))):
        return _provider_warning(uow, group, oidc.name)
    if not directory.enabled:
        return "no directory is configured (ldap_url): a group gives access only to directory accounts"
    if not base:
        return "ldap_group_base_dn is not set: groups are not read from the directory, so this one gives nobody access"
    if not directory.client.can_search:
        return (f"not checked: without a service account (ldap_bind_dn) the directory cannot be asked "
                f"whether it has group {group!r}; added")
    try:
        found = directory.client.group_exists(group)
    except DirectoryUnavailable:
        return f"not checked: the directory did not answer whether it has group {group!r}; added"
    if found:
        return None
    return (f"the directory has no group {group!r} under {base}; added anyway (it counts once the "
            "directory has such a group): check the spelling")


def _provider_warning(uow: UnitOfWork, group: str, provider: str) -> str | None:
    """A provider has no API to ask for its groups: the groups seen at its people's sign-ins are
    what we know.  None if anyone signed in with this group; a warning otherwise."""
    candidates = uow.session.execute(select(User.directory_groups).where(
        User.source == OIDC_SOURCE, User.directory_groups.contains(group, autoescape=True)).limit(50)).scalars()
    if any(group in parse_groups(groups) for groups in candidates):  # contains() also finds "x-team" for "team"
        return None
    return (f"nobody who signed in through {provider} has been in group {group!r} so far; added anyway "
            "(it counts once the provider puts people in it): check the spelling")


def _existing(uow: UnitOfWork, actor: Principal, name: str, group: str) -> GroupMembership:
    project = require_permission(uow, actor, name, Permission.MANAGE_MEMBERS)
    wanted = _looked_up(group)
    membership = _find(uow, project, wanted) if wanted is not None else None
    if membership is None:
        raise NotFound(f"group {group[:80]!r} is not a member of project {name!r}")
    return membership


def set_group_role(uow: UnitOfWork, actor: Principal, name: str, group: str, role: str) -> GroupMemberInfo:
    parsed = parse_role(role)
    membership = _existing(uow, actor, name, group)
    membership.role = parsed.value
    audit.record(uow, actor, "member.group_role", f"{name}/{membership.group_name}", role=parsed.value)
    return GroupMemberInfo(membership.group_name, parsed)


def remove_group_member(uow: UnitOfWork, actor: Principal, name: str, group: str) -> None:
    membership = _existing(uow, actor, name, group)
    uow.session.delete(membership)
    audit.record(uow, actor, "member.remove_group", f"{name}/{membership.group_name}")
