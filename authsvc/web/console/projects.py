"""Projects: the list, a new project, and a project's Repositories, Push image and Settings tabs."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for

from ...core.policy import Permission, may_see_members, permissions_on
from ...services import inventory
from ...services.access import project_pages
from ...services.access import projects as project_service
from ...services.errors import Invalid, ServiceError
from ..unit import unit
from .pages import PAGE_SIZE, form_text, page, page_number, refused
from .session import current

#: Repositories per page of the Repositories tab, and the newest tags shown for each.
REPOSITORIES_PER_PAGE = 10
TAGS_PER_REPOSITORY = 10
#: Shown in the commands when the operator has not set ``registry_host``.
HOST_PLACEHOLDER = "REGISTRY_HOST"


def principal():
    return current().principal


def registry_host() -> str:
    return current_app.extensions["authsvc"].settings.registry_host or HOST_PLACEHOLDER


def may_create() -> bool:
    return project_service.may_create_project(unit(), principal())


def project_context(name: str) -> dict:
    """The project as the signed-in person sees it (404 if hidden), with what they may do on it:
    the tabs and controls each page shows, decided by ``core.policy``."""
    actor = principal()
    project, view = project_service.get_project(unit(), actor, name)
    settings = current_app.extensions["authsvc"].settings
    held = permissions_on(actor, view, anonymous_pull=settings.anonymous_pull)
    return {"project": project, "view": view, "host": registry_host(),
            "may_manage_members": Permission.MANAGE_MEMBERS in held,
            "may_manage_robots": Permission.MANAGE_ROBOTS in held,
            "may_manage_project": Permission.MANAGE_PROJECT in held,
            "may_see_members": may_see_members(actor, view)}


def register(bp: Blueprint) -> None:
    @bp.get("/")
    def index():
        # Public (no ?next=/ detour): the sign-in page when nobody is signed in.
        return redirect(url_for("console.projects" if current() is not None else "console.login"))

    @bp.get("/projects")
    def projects():
        search, number = request.args.get("q", "")[:project_pages.MAX_QUERY], page_number()
        rows, total = project_pages.browse_projects(unit(), principal(), search=search,
                                                    offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return page("projects.html", rows=rows, total=total, q=search, number=number,
                    has_next=number * PAGE_SIZE < total, may_create=may_create())

    def new_form(error=None, status=200, **values):
        return page("project_new.html", status=status, error=error, may_create=may_create(), **values)

    @bp.get("/projects/new")
    def new_project():
        return new_form()

    @bp.post("/projects/new")
    def create_project():
        name, public = form_text("name", 100).strip(), request.form.get("public") == "on"
        try:
            created = project_service.create_project(unit(), principal(), name, public=public)
        except ServiceError as exc:
            return refused(exc, lambda error: new_form(error=error, name=name, public=public))
        flash(f"Project {created.name} created. Push your first image with these commands.", "success")
        return redirect(url_for("console.push_image", name=created.name), 303)

    @bp.get("/projects/<name>")
    def repositories(name: str):
        context = project_context(name)
        number = page_number()
        images, total = inventory.project_images(
            unit(), principal(), name, offset=(number - 1) * REPOSITORIES_PER_PAGE, limit=REPOSITORIES_PER_PAGE,
            tags_per_repository=TAGS_PER_REPOSITORY)
        return page("repositories.html", tab="repositories", images=images, total=total, number=number,
                    has_next=number * REPOSITORIES_PER_PAGE < total, **context)

    @bp.get("/projects/<name>/repositories/<path:repository>")
    def repository_tags(name: str, repository: str):
        context = project_context(name)
        number = page_number()
        tags, total = inventory.list_tags(unit(), principal(), name, repository,
                                          offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return page("repository.html", tab="repositories", repository=f"{name}/{repository}", path=repository,
                    tags=tags, total=total, number=number, has_next=number * PAGE_SIZE < total, **context)

    @bp.get("/projects/<name>/push")
    def push_image(name: str):
        return page("push.html", tab="push", **project_context(name))

    def settings_page(name: str, error=None):
        context = project_context(name)
        if not context["may_manage_project"]:
            project_service.require_permission(unit(), principal(), name, Permission.MANAGE_PROJECT)
        return page("settings.html", tab="settings", error=error, **context)

    @bp.get("/projects/<name>/settings")
    def project_settings(name: str):
        return settings_page(name)

    @bp.post("/projects/<name>/settings")
    def save_settings(name: str):
        visibility = request.form.get("visibility", "")
        try:
            if visibility not in ("public", "private"):
                raise Invalid("choose Public or Private", field="visibility")
            project_service.set_visibility(unit(), principal(), name, visibility == "public")
        except ServiceError as exc:
            return refused(exc, lambda error: settings_page(name, error))
        flash(f"Project {name} is now {visibility}.", "success")
        return redirect(url_for("console.project_settings", name=name), 303)

    @bp.post("/projects/<name>/delete")
    def delete_project(name: str):
        try:
            if form_text("confirm", 100).strip() != name:
                project_service.require_permission(unit(), principal(), name, Permission.MANAGE_PROJECT)
                raise Invalid("type the project's name exactly to delete it", field="confirm")
            project_service.delete_project(unit(), principal(), name)
        except ServiceError as exc:
            return refused(exc, lambda error: settings_page(name, error))
        flash(f"Project {name} deleted. Its name stays reserved until an operator releases it.", "success")
        return redirect(url_for("console.projects"), 303)
