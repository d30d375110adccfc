"""The queries of the token path: each request costs a fixed, small number of indexed lookups.

However many scopes a request names and however large the tables grow, a
token request reads the caller's user row (by unique name) or refresh token
(by unique hash, joined with its user), then every project it names together
with the caller's membership in one query (by unique project name,
left-joined on the (project, user) unique key).

These run as SQLAlchemy Core statements on the session's connection and
return plain rows: the ORM's identity map and change tracking cost more
than the queries themselves on this path, and nothing here is modified.
"""

from __future__ import annotations

from sqlalchemy import Row, and_, bindparam, select
from sqlalchemy.orm import Session

from ..core.policy import ProjectView, Role
from .models import LoginFailure, Membership, PersonalToken, Project, RefreshToken, Robot, User

_users = User.__table__
_projects = Project.__table__
_memberships = Membership.__table__
_refresh = RefreshToken.__table__
_robots = Robot.__table__
_personal = PersonalToken.__table__
_failures = LoginFailure.__table__

_USER_COLUMNS = (_users.c.id, _users.c.name, _users.c.password_hash, _users.c.is_admin, _users.c.is_active,
                 _users.c.credential_version)


# Built once: constructing a select costs about as much as running it on this path.
_USER_BY_NAME = select(*_USER_COLUMNS).where(_users.c.name == bindparam("name"))
_USER_BY_ID = select(*_USER_COLUMNS).where(_users.c.id == bindparam("user_id"))
# The password verifier's one read: the user row and, beside it, the throttle counter of the
# (name, source) pair, which must be looked at before anything else.
_PAIR = and_(_failures.c.account == _users.c.name, _failures.c.source == bindparam("source"))
_USER_WITH_COUNTER = select(
    *_USER_COLUMNS,
    select(_failures.c.failures).where(_PAIR).scalar_subquery().label("failures"),
    select(_failures.c.blocked_until).where(_PAIR).scalar_subquery().label("blocked_until"),
).where(_users.c.name == bindparam("name"))
_SOME_HASHES = select(_users.c.password_hash).order_by(_users.c.id.desc()).limit(bindparam("limit"))
_PUBLIC_VIEWS = select(_projects.c.name, _projects.c.is_public).where(
    _projects.c.name.in_(bindparam("names", expanding=True)))
_MEMBER_VIEWS = (
    select(_projects.c.name, _projects.c.is_public, _memberships.c.role)
    .select_from(_projects.outerjoin(_memberships, and_(_memberships.c.project_id == _projects.c.id,
                                                        _memberships.c.user_id == bindparam("user_id"))))
    .where(_projects.c.name.in_(bindparam("names", expanding=True))))
_REFRESH_OWNER = (
    select(*_USER_COLUMNS, _refresh.c.credential_version.label("token_version"),
           _refresh.c.created_at.label("token_created_at"))
    .select_from(_refresh.join(_users, _refresh.c.user_id == _users.c.id))
    .where(_refresh.c.token_hash == bindparam("token_hash")))
_ROBOT_BY_LOGIN = (
    select(_robots.c.name, _robots.c.secret_hash, _robots.c.actions, _robots.c.disabled, _robots.c.expires_at,
           _projects.c.name.label("project_name"))
    .select_from(_robots.join(_projects, _robots.c.project_id == _projects.c.id))
    .where(_projects.c.name == bindparam("project"), _robots.c.name == bindparam("name")))
_TOKEN_OWNER = (
    select(*_USER_COLUMNS, _personal.c.id.label("token_id"),
           _personal.c.credential_version.label("token_version"), _personal.c.expires_at,
           _personal.c.last_used_at)
    .select_from(_personal.join(_users, _personal.c.user_id == _users.c.id))
    .where(_personal.c.token_hash == bindparam("token_hash")))


def _execute(session: Session, statement, **params):
    return session.connection().execute(statement, params)


def user_by_name(session: Session, name: str) -> Row | None:
    """The caller's row: id, name, password_hash, is_admin, is_active, credential_version."""
    return _execute(session, _USER_BY_NAME, name=name).first()


def user_by_id(session: Session, user_id: int) -> Row | None:
    return _execute(session, _USER_BY_ID, user_id=user_id).first()


def user_with_counter(session: Session, name: str, source: str) -> Row | None:
    """The user row plus ``failures`` and ``blocked_until`` of the (name, source) throttle
    counter (None when there is none): one round trip for a password check."""
    return _execute(session, _USER_WITH_COUNTER, name=name, source=source).first()


def recent_password_hashes(session: Session, limit: int = 50) -> list[str]:
    return [row[0] for row in _execute(session, _SOME_HASHES, limit=limit)]


def project_views(session: Session, user_id: int | None, names: set[str]) -> dict[str, ProjectView]:
    """Each named project that exists, with the caller's role in it (one query)."""
    if not names:
        return {}
    if user_id is None:
        rows = _execute(session, _PUBLIC_VIEWS, names=sorted(names))
        return {name: ProjectView(name, bool(public)) for name, public in rows}
    rows = _execute(session, _MEMBER_VIEWS, user_id=user_id, names=sorted(names))
    return {name: ProjectView(name, bool(public), Role(role) if role else None) for name, public, role in rows}


def refresh_token_owner(session: Session, token_hash: str) -> Row | None:
    """The owner of a refresh token (user columns plus the token's ``token_version``), or None."""
    return _execute(session, _REFRESH_OWNER, token_hash=token_hash).first()


def robot_by_login(session: Session, project: str, name: str) -> Row | None:
    """A robot's row with its project's name, by the two parts of its login (one query)."""
    return _execute(session, _ROBOT_BY_LOGIN, project=project, name=name).first()


def personal_token_owner(session: Session, token_hash: str) -> Row | None:
    """A personal token joined with its owner's user columns, or None."""
    return _execute(session, _TOKEN_OWNER, token_hash=token_hash).first()
