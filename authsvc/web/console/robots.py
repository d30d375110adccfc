"""A project's Robots tab: create (the secret shown once), disable, enable, re-key, delete, and
the Kubernetes pull Secret of a robot whose secret the page just showed.

The secret never travels in a URL: it is on the no-store result page, and the download form
posts it back in a hidden field; the service checks that it is the robot's current secret.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, make_response, redirect, request, url_for

from ...services.credentials import pull_secrets, robots
from ...services.errors import Invalid, ServiceError
from ...store.models import utcnow
from ..unit import unit
from .pages import form_text, page, refused
from .projects import principal, project_context

#: The console's bounds on a robot's lifetime, in days (every console robot expires).
MAX_DAYS = 3650
DEFAULT_NAMESPACE = "default"


def expiry_from_form() -> dt.datetime:
    value = form_text("expires_in_days", 10).strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_DAYS:
        raise Invalid(f"a robot must expire in 1 to {MAX_DAYS} days", field="expires_in_days")
    return utcnow() + dt.timedelta(days=int(value))


def register(bp: Blueprint) -> None:
    def robots_page(name: str, error=None, **values):
        context = project_context(name)
        rows = robots.list_robots(unit(), principal(), name)  # 403 for those who may not manage them
        return page("robots.html", tab="robots", robots=rows, error=error, now=utcnow(), **values, **context)

    def shown_once(name: str, made: robots.CreatedRobot, verb: str):
        return page("robot_secret.html", tab="robots", no_store=True, made=made, verb=verb,
                    namespace=DEFAULT_NAMESPACE, **project_context(name))

    @bp.get("/projects/<name>/robots")
    def robots_tab(name: str):
        return robots_page(name)

    @bp.post("/projects/<name>/robots")
    def create_robot(name: str):
        robot_name = form_text("name", 100).strip().lower()
        actions = [a for a in ("pull", "push") if request.form.get(a) == "on"]
        try:
            if not actions:
                raise Invalid("choose at least one of pull and push", field="actions")
            made = robots.create(unit(), principal(), name, robot_name, actions=actions,
                                 expires_at=expiry_from_form())
        except ServiceError as exc:
            values = {"new_name": robot_name, "new_actions": actions,
                      "new_days": form_text("expires_in_days", 10)}
            return refused(exc, lambda error: robots_page(name, error, **values))
        return shown_once(name, made, "created")

    @bp.post("/projects/<name>/robots/<robot>/rekey")
    def rekey_robot(name: str, robot: str):
        try:
            made = robots.rekey(unit(), principal(), name, robot)
        except ServiceError as exc:
            return refused(exc, lambda error: robots_page(name, error))
        return shown_once(name, made, "re-keyed")

    def toggle(name: str, robot: str, disabled: bool):
        try:
            robots.set_disabled(unit(), principal(), name, robot, disabled)
        except ServiceError as exc:
            return refused(exc, lambda error: robots_page(name, error))
        flash(f"Robot {robot} {'disabled' if disabled else 'enabled'}.", "success")
        return redirect(url_for("console.robots_tab", name=name), 303)

    @bp.post("/projects/<name>/robots/<robot>/disable")
    def disable_robot(name: str, robot: str):
        return toggle(name, robot, True)

    @bp.post("/projects/<name>/robots/<robot>/enable")
    def enable_robot(name: str, robot: str):
        return toggle(name, robot, False)

    @bp.post("/projects/<name>/robots/<robot>/delete")
    def delete_robot(name: str, robot: str):
        try:
            robots.delete(unit(), principal(), name, robot)
        except ServiceError as exc:
            return refused(exc, lambda error: robots_page(name, error))
        flash(f"Robot {robot} deleted.", "success")
        return redirect(url_for("console.robots_tab", name=name), 303)

    @bp.post("/projects/<name>/robots/<robot>/pull-secret")
    def download_pull_secret(name: str, robot: str):
        namespace = form_text("namespace", 100).strip() or DEFAULT_NAMESPACE
        try:
            made = pull_secrets.for_presented_secret(unit(), principal(), name, robot, form_text("secret", 200),
                                                     namespace=namespace)
        except ServiceError as exc:
            return refused(exc, lambda error: robots_page(name, error))
        response = make_response(made.manifest)
        response.mimetype = "application/yaml"
        response.headers["Content-Disposition"] = f'attachment; filename="{robot}-pull-secret.yaml"'
        response.headers["Cache-Control"] = "no-store"
        return response
