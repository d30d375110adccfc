"""The queries of the token path: each request costs a fixed, small number of indexed lookups.

However many scopes a request names and however large the tables grow, a
token request reads the caller's user row (by unique name) or refresh token
(by unique hash, joined with its user), then every project it names together
with the caller's membership in one query (by unique project name,
left-joined on the (project, user) unique key).

These are SQLAlchemy Core statements built once, run through a :class:`~.reads.Reads`: the
unit of work's session, or on the token path a connection the worker keeps (``reads.py``).
They return plain rows: the ORM's identity map and change tracking cost more than the
queries themselves on this path, and nothing here is modified.

**One round trip** (:func:`reading_ahead`): a token request names both its account (the
credential) and its projects (the scopes) before anything is read, so the credential's statement
can fetch the projects too, joined to the account's row in SQL.  On PostgreSQL each statement is
a round trip that costs the worker about 50 µs of CPU and the server its own work on the same
cores; on SQLite it saves one pass through the read machinery.  The decision's read then takes
what was fetched (:func:`project_views`), once.  The rows are exactly those the two statements
return, from one snapshot, read fresh for every request: a revocation bites at the next request
as before.
"""

from __future__ import annotations

import collections
import functools

from sqlalchemy import Row, and_, bindparam, select

from ..core.policy import ProjectView, Role, highest_role
from .models import (
    GroupMembership,
    LoginFailure,
    Membership,
    PersonalToken,
    Project,
    RefreshToken,
    Robot,
    User,
)
from .reads import ReadAhead, Reads

_users = User.__table__
_projects = Project.__table__
_memberships = Membership.__table__
_refresh = RefreshToken.__table__
_robots = Robot.__table__
_personal = PersonalToken.__table__
_failures = LoginFailure.__table__
_groups = GroupMembership.__table__

_USER_COLUMNS = (_users.c.id, _users.c.name, _users.c.password_hash, _users.c.is_admin, _users.c.is_active,
                 _users.c.credential_version, _users.c.source, _users.c.directory_groups, _users.c.groups_read_at)


# Built once: constructing a select costs about as much as running it on this path.
_USER_BY_NAME = select(*_USER_COLUMNS).where(_users.c.name == bindparam("name"))
_USER_BY_ID = select(*_USER_COLUMNS).where(_users.c.id == bindparam("user_id"))
# The password verifier's one read: the user row and, beside it, the throttle counter of the
# (name, source) pair, which must be looked at before anything else.
# A left join on the counter's unique (account, source) key: at most one row, one index search
# (two scalar subqueries searched the index twice).
_PAIR = and_(_failures.c.account == _users.c.name, _failures.c.source == bindparam("source"))
_USER_WITH_COUNTER = (
    select(*_USER_COLUMNS, _failures.c.failures, _failures.c.blocked_until)
    .select_from(_users.outerjoin(_failures, _PAIR))
    .where(_users.c.name == bindparam("name")))
#: Up to this many project names per statement (a request names one or two; more go in chunks).
VIEWS_CHUNK = 8


@functools.cache
def _views(count: int, member: bool, groups: int = 0):
    """The projects named by ``count`` parameters n0..n<count-1>, with the caller's membership when
    ``member``: one statement per count, built once (a fixed statement can be compiled once and
    prepared by the database, which an expanding IN cannot).  With ``groups`` (a directory user's
    groups, parameters g0..), also the role of each of those groups that is a member of the
    project: one row per such group, combined by ``core.policy.highest_role``."""
    names = _projects.c.name.in_([bindparam(f"n{i}") for i in range(count)])
    if not member:
        return select(_projects.c.name, _projects.c.is_public).where(names)
    joined = _projects.outerjoin(_memberships, and_(_memberships.c.project_id == _projects.c.id,
                                                    _memberships.c.user_id == bindparam("user_id")))
    if not groups:
        return select(_projects.c.name, _projects.c.is_public, _memberships.c.role).select_from(joined).where(names)
    joined = joined.outerjoin(_groups, and_(_groups.c.project_id == _projects.c.id,
                                            _groups.c.group_name.in_([bindparam(f"g{i}") for i in range(groups)])))
    return (select(_projects.c.name, _projects.c.is_public, _memberships.c.role, _groups.c.role.label("group_role"))
            .select_from(joined).where(names))


_REFRESH_OWNER = (
    select(*_USER_COLUMNS, _refresh.c.id.label("token_id"), _refresh.c.credential_version.label("token_version"),
           _refresh.c.created_at.label("token_created_at"), _refresh.c.last_used_at)
    .select_from(_refresh.join(_users, _refresh.c.user_id == _users.c.id))
    .where(_refresh.c.token_hash == bindparam("token_hash")))
_ROBOT_BY_LOGIN = (
    select(_robots.c.id, _robots.c.name, _robots.c.secret_hash, _robots.c.actions, _robots.c.disabled,
           _robots.c.expires_at, _projects.c.name.label("project_name"))
    .select_from(_robots.join(_projects, _robots.c.project_id == _projects.c.id))
    .where(_projects.c.name == bindparam("project"), _robots.c.name == bindparam("name")))
_TOKEN_OWNER = (
    select(*_USER_COLUMNS, _personal.c.id.label("token_id"),
           _personal.c.credential_version.label("token_version"), _personal.c.expires_at,
           _personal.c.last_used_at)
    .select_from(_personal.join(_users, _personal.c.user_id == _users.c.id))
    .where(_personal.c.token_hash == bindparam("token_hash")))


# --- The read-ahead: a credential statement that also brings the named projects ------------------
_named = _projects.alias("named")


def _named_projects_of(joined, user_id_column):
    """``joined`` (the credential's row) left-joined with the projects n0.. and, for an account,
    its own membership and every group that is a member: one row per (project, group), matched
    by :func:`project_views` against the caller's groups as they stand now (a directory person's
    may just have been read again).  Groups are members only where a directory or OIDC provider
    is in use, and then of few projects: the extra rows are few."""
    def outer(count: int):
        named = joined.outerjoin(_named, _named.c.name.in_([bindparam(f"n{i}") for i in range(count)]))
        columns = [_named.c.name.label("ahead_project"), _named.c.is_public.label("ahead_public")]
        if user_id_column is not None:
            named = (named.outerjoin(_memberships, and_(_memberships.c.project_id == _named.c.id,
                                                        _memberships.c.user_id == user_id_column))
                     .outerjoin(_groups, _groups.c.project_id == _named.c.id))
            columns += [_memberships.c.role.label("ahead_role"), _groups.c.group_name.label("ahead_group"),
                        _groups.c.role.label("ahead_group_role")]
        return named, columns
    return outer


def _ahead(statement, joined, user_id_column):
    """For ``statement`` (a credential read), its version that fetches ``count`` named projects
    along: same columns first, then the project's; built once per count."""
    outer = _named_projects_of(joined, user_id_column)

    @functools.cache
    def with_projects(count: int):
        named, columns = outer(count)
        return select(*statement.selected_columns, *columns).select_from(named).where(statement.whereclause)
    return with_projects


def _first(reads: Reads, statement, **params) -> Row | None:
    if isinstance(reads, ReadAhead) and reads.projects is not None:
        return _first_with_projects(reads, statement, params)
    rows = reads.rows(statement, params)
    return rows[0] if rows else None


def _first_with_projects(reads: ReadAhead, statement, params: dict) -> Row | None:
    """The credential's row, with the request's projects kept for :func:`project_views`."""
    names, reads.projects = sorted(reads.projects), None
    ahead = _AHEAD.get(id(statement))
    if ahead is None or not names or len(names) > VIEWS_CHUNK:
        rows = reads.rows(statement, params)
        return rows[0] if rows else None
    with_projects, is_account = ahead
    rows = reads.rows(with_projects(len(names)), {**params, **{f"n{i}": n for i, n in enumerate(names)}})
    if not rows:
        return None
    width = len(statement.selected_columns)
    own = _row_type(statement)(*rows[0][:width])
    found: dict[str, list] = {}
    for row in rows:
        project = row[width]
        if project is None:  # none of the names exists
            continue
        entry = found.setdefault(project, [bool(row[width + 1]), None, []])
        if is_account:
            entry[1] = row[width + 2]
            if row[width + 3] is not None:
                entry[2].append((row[width + 3], row[width + 4]))
    reads.views = (own.id if is_account else None, frozenset(names), found)
    return own


@functools.cache
def _row_type(statement):
    return collections.namedtuple("Row", [column.key for column in statement.selected_columns])


def _views_read_ahead(reads: Reads, user_id: int | None, names: set[str],
                      groups: frozenset[str]) -> dict[str, ProjectView] | None:
    """The views the credential's statement fetched, if it fetched these for this caller."""
    if not isinstance(reads, ReadAhead) or reads.views is None:
        return None
    kept_for, kept_names, found = reads.views
    reads.views = None
    if kept_for != user_id or kept_names != names:
        return None
    views = {}
    for name, (public, own, of_groups) in found.items():
        roles = [Role(own) if own else None]
        roles += [Role(role) for group, role in of_groups if group in groups]
        views[name] = ProjectView(name, public, highest_role(*roles) if user_id is not None else None)
    return views


def reading_ahead(reads: Reads, projects: set[str]) -> ReadAhead:
    """``reads`` for one token request naming ``projects``: its first credential read brings
    them along (see the module doc)."""
    return ReadAhead(reads, projects)


def user_by_name(reads: Reads, name: str) -> Row | None:
    """The caller's row: id, name, password_hash, is_admin, is_active, credential_version."""
    return _first(reads, _USER_BY_NAME, name=name)


def user_by_id(reads: Reads, user_id: int) -> Row | None:
    return _first(reads, _USER_BY_ID, user_id=user_id)


def user_with_counter(reads: Reads, name: str, source: str) -> Row | None:
    """The user row plus ``failures`` and ``blocked_until`` of the (name, source) throttle
    counter (None when there is none): one round trip for a password check."""
    return _first(reads, _USER_WITH_COUNTER, name=name, source=source)


def project_views(reads: Reads, user_id: int | None, names: set[str],
                  groups: frozenset[str] = frozenset()) -> dict[str, ProjectView]:
    """Each named project that exists, with the caller's role in it (one query per 8 names); for a
    caller in directory ``groups``, the highest of their own role and their groups' roles."""
    fetched = _views_read_ahead(reads, user_id, names, groups)
    if fetched is not None:
        return fetched
    ordered, views = sorted(names), {}
    group_params = {f"g{i}": group for i, group in enumerate(sorted(groups))}
    for start in range(0, len(ordered), VIEWS_CHUNK):
        chunk = ordered[start:start + VIEWS_CHUNK]
        params = {f"n{i}": name for i, name in enumerate(chunk)}
        if user_id is None:
            for row in reads.rows(_views(len(chunk), False), params):
                views[row[0]] = ProjectView(row[0], bool(row[1]))
        elif not group_params:
            for row in reads.rows(_views(len(chunk), True), {**params, "user_id": user_id}):
                views[row[0]] = ProjectView(row[0], bool(row[1]), Role(row[2]) if row[2] else None)
        else:
            for row in reads.rows(_views(len(chunk), True, len(group_params)),
                                  {**params, **group_params, "user_id": user_id}):
                seen = views.get(row[0])
                role = highest_role(seen.role if seen else None, Role(row[2]) if row[2] else None,
                                    Role(row[3]) if row[3] else None)
                views[row[0]] = ProjectView(row[0], bool(row[1]), role)
    return views


def refresh_token_owner(reads: Reads, token_hash: str) -> Row | None:
    """The owner of a refresh token (user columns plus the token's ``token_version``), or None."""
    return _first(reads, _REFRESH_OWNER, token_hash=token_hash)


def robot_by_login(reads: Reads, project: str, name: str) -> Row | None:
    """A robot's row with its project's name, by the two parts of its login (one query)."""
    return _first(reads, _ROBOT_BY_LOGIN, project=project, name=name)


def personal_token_owner(reads: Reads, token_hash: str) -> Row | None:
    """A personal token joined with its owner's user columns, or None."""
    return _first(reads, _TOKEN_OWNER, token_hash=token_hash)


#: Each credential statement -> (its read-ahead version, whether it is an account's with roles).
_AHEAD = {
    id(_USER_WITH_COUNTER): (_ahead(_USER_WITH_COUNTER, _users.outerjoin(_failures, _PAIR), _users.c.id), True),
    id(_REFRESH_OWNER): (_ahead(_REFRESH_OWNER, _refresh.join(_users, _refresh.c.user_id == _users.c.id),
                                _users.c.id), True),
    id(_TOKEN_OWNER): (_ahead(_TOKEN_OWNER, _personal.join(_users, _personal.c.user_id == _users.c.id),
                              _users.c.id), True),
    id(_ROBOT_BY_LOGIN): (_ahead(_ROBOT_BY_LOGIN, _robots.join(_projects, _robots.c.project_id == _projects.c.id),
                                 None), False),
}
