"""The baseline every throughput figure is divided by: a bare Flask JSON endpoint.

Served by the same gunicorn command and configuration as authsvc
(``gunicorn -c config/gunicorn.conf.py 'tests.benchmarks.baseline_app:create_app()'``)
and driven by the same wrk script with the same requests, so the ratio
isolates what authsvc's token path adds: credential checks, queries, the
policy decision, ES256 signing and the audit row.  It reads nothing from the
request and answers a fixed JSON object of about a token answer's shape.
"""

from __future__ import annotations

from flask import Flask, jsonify


def create_app() -> Flask:
    app = Flask(__name__)

    @app.route("/token", methods=["GET", "POST"])
    def token():
        return jsonify({"token": "baseline", "access_token": "baseline", "expires_in": 300,
                        "issued_at": "2000-01-01T00:00:00Z"})

    @app.route("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app
