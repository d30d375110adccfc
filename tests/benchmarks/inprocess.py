"""CPU per request of the token path with the WSGI app called directly: a map, not a benchmark.

    .venv/bin/python -m tests.benchmarks.inprocess [REQUESTS] [SORT] [--audit on|off|both]
                                                   [--profile basic|refresh|anonymous]

Prints the CPU time (``time.process_time``, all threads: the audit writer's included) per
request of a bare Flask view and of ``/token`` with cached Basic credentials, as a refresh-token
POST (docker after ``docker login``) and anonymously, each after a warm-up, in one process with
no server; with SORT (``tottime``, ``cumulative``) also a cProfile of one of them (``--profile``,
Basic by default).  ``--audit off`` measures with ``audit_token_grants = false``, ``both`` runs
each token request with audit on and off in one process (the audit writer's cost, issue 23).
With ``TEST_DATABASE_URL`` set (tests/conftest.py) the app runs on PostgreSQL.  gunicorn's own
cost per request is the same for both apps, so this shows where authsvc's extra time goes; the
throughput ratios that issue targets name come from ``python -m tests.benchmarks``.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, jsonify

from authsvc.store.models import db
from tests.conftest import make_app, pytest_sessionfinish, seed

SCOPE = "repository:priv/app:pull,push"


def _environ(method: str, path: str, query: str, headers: dict[str, str], body: bytes = b"") -> dict:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "bench",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "REMOTE_ADDR": "127.0.0.1",
               "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False}
    if body:
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    return environ


def _call(app, request: tuple) -> str:
    status: list[str] = []
    b"".join(app(_environ(*request), lambda s, h, e=None: status.append(s)))
    return status[0]


def _app(audit: bool):
    """A seeded app and its three token requests (a refresh token is asked for as docker does)."""
    directory = Path(tempfile.mkdtemp(prefix="ainproc"))
    app = make_app(directory, bcrypt_rounds=4, audit_token_grants=audit)
    with app.app_context():
        seed()
        db.session.remove()
    bob = {"Authorization": "Basic " + base64.b64encode(b"bob:bob-pass-1").decode()}
    login = app.test_client().get("/token", query_string={"service": "registry", "offline_token": "true"},
                                  headers=bob)
    form = urlencode({"grant_type": "refresh_token", "refresh_token": login.get_json()["refresh_token"],
                      "service": "registry", "scope": SCOPE, "client_id": "docker"}).encode()
    requests = {
        "cached Basic": ("GET", "/token", urlencode({"service": "registry", "scope": SCOPE}), bob),
        "refresh POST": ("POST", "/token", "", {}, form),
        "anonymous": ("GET", "/token", "service=registry&scope=repository%3Apub%2Fapp%3Apull", {}),
    }
    for _ in range(300):
        for request in requests.values():
            assert _call(app, request).startswith("200")
    return app, requests


def _measure(label: str, target, request: tuple, count: int) -> None:
    started = time.process_time()
    for _ in range(count):
        _call(target, request)
    print(f"{label}: {(time.process_time() - started) / count * 1e6:.0f} us CPU/request", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.inprocess")
    parser.add_argument("count", nargs="?", type=int, default=3000)
    parser.add_argument("sort", nargs="?")
    parser.add_argument("--audit", choices=("on", "off", "both"), default="on")
    parser.add_argument("--profile", choices=("basic", "refresh", "anonymous"), default="basic")
    args = parser.parse_args(argv)
    apps = {audit: _app(audit == "on") for audit in (("on", "off") if args.audit == "both" else (args.audit,))}
    bare = Flask("bare")
    bare.get("/")(lambda: jsonify({"ok": True}))
    for _ in range(300):
        _call(bare, ("GET", "/", "", {}))
    _measure("bare Flask view", bare, ("GET", "/", "", {}), args.count)
    for name in ("cached Basic", "refresh POST", "anonymous"):
        for audit, (app, requests) in apps.items():
            suffix = f", audit {audit}" if len(apps) > 1 else ""
            _measure(f"token, {name}{suffix}", app, requests[name], args.count)
    if args.sort:
        app, requests = next(iter(apps.values()))
        request = requests[{"basic": "cached Basic", "refresh": "refresh POST"}.get(args.profile, args.profile)]
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.count):
            _call(app, request)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(40)
    for app, _ in apps.values():
        with app.app_context():
            db.engine.dispose()
    pytest_sessionfinish(None, 0)  # PostgreSQL: drop the databases made (nothing on SQLite)


if __name__ == "__main__":
    main(sys.argv[1:])
