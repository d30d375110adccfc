"""Probes: ``/healthz`` says the process serves; ``/readyz`` that it can issue tokens."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from ..signing.keys import KeyFileError
from ..store.models import db
from .errors import json_error

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error or the request deadline means not ready
        current_app.logger.error("readiness: database unreachable")
        db.session().invalidate()  # not rollback(): a hung connection would make it wait again
        return json_error(503, "UNAVAILABLE", "database unreachable", headers={"Retry-After": "5"})
    try:
        current_app.extensions["authsvc"].signer  # noqa: B018 - loads the key once
    except KeyFileError as exc:
        return json_error(503, "UNAVAILABLE", str(exc))
    return jsonify({"status": "ready"})
