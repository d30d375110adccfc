"""Trusted issuers (system administrators) and robots' trust policies (whoever manages the
project's robots): keyless machines, services/credentials/trust.py.

A JWKS travels as a JSON object here and is stored as the text the service checks; every rule
(who may, which URLs, which keys, an issuer still in use) is the service's.
"""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, url_for

from ...services.credentials import trust
from ...services.errors import Invalid, NotFound
from ..unit import unit
from .auth import caller
from .render import body, created, no_content, page_args, paginated

#: Longest policy id the path may name: beyond it no row exists, and PostgreSQL's integer column
#: would refuse the number as a query parameter.
_MAX_ID_DIGITS = 9


def _time(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def issuer_summary(row, policies: int) -> dict:
    return {"name": row.name, "issuer": row.issuer, "audience": row.audience,
            "jwks": json.loads(row.jwks) if row.jwks is not None else None, "policies": policies,
            "created_by": row.created_by, "created_at": _time(row.created_at)}


def policy_summary(info: trust.PolicyInfo) -> dict:
    return {"id": info.id, "robot": info.robot, "issuer": info.issuer,
            "conditions": [str(c) for c in info.conditions], "created_by": info.created_by,
            "created_at": _time(info.created_at), "last_used_at": _time(info.last_used_at)}


def _jwks_text(value) -> str | None:
    """The stored form of a ``jwks`` field: an object (checked by the service) or null."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"))


def _conditions(data: dict) -> list[str]:
    value = data["conditions"]
    if not all(isinstance(c, str) for c in value):
        raise Invalid("field 'conditions' must be a list of strings such as \"sub=repo:acme/app:*\"",
                      field="conditions")
    return value


def _issuer_row(name: str) -> dict:
    """One issuer, from the service's (system administrators') list."""
    for row, used in trust.list_issuers(unit(), caller()):
        if row.name == name:
            return issuer_summary(row, used)
    raise NotFound(f"no trusted issuer is named {name[:64]!r}")


def _policy_id(text: str) -> int:
    """The id in the path; anything that is no id names no policy (0: the service's 404, after
    its permission checks)."""
    return int(text) if text.isdigit() and len(text) <= _MAX_ID_DIGITS else 0


def register(bp: Blueprint) -> None:
    @bp.get("/issuers")
    def list_issuers():
        page, size = page_args()
        rows = trust.list_issuers(unit(), caller())
        items = [issuer_summary(row, used) for row, used in rows[(page - 1) * size: page * size]]
        return paginated(items, len(rows), page, size, "api.list_issuers")

    @bp.post("/issuers")
    def add_issuer():
        data = body(required={"name": str, "issuer": str, "audience": str}, optional={"jwks": (dict, type(None))})
        row = trust.add_issuer(unit(), caller(), data["name"], data["issuer"], data["audience"],
                               jwks=_jwks_text(data.get("jwks")))
        return created(issuer_summary(row, 0), url_for("api.get_issuer", name=row.name))

    @bp.get("/issuers/<name>")
    def get_issuer(name: str):
        return jsonify(_issuer_row(name))

    @bp.put("/issuers/<name>/keys")
    def set_issuer_keys(name: str):
        data = body(required={"jwks": (dict, type(None))})
        trust.set_issuer_keys(unit(), caller(), name, _jwks_text(data["jwks"]))
        return jsonify(_issuer_row(name))

    @bp.delete("/issuers/<name>")
    def remove_issuer(name: str):
        trust.remove_issuer(unit(), caller(), name)
        return no_content()

    @bp.get("/projects/<name>/robots/<robot>/trust")
    def list_trust_policies(name: str, robot: str):
        page, size = page_args()
        rows = trust.list_policies(unit(), caller(), name, robot)
        items = [policy_summary(info) for info in rows[(page - 1) * size: page * size]]
        return paginated(items, len(rows), page, size, "api.list_trust_policies", name=name, robot=robot)

    @bp.post("/projects/<name>/robots/<robot>/trust")
    def add_trust_policy(name: str, robot: str):
        data = body(required={"issuer": str, "conditions": list})
        info = trust.add_policy(unit(), caller(), name, robot, data["issuer"], _conditions(data))
        return created(policy_summary(info), url_for("api.list_trust_policies", name=name, robot=robot))

    @bp.delete("/projects/<name>/robots/<robot>/trust/<policy_id>")
    def remove_trust_policy(name: str, robot: str, policy_id: str):
        trust.remove_policy(unit(), caller(), name, robot, _policy_id(policy_id))
        return no_content()
