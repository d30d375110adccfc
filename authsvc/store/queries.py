"""The queries of the token path: each request costs a fixed, small number of indexed lookups.

However many scopes a request names and however large the tables grow, a
token request reads the caller's user row (by unique name), then every
project it names together with the caller's membership in one query (by
unique project name, left-joined on the (project, user) unique key).
"""

from __future__ import annotations

from sqlalchemy import and_, select

from ..core.policy import ProjectView, Role
from .models import Membership, Project, RefreshToken, User, db


def user_by_name(name: str) -> User | None:
    return db.session.execute(select(User).where(User.name == name)).scalar_one_or_none()


def project_views(user_id: int | None, names: set[str]) -> dict[str, ProjectView]:
    """Each named project that exists, with the caller's role in it (one query)."""
    if not names:
        return {}
    if user_id is None:
        rows = db.session.execute(
            select(Project.name, Project.is_public).where(Project.name.in_(names))).all()
        return {name: ProjectView(name, bool(public)) for name, public in rows}
    rows = db.session.execute(
        select(Project.name, Project.is_public, Membership.role)
        .outerjoin(Membership, and_(Membership.project_id == Project.id, Membership.user_id == user_id))
        .where(Project.name.in_(names))).all()
    return {name: ProjectView(name, bool(public), Role(role) if role else None)
            for name, public, role in rows}


def refresh_token_with_user(token_hash: str) -> tuple[RefreshToken, User] | None:
    row = db.session.execute(
        select(RefreshToken, User).join(User, RefreshToken.user_id == User.id)
        .where(RefreshToken.token_hash == token_hash)).first()
    return (row[0], row[1]) if row else None
