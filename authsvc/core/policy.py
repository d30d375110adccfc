"""Who may do what: the role table and the access decision, as data and pure functions.

Every rule about access lives here once.  The token endpoint calls
:func:`decide`; the CLI, the REST API and any console call :func:`allows` and
:func:`can_see` through the service layer.  None of them re-derive a rule.

Roles map to permissions through :data:`ROLE_PERMISSIONS`, a table rather
than a chain of ifs, so that adding a role or permission is a data change
that the decision-table tests pick up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from .scopes import Scope, project_of


class Role(str, Enum):
    """Project roles, most powerful first."""

    ADMIN = "admin"            # Project Admin: the creator; read/write; manages members
    MAINTAINER = "maintainer"  # Developer + delete
    DEVELOPER = "developer"    # read/write
    GUEST = "guest"            # read


class Permission(str, Enum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"
    MANAGE_MEMBERS = "manage_members"
    #: Change the project's visibility or delete it.
    MANAGE_PROJECT = "manage_project"
    #: Create, re-key, disable and delete the project's robot accounts.
    MANAGE_ROBOTS = "manage_robots"


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.GUEST: frozenset({Permission.PULL}),
    Role.DEVELOPER: frozenset({Permission.PULL, Permission.PUSH}),
    Role.MAINTAINER: frozenset({Permission.PULL, Permission.PUSH, Permission.DELETE}),
    Role.ADMIN: frozenset({Permission.PULL, Permission.PUSH, Permission.DELETE,
                           Permission.MANAGE_MEMBERS, Permission.MANAGE_PROJECT,
                           Permission.MANAGE_ROBOTS}),
}

#: What anyone may do on a public project (subject to ``anonymous_pull`` for anonymous callers).
PUBLIC_PERMISSIONS = frozenset({Permission.PULL})

#: Registry actions on a repository and the permission each one needs.
REPOSITORY_ACTIONS: Mapping[str, Permission] = {
    "pull": Permission.PULL,
    "push": Permission.PUSH,
    "delete": Permission.DELETE,
}

#: Resource types the policy understands; anything else is granted nothing.
REPOSITORY = "repository"
REGISTRY = "registry"
CATALOG = "catalog"


#: What a robot account may be given: registry actions only, never administration.
ROBOT_PERMISSIONS = frozenset({Permission.PULL, Permission.PUSH, Permission.DELETE})


@dataclass(frozen=True)
class RobotScope:
    """A robot's whole authority: some registry permissions on exactly one project."""

    project: str
    permissions: frozenset[Permission]


class CredentialKind(str, Enum):
    """What a caller proved to be who they are: the root of every credential they then use.

    An API bearer token or a refresh token is only a stand-in; the principal it yields
    carries the kind of credential it was *derived from*, so that policy can refuse a
    stand-in what only the real secret may do (see :func:`may_create_credentials`).
    """

    NONE = "none"                      # anonymous
    PASSWORD = "password"              # the account's own password
    PERSONAL_TOKEN = "personal_token"  # a named, expiring, revocable stand-in for the password
    ROBOT_SECRET = "robot_secret"      # a project's machine credential
    REFRESH_TOKEN = "refresh_token"    # what docker login keeps on a developer's disk
    OPERATOR = "operator"              # the CLI on the server: has the database and the keys


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as policy sees it.

    ``subject`` goes into the token's ``sub`` claim; it is ``""`` for
    anonymous callers.  A robot carries its ``robot_scope``; it is never a
    system administrator and holds no membership.  ``credential`` is the kind
    of secret the caller's authority rests on.
    """

    subject: str
    is_system_admin: bool = False
    robot_scope: RobotScope | None = None
    credential: CredentialKind = CredentialKind.NONE
    #: A directory user's groups (lower-case names) as read within ``credential_cache_ttl``: each
    #: group that is a member of a project lends its role there (see :func:`highest_role`).
    groups: frozenset[str] = frozenset()

    @property
    def is_anonymous(self) -> bool:
        return self.subject == ""


ANONYMOUS = Principal(subject="")

#: The local operator running the CLI on the server: has the machine, so has every right.
#: Its subject cannot collide with a user name (parentheses are outside the user grammar).
OPERATOR = Principal(subject="(operator)", is_system_admin=True, credential=CredentialKind.OPERATOR)

#: The credentials that may create further credentials or change a password.  A personal access
#: token, a robot secret or a refresh token (or an API token obtained with one of them) could
#: otherwise mint a new credential that outlives its own expiry or revocation.
CREDENTIAL_ROOTS = frozenset({CredentialKind.PASSWORD, CredentialKind.OPERATOR})


def highest_role(*roles: Role | None) -> Role | None:
    """The most powerful of ``roles`` (None for none): a person's role in a project is the highest
    of their own membership and those of the directory groups they are in."""
    held = [role for role in roles if role is not None]
    return min(held, key=_ROLE_RANK.__getitem__) if held else None


def role_with_groups(own: Role | None, group_roles: Iterable[tuple[str, Role]],
                     groups: frozenset[str]) -> Role | None:
    """``own`` raised by every (group, role) membership of the project whose group is in ``groups``."""
    return highest_role(own, *(role for group, role in group_roles if group in groups))


_ROLE_RANK = {role: rank for rank, role in enumerate(Role)}  # Role lists the most powerful first


@dataclass(frozen=True)
class ProjectView:
    """What policy needs to know about one project, for one caller."""

    name: str
    is_public: bool
    role: Role | None = None  # the caller's role, None when not a member


def permissions_on(principal: Principal, project: ProjectView | None, *,
                   anonymous_pull: bool = True) -> frozenset[Permission]:
    """Everything ``principal`` may do on ``project`` (nothing if it does not exist)."""
    if project is None:
        return frozenset()
    if principal.is_system_admin and principal.robot_scope is None:
        return frozenset(Permission)
    granted: frozenset[Permission] = frozenset()
    if principal.robot_scope is not None:
        if principal.robot_scope.project == project.name:
            granted = principal.robot_scope.permissions & ROBOT_PERMISSIONS
    elif project.role is not None:
        granted = ROLE_PERMISSIONS[project.role]
    if project.is_public and (anonymous_pull or not principal.is_anonymous):
        granted = granted | PUBLIC_PERMISSIONS
    return granted


def allows(principal: Principal, project: ProjectView | None, permission: Permission, *,
           anonymous_pull: bool = True) -> bool:
    """True if ``principal`` holds ``permission`` on ``project``."""
    return permission in permissions_on(principal, project, anonymous_pull=anonymous_pull)


def can_see(principal: Principal, project: ProjectView | None, *, anonymous_pull: bool = True) -> bool:
    """Whether the project's existence may be revealed to ``principal``.

    A private project is invisible to non-members: it must look exactly like
    a project that does not exist.
    """
    return bool(permissions_on(principal, project, anonymous_pull=anonymous_pull))


def may_see_members(principal: Principal, project: ProjectView) -> bool:
    """Who belongs to a project (its member list, who pushed what) is for its members and system
    administrators; a public project shows its images to everyone, never its people."""
    return principal.is_system_admin or project.role is not None


def may_manage_users(principal: Principal) -> bool:
    """Creating, changing and deleting accounts is for system administrators only."""
    return principal.is_system_admin and principal.robot_scope is None


def may_manage_credentials_of(principal: Principal, user_name: str | None) -> bool:
    """People see and manage their own account, tokens and sessions; system administrators anyone's."""
    return may_manage_users(principal) or (
        user_name is not None and principal.robot_scope is None and not principal.is_anonymous
        and principal.subject == user_name)


def may_create_credentials(principal: Principal) -> bool:
    """Creating a password, a personal access token or a robot secret (or re-keying one) needs the
    caller's own password (or the server's console): never a stand-in credential."""
    return principal.credential in CREDENTIAL_ROOTS and principal.robot_scope is None


def may_create_projects(principal: Principal, *, users_may_create: bool) -> bool:
    """System administrators always; other logged-in people when the operator allows it; robots never."""
    if principal.robot_scope is not None:
        return False
    return principal.is_system_admin or (users_may_create and not principal.is_anonymous)


def projects_named(scopes: Iterable[Scope]) -> set[str]:
    """The project names a set of scopes refers to, so the store can load them in one query."""
    names = set()
    for scope in scopes:
        if scope.type == REPOSITORY:
            project = project_of(scope.name)
            if project is not None:
                names.add(project)
    return names


def decide(principal: Principal, scopes: Iterable[Scope], projects: Mapping[str, ProjectView], *,
           anonymous_pull: bool = True) -> list[Scope]:
    """Grant each requested scope the intersection of requested and permitted actions.

    Lacking a right is never an error: the scope is simply granted fewer
    actions, and a scope with none left is dropped.  ``projects`` maps each
    project named by the scopes to the caller's view of it; a missing key
    means the project does not exist.  A requested ``*`` on a repository
    stands for every repository action the caller holds, spelled out, so that
    a token never carries more than the caller's rights.
    """
    granted: list[Scope] = []
    for scope in scopes:
        actions = _granted_actions(principal, scope, projects, anonymous_pull)
        if actions:
            granted.append(Scope(scope.type, scope.name, actions, scope.resource_class))
    return granted


def _granted_actions(principal: Principal, scope: Scope, projects: Mapping[str, ProjectView],
                     anonymous_pull: bool) -> tuple[str, ...]:
    if scope.type == REGISTRY:
        if (scope.name == CATALOG and "*" in scope.actions and principal.is_system_admin
                and principal.robot_scope is None):
            return ("*",)
        return ()
    if scope.type != REPOSITORY:
        return ()
    project_name = project_of(scope.name)
    if project_name is None:
        return ()
    held = permissions_on(principal, projects.get(project_name), anonymous_pull=anonymous_pull)
    requested = scope.actions
    if "*" in requested:
        requested = tuple(dict.fromkeys(tuple(a for a in requested if a != "*") + tuple(REPOSITORY_ACTIONS)))
    return tuple(a for a in requested if a in REPOSITORY_ACTIONS and REPOSITORY_ACTIONS[a] in held)
