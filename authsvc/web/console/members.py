"""A project's Members tab: the list for its members, the controls for its Project Admins."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for

from ...core.policy import Role
from ...services.access import projects as project_service
from ...services.errors import ServiceError
from ..unit import unit
from .pages import PAGE_SIZE, form_text, page, page_number, refused
from .projects import principal, project_context

ROLES = tuple(role.value for role in reversed(Role))  # guest, developer, maintainer, admin


def register(bp: Blueprint) -> None:
    def members_page(name: str, error=None, **values):
        context = project_context(name)
        members = project_service.list_members(unit(), principal(), name)  # 403 for a non-member
        number = page_number()
        shown = members[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
        return page("members.html", tab="members", members=shown, total=len(members), number=number,
                    has_next=number * PAGE_SIZE < len(members), roles=ROLES, error=error, **values, **context)

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

