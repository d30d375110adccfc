"""CPU per request of the token path with the WSGI app called directly: a map, not a benchmark.

    .venv/bin/python -m tests.benchmarks.inprocess [REQUESTS] [SORT]

Prints the CPU time (``time.process_time``, all threads: the audit writer's included) per
request of a bare Flask view and of ``/token`` with cached Basic credentials and anonymously,
each after a warm-up, in one process with no server; with SORT (``tottime``, ``cumulative``)
also a cProfile of the Basic request.  gunicorn's own cost per request is the same for both
apps, so this shows where authsvc's extra time goes; the throughput ratios that issue targets
name come from ``python -m tests.benchmarks``.
"""

from __future__ import annotations

import base64
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

from flask import Flask, jsonify

from authsvc.store.models import db
from tests.conftest import make_app, seed


def _environ(path: str, query: str, headers: dict[str, str]) -> dict:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "bench",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "REMOTE_ADDR": "127.0.0.1",
               "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    return environ


def _call(app, request: tuple) -> str:
    status: list[str] = []
    b"".join(app(_environ(*request), lambda s, h, e=None: status.append(s)))
    return status[0]


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 3000
    app = make_app(Path(tempfile.mkdtemp(prefix="ainproc")), bcrypt_rounds=4)
    with app.app_context():
        seed()
        db.session.remove()
    bare = Flask("bare")
    bare.get("/")(lambda: jsonify({"ok": True}))
    basic = ("/token", "service=registry&scope=repository%3Apriv%2Fapp%3Apull%2Cpush",
             {"Authorization": "Basic " + base64.b64encode(b"bob:bob-pass-1").decode()})
    anonymous = ("/token", "service=registry&scope=repository%3Apub%2Fapp%3Apull", {})
    for _ in range(300):
        assert _call(app, basic).startswith("200") and _call(app, anonymous).startswith("200")
        _call(bare, ("/", "", {}))
    for label, target, request in (("bare Flask view", bare, ("/", "", {})), ("token, cached Basic", app, basic),
                                   ("token, anonymous", app, anonymous)):
        started = time.process_time()
        for _ in range(count):
            _call(target, request)
        print(f"{label}: {(time.process_time() - started) / count * 1e6:.0f} us CPU/request")
    if len(argv) > 1:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(count):
            _call(app, basic)
        profile.disable()
        pstats.Stats(profile).sort_stats(argv[1]).print_stats(40)


if __name__ == "__main__":
    main(sys.argv[1:])
