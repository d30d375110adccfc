"""``/api/v1/projects/{name}/repositories`` and their tags: the inventory, read-only.

Visible exactly when the project is (the service layer asks ``projects.get_project``): a private
project's repositories are a 404 to those who may not see it.  Repository paths may hold
slashes (``team/app``), hence the ``path`` converter.
"""

from __future__ import annotations

from flask import Blueprint

from ...services import inventory
from ..unit import unit
from .auth import caller
from .render import page_args, paginated


def register(bp: Blueprint) -> None:
    @bp.get("/projects/<name>/repositories")
    def list_repositories(name: str):
        page, size = page_args()
        items, total = inventory.list_repositories(unit(), caller(), name, offset=(page - 1) * size, limit=size)
        return paginated([inventory.repository_summary(r) for r in items], total, page, size,
                         "api.list_repositories", name=name)

    @bp.get("/projects/<name>/repositories/<path:repository>/tags")
    def list_tags(name: str, repository: str):
        page, size = page_args()
        items, total = inventory.list_tags(unit(), caller(), name, repository, offset=(page - 1) * size, limit=size)
        return paginated([inventory.tag_summary(t) for t in items], total, page, size, "api.list_tags",
                         name=name, repository=repository)
