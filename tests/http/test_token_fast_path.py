"""The token endpoint's fast path (web/fast_token.py) against its Flask view, request by request.

For each everyday request the same request is answered twice in one app, once by the fast path
and once by the Flask path behind it, within ``token_reuse_seconds`` -- so the same decision gets
the same signed token -- and everything the outside world sees must be equal: status, headers
in order, body bytes, the log line (but its duration) and every counter.  Requests the fast path
must not answer (refusals, cache misses, writes, unusual requests) must reach the Flask path
untouched, and count, log and audit once.  The rest of the HTTP suite runs with the fast path on,
and again with ``AUTHSVC_TEST_TOKEN_PATH=flask`` (tests/run), for every answer beyond these.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import types

import pytest
from prometheus_client import REGISTRY
from werkzeug.test import EnvironBuilder

from authsvc.core.policy import OPERATOR
from authsvc.services.credentials import personal_tokens, robots
from authsvc.signing import jwt as signing_jwt
from authsvc.store.models import AuditEvent, User, db
from authsvc.web.fast_token import FastTokenPath
from tests.support.http import basic, basic_header
from tests.support.units import call, flush_grants

PULL_PUSH = ("scope", "repository:priv/app:pull,push")


@pytest.fixture
def app(tmp_path):
    """The fast path on, whatever AUTHSVC_TEST_TOKEN_PATH says: this module compares the two."""
    from tests.conftest import make_app
    application = make_app(tmp_path, token_fast_path=True)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def paths(app, seeded, monkeypatch):
    """The app's two paths as WSGI callables, and how many requests reached the Flask one."""
    fast = app.wsgi_app
    assert isinstance(fast, FastTokenPath), "token_fast_path is on by default"
    flask_path = fast.full_path
    reached = []

    def counted(environ, start_response):
        reached.append(environ.get("PATH_INFO"))
        return flask_path(environ, start_response)

    monkeypatch.setattr(fast, "full_path", counted)
    return fast, flask_path, reached


def _call(wsgi, **request):
    request.setdefault("headers", {})
    request["headers"] = {"X-Request-ID": "same-id-for-both", **request["headers"]}
    environ = EnvironBuilder(path="/token", **request).get_environ()
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, list(headers)

    body = b"".join(wsgi(environ, start_response))
    return seen["status"], seen["headers"], body


def _counters() -> dict:
    """Every authsvc counter and histogram count (not the latency buckets, which time itself)."""
    found = {}
    for family in REGISTRY.collect():
        if not family.name.startswith("authsvc_"):
            continue
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_sum", "_created")):
                continue
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _delta(before: dict, after: dict) -> dict:
    return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}


def _answered(caplog, wsgi, **request):
    """Status, headers, body, the request's log line (duration masked) and its counters."""
    caplog.clear()
    before = _counters()
    with caplog.at_level(logging.INFO, logger="authsvc.request"):
        status, headers, body = _call(wsgi, **request)
    lines = [r for r in caplog.records if r.name == "authsvc.request"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    record = lines[0]
    message = record.getMessage().rsplit("ms", 1)
    fields = {k: v for k, v in record.http.items() if k != "duration_ms"}
    line = (message[0].rsplit(" ", 1)[0], message[1], fields, record.request_id, record.levelno)
    return (status, headers, body, line), _delta(before, _counters())


def _robot_secret(app) -> str:
    created = call(robots.create, OPERATOR, "priv", "ci", actions="pull",
                   expires_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1))
    return created.login, created.secret


def _personal_token(app) -> str:
    return call(personal_tokens.create, OPERATOR, "bob", "laptop", expires_in=dt.timedelta(days=1)).token


def _refresh_token(app, client) -> str:
    login = client.get("/token", query_string={"service": "registry", "offline_token": "true"},
                       headers=basic_header("bob"))
    return login.get_json()["refresh_token"]


EVERYDAY = {
    "cached password": lambda app, client: dict(query_string=[("service", "registry"), PULL_PUSH],
                                                headers=basic_header("bob")),
    "several scopes, partly granted": lambda app, client: dict(
        query_string=[("service", "registry"), PULL_PUSH, ("scope", "repository:pub/app:pull,delete"),
                      ("scope", "registry:catalog:*")], headers=basic_header("bob")),
    "denied": lambda app, client: dict(query_string=[("service", "registry"), PULL_PUSH],
                                       headers=basic_header("erin")),
    "anonymous": lambda app, client: dict(query_string=[("service", "registry"),
                                                        ("scope", "repository:pub/app:pull")]),
    "anonymous, private": lambda app, client: dict(query_string=[("service", "registry"), PULL_PUSH]),
    "login without scope": lambda app, client: dict(query_string={"service": "registry", "account": "bob",
                                                                  "client_id": "docker"},
                                                    headers=basic_header("bob")),
    "robot": lambda app, client: dict(query_string=[("service", "registry"), PULL_PUSH],
                                      headers=basic(*_robot_secret(app))),
    "personal token": lambda app, client: dict(query_string=[("service", "registry"), PULL_PUSH],
                                               headers=basic("bob", _personal_token(app))),
    "refresh token POST": lambda app, client: dict(
        method="POST", data={"grant_type": "refresh_token", "refresh_token": _refresh_token(app, client),
                             "service": "registry", "scope": PULL_PUSH[1], "client_id": "docker"}),
    "password POST (containerd)": lambda app, client: dict(
        method="POST", data={"grant_type": "password", "username": "bob", "password": "bob-pass-1",
                             "service": "registry", "scope": PULL_PUSH[1]}),
    "API token": lambda app, client: dict(query_string={"service": "authsvc-api"},
                                          headers=basic_header("bob")),
    "redacted parameter in the log": lambda app, client: dict(
        query_string=[("service", "registry"), PULL_PUSH, ("password", "oops")], headers=basic_header("bob")),
}


@pytest.mark.parametrize("case", EVERYDAY)
def test_fast_path_answers_everyday_requests_as_the_flask_path_does(app, client, paths, caplog, monkeypatch,
                                                                    case):
    fast, flask_path, reached = paths
    request = EVERYDAY[case](app, client)
    _call(fast, **request)  # warm: a first password login is a cache miss, which Flask answers
    reached.clear()
    # The reused token's expires_in counts whole seconds since it was signed: both answers are
    # read at one instant, so that a second boundary between the two calls cannot tell them apart.
    frozen = time.time()
    monkeypatch.setattr(signing_jwt, "time", types.SimpleNamespace(time=lambda: frozen))

    by_fast, fast_counts = _answered(caplog, fast, **request)
    assert reached == [], "the fast path answered it"
    by_flask, flask_counts = _answered(caplog, flask_path, **request)

    assert by_fast[0] == by_flask[0] == "200 OK"
    assert by_fast[1] == by_flask[1]  # headers, in order
    assert by_fast[2] == by_flask[2]  # the same token, reused within token_reuse_seconds
    assert by_fast[3] == by_flask[3]  # the log line, but for its duration
    assert fast_counts == flask_counts and fast_counts


@pytest.mark.parametrize("case, request_args", [
    ("wrong password", dict(headers=basic("bob", "wrong"))),
    ("unknown user", dict(headers=basic("nobody", "whatever"))),
    ("inactive account", dict(headers=basic_header("carol"))),
    ("bad scope", dict(query_string=[("service", "registry"), ("scope", "repository:Bad Name:pull")])),
    ("unknown service", dict(query_string={"service": "elsewhere"})),
    ("refresh token to store", dict(query_string={"service": "registry", "offline_token": "true"},
                                    headers=basic_header("bob"))),
    ("not Basic", dict(headers={"Authorization": "Bearer abc"})),
    ("JSON body", dict(method="POST", json={"grant_type": "password"})),
    ("HEAD", dict(method="HEAD")),
])
def test_everything_else_reaches_the_flask_path_untouched(app, client, paths, caplog, case, request_args):
    fast, flask_path, reached = paths
    _call(fast, query_string=[("service", "registry"), PULL_PUSH], headers=basic_header("carol"))  # cached
    if case == "inactive account":
        user = db.session.execute(db.select(User).filter_by(name="carol")).scalar_one()
        user.is_active = False
        db.session.commit()
    reached.clear()
    request_args = {"query_string": [("service", "registry"), PULL_PUSH], **request_args}
    failures = _failed_logins()

    by_fast, fast_counts = _answered(caplog, fast, **request_args)
    assert reached == ["/token"], "handed to the Flask path"
    refused = not by_fast[0].startswith("200")
    assert _failed_logins() - failures == (1 if case in ("wrong password", "unknown user", "inactive account")
                                           else 0), "audited once, not once per path"
    if refused:
        outcome = {"bad scope": "bad_request", "unknown service": "bad_request", "JSON body": "bad_request"}
        counted = [key for key in fast_counts if key[0] == "authsvc_token_requests_total"]
        assert len(counted) == 1 and fast_counts[counted[0]] == 1, fast_counts
        if case in outcome:
            assert dict(counted[0][1])["outcome"] == outcome[case]
    if case in ("wrong password", "unknown user", "inactive account"):
        assert fast_counts[("authsvc_logins_total", (("kind", "password"), ("result", "failure")))] == 1


def _failed_logins() -> int:
    flush_grants()
    return db.session.execute(db.select(db.func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "login.failure")).scalar()


def test_a_form_body_reaches_the_flask_path_whole(app, client, paths):
    """A POST the fast path reads and hands over (a refresh token to store) keeps its body."""
    fast, _, reached = paths
    status, _, body = _call(fast, method="POST", data={
        "grant_type": "password", "username": "bob", "password": "bob-pass-1", "service": "registry",
        "access_type": "offline", "client_id": "containerd"})
    assert status == "200 OK" and b'"refresh_token"' in body and reached == ["/token"]


def test_throttled_pair_is_refused_by_the_flask_path_even_with_a_cached_password(app, client, paths):
    fast, _, reached = paths
    good = dict(query_string=[("service", "registry"), PULL_PUSH], headers=basic_header("bob"))
    assert _call(fast, **good)[0] == "200 OK"
    for _ in range(app.extensions["authsvc"].settings.throttle_threshold):
        _call(fast, headers=basic("bob", "wrong"), query_string={"service": "registry"})
    reached.clear()
    assert _call(fast, **good)[0].startswith("429")
    assert reached == ["/token"]


def test_a_raised_bcrypt_cost_still_rehashes_behind_the_fast_path(app, paths):
    """The cache miss goes to the Flask path before the cache is filled, so the re-hash happens."""
    fast, _, reached = paths
    context = app.extensions["authsvc"]
    stored = lambda: db.session.execute(db.select(User.password_hash).filter_by(name="dave")).scalar()  # noqa: E731
    old = stored()
    object.__setattr__(context.settings, "bcrypt_rounds", context.settings.bcrypt_rounds + 1)
    assert _call(fast, query_string={"service": "registry"}, headers=basic_header("dave"))[0] == "200 OK"
    db.session.expire_all()
    assert reached == ["/token"] and stored() != old


def test_turned_off_everything_goes_through_flask(tmp_path):
    from tests.conftest import make_app
    app = make_app(tmp_path, token_fast_path=False)
    assert not isinstance(app.wsgi_app, FastTokenPath)


def test_a_deadline_spent_on_the_fast_path_is_answered_at_once_by_the_flask_path(app, paths, monkeypatch, caplog):
    """A hung database must not be waited on twice: the handed-over request is a prompt 503."""
    from authsvc.store import queries
    from authsvc.web.deadline import DeadlineExceeded
    fast, _, reached = paths
    _call(fast, query_string={"service": "registry"}, headers=basic_header("bob"))  # cached
    reached.clear()
    reads = []

    def hung(*args, **kwargs):
        reads.append(args)
        raise DeadlineExceeded()

    monkeypatch.setattr(queries, "user_with_counter", hung)
    (status, headers, body, line), counts = _answered(caplog, fast, query_string={"service": "registry"},
                                                      headers=basic_header("bob"))
    assert status.startswith("503") and b"UNAVAILABLE" in body and ("Retry-After", "5") in headers
    assert reached == ["/token"] and len(reads) == 1, "the database was asked once"
    assert line[2]["outcome"] == "unavailable"
    assert counts[("authsvc_token_requests_total", (("outcome", "unavailable"),))] == 1


def test_a_refresh_tokens_last_use_is_written_once_a_minute_by_the_flask_path(app, client, paths):
    """The write is what hands the request over; within the minute the fast path answers alone."""
    from authsvc.store.models import RefreshToken
    fast, _, reached = paths
    refresh = _refresh_token(app, client)
    request = dict(method="POST", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                        "service": "registry", "client_id": "docker"})
    last_use = lambda: db.session.execute(db.select(RefreshToken.last_used_at)).scalar_one()  # noqa: E731
    assert last_use() is None
    reached.clear()
    assert _call(fast, **request)[0] == "200 OK"
    assert reached == ["/token"], "the first use writes, so Flask answered it"
    db.session.expire_all()
    first = last_use()
    assert first is not None
    reached.clear()
    assert _call(fast, **request)[0] == "200 OK"
    db.session.expire_all()
    assert reached == [] and last_use() == first, "within the minute: no write, the fast path answers"
