"""Robots and pull secrets under a project, personal tokens under a user.

Secrets appear in exactly one response each: the one that created (or
re-keyed) them.  Every rule is the service layer's.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, url_for

from ...services.credentials import personal_tokens, pull_secrets, robots
from ...services.errors import Invalid
from ..unit import unit
from .auth import caller
from .render import body, created, no_content, page_args, paginated


def _timestamp(value, field: str) -> dt.datetime | None:
    """An RFC 3339 UTC time (``2027-01-31T00:00:00Z``) or null."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        raise Invalid(f"field {field!r} must be a UTC time like 2027-01-31T00:00:00Z, or null",
                      field=field) from None
    return parsed


def _expiry(data: dict) -> dict:
    """``expires_at``: a time, or an explicit null for a robot that never expires; absent is
    neither, and the service refuses it (every robot expires unless asked otherwise)."""
    if "expires_at" in data and data["expires_at"] is None:
        return {"never_expires": True}
    return {"expires_at": _timestamp(data.get("expires_at"), "expires_at")}


def _actions(data: dict) -> list[str]:
    value = data.get("actions", ["pull"])
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise Invalid("field 'actions' must be a list of strings", field="actions")
    return value


def register(bp: Blueprint) -> None:
    @bp.get("/projects/<name>/robots")
    def list_robots(name: str):
        page, size = page_args()
        rows = robots.list_robots(unit(), caller(), name)
        items = [robots.robot_summary(r, name) for r in rows[(page - 1) * size: page * size]]
        return paginated(items, len(rows), page, size, "api.list_robots", name=name)

    @bp.post("/projects/<name>/robots")
    def create_robot(name: str):
        data = body(required={"name": str},
                    optional={"actions": list, "description": str, "expires_at": (str, type(None))})
        made = robots.create(unit(), caller(), name, data["name"], actions=_actions(data),
                             description=data.get("description", ""), **_expiry(data))
        payload = {**robots.robot_summary(made.robot, name), "secret": made.secret}
        return created(payload, url_for("api.get_robot", name=name, robot=made.robot.name))

    @bp.get("/projects/<name>/robots/<robot>")
    def get_robot(name: str, robot: str):
        return jsonify(robots.robot_summary(robots.get(unit(), caller(), name, robot), name))

    @bp.patch("/projects/<name>/robots/<robot>")
    def update_robot(name: str, robot: str):
        data = body(required={"disabled": bool})
        return jsonify(robots.robot_summary(robots.set_disabled(unit(), caller(), name, robot, data["disabled"]), name))

    @bp.post("/projects/<name>/robots/<robot>/rekey")
    def rekey_robot(name: str, robot: str):
        made = robots.rekey(unit(), caller(), name, robot)
        return jsonify({**robots.robot_summary(made.robot, name), "secret": made.secret})

    @bp.delete("/projects/<name>/robots/<robot>")
    def delete_robot(name: str, robot: str):
        robots.delete(unit(), caller(), name, robot)
        return no_content()

    @bp.post("/projects/<name>/pull-secret")
    def pull_secret(name: str):
        data = body(required={}, optional={"namespace": str, "name": str, "robot": str, "registry": str,
                                           "create_robot": bool, "expires_at": (str, type(None))})
        create = data.get("create_robot", False)
        secret = pull_secrets.issue(
            unit(), caller(), name, namespace=data.get("namespace", ""), name=data.get("name"), robot=data.get("robot"),
            create_robot=create, registry_host=data.get("registry"), **(_expiry(data) if create else {}))
        return jsonify({"login": secret.login, "manifest": secret.manifest,
                        "dockerconfigjson": secret.dockerconfigjson})

    @bp.get("/users/<name>/tokens")
    def list_tokens(name: str):
        return jsonify([personal_tokens.token_summary(t) for t in personal_tokens.list_tokens(unit(), caller(), name)])

    @bp.post("/users/<name>/tokens")
    def create_token(name: str):
        data = body(required={"name": str, "expires_in_days": int})
        made = personal_tokens.create(unit(), caller(), name, data["name"],
                                      expires_in=personal_tokens.lifetime_in_days(data["expires_in_days"]))
        return created({**personal_tokens.token_summary(made.row), "token": made.token},
                       url_for("api.list_tokens", name=name))

    @bp.delete("/users/<name>/tokens/<token>")
    def revoke_token(name: str, token: str):
        personal_tokens.revoke(unit(), caller(), name, token)
        return no_content()
