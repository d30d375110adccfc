"""The repository inventory: ``authsvc repo list PROJECT`` and ``authsvc tag list PROJECT/REPO``.

Read-only: the registry's notifications fill the inventory (see ``registry-config``).
"""

from __future__ import annotations

import click

from ..core.policy import OPERATOR
from ..services import inventory
from .common import emit, fail, json_option, with_app


@click.group("repo")
def repo_group() -> None:
    """Repositories, as the registry's notifications reported them."""


@repo_group.command("list")
@click.argument("project")
@json_option
@with_app
def repo_list(uow, project: str, as_json: bool) -> None:
    """List the repositories of PROJECT, with their number of tags."""
    repositories, _ = inventory.list_repositories(uow, OPERATOR, project)
    emit([inventory.repository_summary(r) for r in repositories], as_json, ["name", "tags", "updated_at"])


@click.group("tag")
def tag_group() -> None:
    """Tags, as the registry's notifications reported them."""


@tag_group.command("list")
@click.argument("repository", metavar="PROJECT/REPO")
@json_option
@with_app
def tag_list(uow, repository: str, as_json: bool) -> None:
    """List the tags of a repository (PROJECT/REPO, e.g. web/app or web/team/app)."""
    project, _, path = repository.partition("/")
    if not project or not path:
        fail(f"{repository[:80]!r} is not PROJECT/REPO (e.g. web/app)")
    tags, _ = inventory.list_tags(uow, OPERATOR, project, path)
    emit([inventory.tag_summary(t) for t in tags], as_json,
         ["name", "digest", "media_type", "size", "pushed_by", "pushed_at"])
