"""``/api/v1/projects`` and their members.

A private project the caller may not see answers 404, exactly like a
project that does not exist; a visible one the caller may not change
answers 403.  Both decisions are the service layer's.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for

from ...services.access import project_groups, projects
from ...services.errors import Unauthorized
from ..unit import unit
from .auth import caller
from .render import body, created, no_content, page_args, paginated


def _project(project, view, own_roles: dict) -> dict:
    """A project for the caller: ``effective_role`` is what they may do (their own membership
    raised by their directory groups', by ``core.policy``), ``own_role`` the membership granted to
    them by name; ``role`` is kept equal to ``effective_role`` for clients written before both."""
    summary = projects.project_summary(project)
    effective = view.role.value if view.role else None
    own = own_roles.get(project.id)
    summary.update(role=effective, effective_role=effective, own_role=own.value if own else None)
    return summary


def _one(actor, name: str) -> dict:
    project, view = projects.get_project(unit(), actor, name)
    return _project(project, view, projects.own_roles(unit(), actor))


def _member(member) -> dict:
    return {"user": member.user, "role": member.role.value}


def _group(member) -> dict:
    return {"group": member.group, "role": member.role.value}


def register(bp: Blueprint) -> None:
    _register_groups(bp)

    @bp.get("/projects")
    def list_projects():
        page, size = page_args()
        actor = caller()
        visible, mine = projects.list_projects(unit(), actor), projects.own_roles(unit(), actor)
        items = [_project(p, v, mine) for p, v in visible[(page - 1) * size: page * size]]
        return paginated(items, len(visible), page, size, "api.list_projects")

    @bp.post("/projects")
    def create_project():
        actor = caller()
        if actor.is_anonymous:
            raise Unauthorized("log in to create a project")
        data = body(required={"name": str}, optional={"public": bool, "owner": str})
        project = projects.create_project(unit(), actor, data["name"], public=data.get("public", False),
                                          owner=data.get("owner"))
        return created(_one(actor, project.name),
                       url_for("api.get_project", name=project.name))

    @bp.get("/projects/<name>")
    def get_project(name: str):
        return jsonify(_one(caller(), name))

    @bp.patch("/projects/<name>")
    def update_project(name: str):
        data = body(required={"public": bool})
        actor = caller()
        projects.set_visibility(unit(), actor, name, data["public"])
        return jsonify(_one(actor, name))

    @bp.delete("/projects/<name>")
    def delete_project(name: str):
        projects.delete_project(unit(), caller(), name)
        return no_content()

    @bp.get("/projects/<name>/members")
    def list_members(name: str):
        page, size = page_args()
        members = projects.list_members(unit(), caller(), name)
        items = [_member(m) for m in members[(page - 1) * size: page * size]]
        return paginated(items, len(members), page, size, "api.list_members", name=name)

    @bp.post("/projects/<name>/members")
    def add_member(name: str):
        data = body(required={"user": str, "role": str})
        member = projects.add_member(unit(), caller(), name, data["user"], data["role"])
        return created(_member(member), url_for("api.get_member", name=name, user=member.user))

    @bp.get("/projects/<name>/members/<user>")
    def get_member(name: str, user: str):
        member = projects.get_member(unit(), caller(), name, user)
        return jsonify(_member(member))

    @bp.patch("/projects/<name>/members/<user>")
    def set_role(name: str, user: str):
        data = body(required={"role": str})
        return jsonify(_member(projects.set_role(unit(), caller(), name, user, data["role"])))

    @bp.delete("/projects/<name>/members/<user>")
    def remove_member(name: str, user: str):
        projects.remove_member(unit(), caller(), name, user)
        return no_content()


def _register_groups(bp: Blueprint) -> None:
    """Directory groups as members: the same rules as people (services/access/project_groups.py)."""

    @bp.get("/projects/<name>/groups")
    def list_group_members(name: str):
        page, size = page_args()
        groups = project_groups.list_group_members(unit(), caller(), name)
        items = [_group(m) for m in groups[(page - 1) * size: page * size]]
        return paginated(items, len(groups), page, size, "api.list_group_members", name=name)

    @bp.post("/projects/<name>/groups")
    def add_group_member(name: str):
        data = body(required={"group": str, "role": str})
        member = project_groups.add_group_member(unit(), caller(), name, data["group"], data["role"])
        shown = {**_group(member), **({"warning": member.warning} if member.warning else {})}
        return created(shown, url_for("api.get_group_member", name=name, group=member.group))

    @bp.get("/projects/<name>/groups/<group>")
    def get_group_member(name: str, group: str):
        return jsonify(_group(project_groups.get_group_member(unit(), caller(), name, group)))

    @bp.patch("/projects/<name>/groups/<group>")
    def set_group_role(name: str, group: str):
        data = body(required={"role": str})
        return jsonify(_group(project_groups.set_group_role(unit(), caller(), name, group, data["role"])))

    @bp.delete("/projects/<name>/groups/<group>")
    def remove_group_member(name: str, group: str):
        project_groups.remove_group_member(unit(), caller(), name, group)
        return no_content()
