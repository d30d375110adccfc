"""``GET /metrics``: the Prometheus text exposition (see ``authsvc/metrics.py`` for what is counted).

Registered only with ``metrics_enabled`` (otherwise a 404, as for any
unknown path).  The numbers name no user or repository, but rates of failed
logins and throttling are still worth keeping from strangers, so
``metrics_token`` can require ``Authorization: Bearer <token>`` — what
Prometheus sends with ``authorization: {credentials: …}`` in its scrape
config.  The comparison is constant-time.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request

from .. import metrics
from ..signing.keys import KeyFileError
from .errors import json_error


def _bearer_matches(header: str | None, expected: str) -> bool:
    scheme, _, presented = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())


def create_blueprint(token: str) -> Blueprint:
    blueprint = Blueprint("metrics", __name__)

    @blueprint.get("/metrics")
    def exposition():
        if token and not _bearer_matches(request.headers.get("Authorization"), token):
            return json_error(401, "UNAUTHORIZED", "the metrics need 'Authorization: Bearer <metrics_token>'",
                              headers={"WWW-Authenticate": 'Bearer realm="authsvc-metrics"'})
        try:
            not_after = current_app.extensions["authsvc"].signing_material.certificate.not_valid_after_utc
        except KeyFileError:  # /readyz reports it; the expiry series is simply absent
            not_after = None
        response = Response(metrics.render(not_after), content_type=metrics.CONTENT_TYPE_LATEST)
        response.headers["Cache-Control"] = "no-store"
        return response

    return blueprint
