"""The projects a person browses: one page of them, searched by name, with counts -- in SQL.

:func:`projects.list_projects` loads every project and lets ``core.policy.can_see`` pick, which
is right for the API's small lists but not for a page that must stay fast with 10,000 projects.
Here the visibility rule is pushed into the query's WHERE clause (a system administrator sees
everything; anyone else the public projects and those they or their directory groups belong to, a
robot its own project),
and every row of the page is still passed through ``can_see``, so the policy stays the judge:
a query that ever let through more than the policy allows shows fewer rows, never a hidden one.
The repository counts of a page are one grouped query, not one per project.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from ...core.policy import Principal, ProjectView, Role, can_see, role_with_groups
from ...store.models import GroupMembership, Membership, Project, Repository, User
from ..unit_of_work import UnitOfWork
from .projects import group_roles

#: Longest search text taken (a project name is at most 64 characters).
MAX_QUERY = 64


@dataclass(frozen=True)
class ProjectRow:
    view: ProjectView
    repositories: int

    @property
    def name(self) -> str:
        return self.view.name


def browse_projects(uow: UnitOfWork, actor: Principal, *, search: str = "", offset: int = 0,
                    limit: int = 50) -> tuple[list[ProjectRow], int]:
    """One page of the projects ``actor`` may see whose name contains ``search``, by name, and
    how many there are in all."""
    actor_id = select(User.id).where(User.name == actor.subject).scalar_subquery()
    membership = and_(Membership.project_id == Project.id, Membership.user_id == actor_id)
    conditions = []
    if actor.robot_scope is not None or not actor.is_system_admin:
        own = (Project.name == actor.robot_scope.project if actor.robot_scope is not None
               else Membership.id.is_not(None))
        if actor.groups and actor.robot_scope is None:  # or a project one of their directory groups is in
            own = or_(own, Project.id.in_(select(GroupMembership.project_id)
                                          .where(GroupMembership.group_name.in_(sorted(actor.groups)))))
        public_visible = uow.settings.anonymous_pull or not actor.is_anonymous
        conditions.append(or_(own, Project.is_public.is_(True)) if public_visible else own)
    search = search.strip()[:MAX_QUERY]
    if search:
        conditions.append(Project.name.contains(search.lower(), autoescape=True))
    base = select(Project.id).outerjoin(Membership, membership).where(*conditions)
    total = uow.session.execute(select(func.count()).select_from(base.subquery())).scalar()
    rows = uow.session.execute(
        select(Project.id, Project.name, Project.is_public, Membership.role).outerjoin(Membership, membership)
        .where(*conditions).order_by(Project.name).offset(offset).limit(limit)).all()
    ids = [row.id for row in rows]
    counts = dict(uow.session.execute(
        select(Repository.project_id, func.count()).where(Repository.project_id.in_(ids))
        .group_by(Repository.project_id)).all()) if ids else {}
    page, lent = [], group_roles(uow, actor)
    for row in rows:
        own_role = Role(row.role) if row.role else None
        view = ProjectView(row.name, row.is_public, role_with_groups(own_role, lent.get(row.id, ()), actor.groups))
        if can_see(actor, view, anonymous_pull=uow.settings.anonymous_pull):
            page.append(ProjectRow(view, counts.get(row.id, 0)))
    return page, total
