"""``/api/v1/users``: accounts (system administrators), and each user's own record and password."""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for

from ...services.access import accounts
from ...services.errors import Unauthorized
from ..unit import unit
from .auth import caller
from .render import body, created, no_content, page_args, paginated


def register(bp: Blueprint) -> None:
    @bp.get("/users")
    def list_users():
        page, size = page_args()
        users, total = accounts.list_users(unit(), caller(), offset=(page - 1) * size, limit=size)
        return paginated([accounts.user_summary(u) for u in users], total, page, size, "api.list_users")

    @bp.post("/users")
    def create_user():
        data = body(required={"name": str, "password": str}, optional={"admin": bool, "take_directory_name": bool})
        made = accounts.create_account(unit(), caller(), data["name"], data["password"],
                                       is_admin=data.get("admin", False),
                                       take_directory_name=data.get("take_directory_name", False))
        shown = {**accounts.user_summary(made.user), **({"warning": made.warning} if made.warning else {})}
        return created(shown, url_for("api.get_user", name=made.user.name))

    @bp.get("/users/current")
    def current_user():
        principal = caller()
        if principal.is_anonymous:
            raise Unauthorized("log in to see your own account")
        return jsonify(accounts.user_summary(accounts.show_user(unit(), principal, principal.subject)))

    @bp.get("/users/<name>")
    def get_user(name: str):
        return jsonify(accounts.user_summary(accounts.show_user(unit(), caller(), name)))

    @bp.patch("/users/<name>")
    def update_user(name: str):
        data = body(required={}, optional={"admin": bool, "active": bool})
        user = accounts.update_user(unit(), caller(), name, is_admin=data.get("admin"), is_active=data.get("active"))
        return jsonify(accounts.user_summary(user))

    @bp.delete("/users/<name>")
    def delete_user(name: str):
        accounts.delete_user(unit(), caller(), name)
        return no_content()

    @bp.put("/users/<name>/password")
    def set_password(name: str):
        data = body(required={"password": str}, optional={"old_password": str})
        accounts.set_password(unit(), caller(), name, data["password"], old_password=data.get("old_password"))
        return no_content()
