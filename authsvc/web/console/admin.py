"""Administration, for system administrators: users (create, activate, deactivate, set a password,
delete) and the audit log.  Everyone else gets 404 for these pages, as for a page that does not
exist (the services' 403 is translated): the console does not advertise what a person cannot use.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, request, url_for

from ...core.policy import may_manage_users
from ...services import audit
from ...services.access import accounts
from ...services.authn.passwords import generate_password
from ...services.errors import Invalid, ServiceError
from ..unit import unit
from .pages import PAGE_SIZE, form_text, page, page_number, refused
from .projects import principal
from .session import renew

AUDIT_FILTERS = ("user", "project", "action", "from", "to")


def _admins_only():
    if not may_manage_users(principal()):
        abort(404)


def _passwords(first: str, second: str, field: str = "password") -> str:
    password, repeated = form_text(first, 5000), form_text(second, 5000)
    if password != repeated:
        raise Invalid("the two passwords differ", field=field)
    return password


def _day(value: str, field: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise Invalid(f"{field} must be a date like 2026-01-31", field=field) from None


def register(bp: Blueprint) -> None:
    @bp.get("/admin/users")
    def users():
        _admins_only()
        number = page_number()
        rows, total = accounts.list_users(unit(), principal(), offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return page("users.html", users=rows, total=total, number=number, has_next=number * PAGE_SIZE < total)

    def new_user_form(error=None, **values):
        return page("user_new.html", error=error, **values)

    @bp.get("/admin/users/new")
    def new_user():
        _admins_only()
        return new_user_form()

    @bp.post("/admin/users/new")
    def create_user():
        _admins_only()
        name, is_admin = form_text("name", 100).strip().lower(), request.form.get("admin") == "on"
        generate = request.form.get("generate") == "on"
        try:
            password = generate_password() if generate else _passwords("password", "repeat")
            made = accounts.create_account(unit(), principal(), name, password, is_admin=is_admin)
        except ServiceError as exc:
            return refused(exc, lambda error: new_user_form(error, name=name, admin=is_admin, generate=generate))
        user = made.user
        if made.warning:
            flash(f"Warning: {made.warning}", "warning")
        if generate:
            return page("user_created.html", no_store=True, user=user, password=password)
        flash(f"User {user.name} created.", "success")
        return redirect(url_for("console.users"), 303)

    def change_user(user: str, message: str, **changes):
        _admins_only()
        try:
            accounts.update_user(unit(), principal(), user, **changes)
        except ServiceError as exc:
            return refused(exc, lambda error: users_again(error))
        flash(message, "success")
        return redirect(url_for("console.users"), 303)

    def users_again(error):
        rows, total = accounts.list_users(unit(), principal(), offset=0, limit=PAGE_SIZE)
        return page("users.html", users=rows, total=total, number=1, has_next=PAGE_SIZE < total, error=error)

    @bp.post("/admin/users/<user>/deactivate")
    def deactivate_user(user: str):
        return change_user(user, f"User {user} deactivated; their sessions and tokens have ended.", is_active=False)

    @bp.post("/admin/users/<user>/activate")
    def activate_user(user: str):
        return change_user(user, f"User {user} activated.", is_active=True)

    def password_form(user: str, error=None):
        return page("user_password.html", user=accounts.show_user(unit(), principal(), user), error=error)

    @bp.get("/admin/users/<user>/password")
    def user_password(user: str):
        _admins_only()
        return password_form(user)

    @bp.post("/admin/users/<user>/password")
    def set_user_password(user: str):
        _admins_only()
        try:
            changed = accounts.set_password(unit(), principal(), user, _passwords("password", "repeat"))
        except ServiceError as exc:
            return refused(exc, lambda error: password_form(user, error))
        renew(changed.id, changed.credential_version)  # an administrator setting their own password
        flash(f"Password of {user} set; their other sessions and tokens have ended.", "success")
        return redirect(url_for("console.users"), 303)

    def delete_form(user: str, error=None):
        return page("user_delete.html", user=accounts.show_user(unit(), principal(), user), error=error)

    @bp.get("/admin/users/<user>/delete")
    def confirm_delete_user(user: str):
        _admins_only()
        return delete_form(user)

    @bp.post("/admin/users/<user>/delete")
    def delete_user(user: str):
        _admins_only()
        try:
            if form_text("confirm", 100).strip() != user:
                accounts.show_user(unit(), principal(), user)
                raise Invalid("type the user name exactly to delete the account", field="confirm")
            accounts.delete_user(unit(), principal(), user)
        except ServiceError as exc:
            return refused(exc, lambda error: delete_form(user, error))
        flash(f"User {user} deleted.", "success")
        return redirect(url_for("console.users"), 303)

    @bp.get("/admin/audit")
    def audit_log():
        _admins_only()
        filters = {key: request.args.get(key, "")[:120].strip() for key in AUDIT_FILTERS}
        number = page_number()
        try:
            since, until = _day(filters["from"], "From"), _day(filters["to"], "To")
            events, more = audit.search_events(
                unit(), principal(), who=filters["user"], project=filters["project"], action=filters["action"],
                since=since, until=until + dt.timedelta(days=1) if until else None,
                offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        except Invalid as exc:
            return page("audit.html", status=400, events=[], filters=filters, number=1, has_next=False,
                        error=exc.message)
        return page("audit.html", events=events, filters=filters, number=number, has_next=more)
