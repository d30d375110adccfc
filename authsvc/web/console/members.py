"""A project's Members tab: the list for its members, the controls for its Project Admins.

The tab holds two lists: the people who are members, and the groups (a directory's, or an
identity provider's) whose members all hold a role here (services/access/project_groups.py).
Both are managed by the same people, decided by the services: a form here only passes on what
was typed, and a refusal comes back as the tab with the service's message and status.

A group's name travels in the form body, never in the path: names such as Keycloak's
``/team/devs`` paths or ``oidc:devs`` hold characters a path segment cannot carry safely.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for

from ...core.policy import Role
from ...services.access import project_groups
from ...services.access import projects as project_service
from ...services.errors import ServiceError
from ...store.models import GROUP_NAME_MAX
from ..unit import unit
from .pages import PAGE_SIZE, form_text, page, page_number, refused
from .projects import principal, project_context

ROLES = tuple(role.value for role in reversed(Role))  # guest, developer, maintainer, admin
#: A group name is cut one past the longest storable, so that the service (not the cut) refuses it.
GROUP_FIELD_LIMIT = GROUP_NAME_MAX + 1


def register(bp: Blueprint) -> None:
    def members_page(name: str, error=None, **values):
        context = project_context(name)
        members = project_service.list_members(unit(), principal(), name)  # 403 for a non-member
        groups = project_groups.list_group_members(unit(), principal(), name)
        number = page_number()
        shown = members[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
        return page("members.html", tab="members", members=shown, total=len(members), number=number,
                    has_next=number * PAGE_SIZE < len(members), groups=groups, roles=ROLES, error=error,
                    **values, **context)

    @bp.get("/projects/<name>/members")
    def members(name: str):
        return members_page(name)

    @bp.post("/projects/<name>/members")
    def add_member(name: str):
        user, role = form_text("user", 100).strip().lower(), form_text("role", 20)
        try:
            added = project_service.add_member(unit(), principal(), name, user, role)
        except ServiceError as exc:
            return refused(exc, lambda error: members_page(name, error, new_user=user, new_role=role))
        flash(f"{added.user} is now a member of {name} as {added.role.value}.", "success")
        return redirect(url_for("console.members", name=name), 303)

    @bp.post("/projects/<name>/members/<user>/role")
    def change_role(name: str, user: str):
        try:
            changed = project_service.set_role(unit(), principal(), name, user, form_text("role", 20))
        except ServiceError as exc:
            return refused(exc, lambda error: members_page(name, error))
        flash(f"{changed.user} is now {changed.role.value} in {name}.", "success")
        return redirect(url_for("console.members", name=name), 303)

    @bp.post("/projects/<name>/members/<user>/remove")
    def remove_member(name: str, user: str):
        try:
            project_service.remove_member(unit(), principal(), name, user)
        except ServiceError as exc:
            return refused(exc, lambda error: members_page(name, error))
        flash(f"{user} is no longer a member of {name}.", "success")
        return redirect(url_for("console.members", name=name), 303)


    _register_groups(bp, members_page)


def _register_groups(bp: Blueprint, members_page) -> None:
    """The Groups section's forms: add a group with a role, change its role, remove it."""

    @bp.post("/projects/<name>/groups")
    def add_group(name: str):
        group, role = form_text("group", GROUP_FIELD_LIMIT).strip(), form_text("role", 20)
        try:
            added = project_groups.add_group_member(unit(), principal(), name, group, role)
        except ServiceError as exc:
            return refused(exc, lambda error: members_page(name, error, new_group=group, new_group_role=role))
        flash(f"Group {added.group} is now a member of {name} as {added.role.value}.", "success")
        if added.warning:  # added, but it may give nobody access: say so beside the success
            flash(f"Warning: {added.warning}", "warning")
        return redirect(url_for("console.members", name=name), 303)

    @bp.post("/projects/<name>/groups/role")
    def change_group_role(name: str):
        group, role = form_text("group", GROUP_FIELD_LIMIT), form_text("role", 20)
        try:
            changed = project_groups.set_group_role(unit(), principal(), name, group, role)
        except ServiceError as exc:
            return refused(exc, lambda error: members_page(name, error))
        flash(f"Group {changed.group} is now {changed.role.value} in {name}.", "success")
        return redirect(url_for("console.members", name=name), 303)

    @bp.post("/projects/<name>/groups/remove")
    def remove_group(name: str):
        group = form_text("group", GROUP_FIELD_LIMIT)
        try:
            project_groups.remove_group_member(unit(), principal(), name, group)
        except ServiceError as exc:
            return refused(exc, lambda error: members_page(name, error))
        flash(f"Group {group.lower()} is no longer a member of {name}.", "success")
        return redirect(url_for("console.members", name=name), 303)
