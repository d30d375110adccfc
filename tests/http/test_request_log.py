"""The per-request log line: one per request, with a request id, and never a secret.

pytest's log capture owns the root logger here, so ``logs.configure`` leaves it in charge
(no handler of ours): these tests read the captured records and render them with authsvc's
own text and JSON formatters, which is exactly what the stderr handler prints under gunicorn
(tests/e2e/test_metrics_gunicorn.py reads the real stderr).
"""

from __future__ import annotations

import io
import json
import logging

import pytest

from authsvc import logs
from tests.conftest import PASSWORDS
from tests.support.http import basic, get_token
from tests.support.units import call, flush_grants

TEXT, JSON = logs.formatter("text"), logs.formatter("json")


def request_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "authsvc.request"]


@pytest.fixture
def captured(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def rendered(caplog) -> str:
    records = request_records(caplog)
    return "\n".join([TEXT.format(r) for r in records] + [JSON.format(r) for r in records] + [caplog.text])


def test_one_line_per_request_with_method_path_status_duration_and_outcome(client, seeded, captured):
    response = get_token(client, "repository:priv/app:pull", user="bob", account="bob")
    get_token(client, "repository:priv/app:pull", user="bob", password="wrong-password")
    client.get("/healthz")
    first, second, third = request_records(captured)
    text = TEXT.format(first)
    assert '"GET /token?service=registry&account=bob&scope=repository:priv/app:pull HTTP/1.1" 200 ' in text
    assert text.endswith("ms outcome=granted")
    assert f"rid={response.headers['X-Request-ID']} " in text
    assert text.split(" ")[0].endswith("Z")  # UTC
    assert TEXT.format(second).endswith("outcome=unauthorized")
    assert '"GET /healthz HTTP/1.1" 200 ' in TEXT.format(third) and "outcome" not in TEXT.format(third)


def test_json_lines_parse_and_carry_the_fields(client, seeded, captured):
    response = get_token(client, "repository:pub/app:pull")
    client.post("/token", data={"grant_type": "password", "username": "bob", "password": "no"})
    first, second = (json.loads(JSON.format(record)) for record in request_records(captured))
    assert first["request_id"] == response.headers["X-Request-ID"]
    assert {k: first[k] for k in ("level", "logger", "method", "status", "client", "outcome")} == {
        "level": "INFO", "logger": "authsvc.request", "method": "GET", "status": 200, "client": "127.0.0.1",
        "outcome": "granted"}
    assert first["path"] == "/token?service=registry&scope=repository:pub/app:pull"
    assert isinstance(first["duration_ms"], float) and first["time"].endswith("Z")
    assert (second["path"], second["status"], second["outcome"]) == ("/token", 401, "unauthorized")


def test_no_password_token_authorization_or_cookie_reaches_the_log(client, seeded, captured):
    login = get_token(client, user="bob", offline_token="true")
    refresh, token = login.get_json()["refresh_token"], login.get_json()["token"]
    client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh, "service": "registry"})
    client.post("/token", data={"grant_type": "password", "username": "bob", "password": PASSWORDS["bob"]})
    client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}", "Cookie": "session=cookie-secret-1"})
    client.get("/token", query_string={"service": "registry", "password": "query-secret-1",
                                       "refresh_token": "query-secret-2", "access_token": token})
    client.get("/token?service=registry", headers=basic("bob", "wrong-secret-1"))
    text = rendered(captured)
    assert len(request_records(captured)) == 6
    for secret in (PASSWORDS["bob"], refresh, token, "cookie-secret-1", "query-secret-1", "query-secret-2",
                   "wrong-secret-1", basic("bob", PASSWORDS["bob"])["Authorization"].split()[1]):
        assert secret not in text
    assert "password=REDACTED&refresh_token=REDACTED&access_token=REDACTED" in text


@pytest.mark.parametrize("incoming", ["req-42", "0f8fad5b-d9cb-469f-a165-70867728950e", "a" * 128])
def test_a_sane_incoming_request_id_is_kept_and_echoed(client, seeded, captured, incoming):
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert request_records(captured)[0].request_id == incoming


@pytest.mark.parametrize("incoming", ["", "a" * 129, "two words", "line\nbreak", "tab\there", 'q"uote', "é",
                                      "<script>"])
def test_an_insane_request_id_is_replaced(client, seeded, captured, incoming):
    # Through the WSGI environ: the test client's own header checks would refuse some of these.
    response = client.get("/healthz", environ_base={"HTTP_X_REQUEST_ID": incoming})
    generated = response.headers["X-Request-ID"]
    assert generated != incoming and len(generated) == 32 and generated.isalnum()
    assert request_records(captured)[0].request_id == generated
    assert incoming not in TEXT.format(request_records(captured)[0]) or incoming == ""


def test_ids_differ_between_requests_and_errors_get_one_too(client, seeded, captured):
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    missing = client.get("/no/such/path")
    assert len(ids) == 3
    assert missing.status_code == 404 and missing.headers["X-Request-ID"]


def test_path_cannot_inject_into_the_line(client, seeded, captured):
    client.get('/no/such"path%0A2026-01-01 INFO forged line')
    line = TEXT.format(request_records(captured)[0])
    assert "\n" not in line and '"path' not in line
    assert '"GET /no/such%22path%0A2026-01-01%20INFO%20forged%20line HTTP/1.1" 404 ' in line


def test_configure_installs_one_stderr_handler_and_tags_records_with_the_request_id(app, monkeypatch):
    """What gunicorn gets: no root handler, so authsvc installs its own, once, and every record a
    request logs (here the 500 handler's) carries that request's id."""
    root, logger = logging.getLogger(), logging.getLogger("authsvc")
    saved_root, saved_ours = root.handlers[:], logger.handlers[:]
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    try:
        root.handlers.clear()
        logs.configure("json")
        logs.configure("json")  # every create_app calls it: still one handler
        assert len([h for h in logger.handlers if h not in saved_ours]) == 1
        def explode(*_args, **_kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr("authsvc.web.token.issue_token", explode)
        response = app.test_client().get("/token?service=registry")
        assert response.status_code == 500
    finally:
        for handler in [h for h in logger.handlers if h not in saved_ours]:
            logger.removeHandler(handler)
        root.handlers[:] = saved_root
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    rid = response.headers["X-Request-ID"]
    assert [(line["logger"], line["request_id"]) for line in lines] == [("authsvc", rid), ("authsvc.request", rid)]
    assert lines[0]["message"] == "unhandled error" and "RuntimeError: boom" in lines[0]["exception"]
    assert (lines[1]["level"], lines[1]["status"], lines[1]["outcome"]) == ("WARNING", 500, "error")


def test_audit_events_carry_the_request_id_of_their_request(client, seeded):
    """A security engineer can go from an audit event to the request's log line, and back."""
    from authsvc.core.policy import OPERATOR
    from authsvc.services import audit

    client.get("/token", query_string={"service": "registry", "scope": "repository:priv/app:pull"},
               headers={**basic("bob", PASSWORDS["bob"]), "X-Request-ID": "incident-42"})
    client.get("/token", query_string={"service": "registry"},
               headers={**basic("bob", "wrong-password"), "X-Request-ID": "incident-43"})
    flush_grants()
    granted = call(audit.list_events, OPERATOR, request_id="incident-42")
    assert [e.action for e in granted] == ["token.grant"] and granted[0].actor == "bob"
    failed = call(audit.list_events, OPERATOR, request_id="incident-43")
    assert [e.action for e in failed] == ["login.failure"]
    assert audit.event_summary(failed[0])["request_id"] == "incident-43"
    # Events outside a request (the seeding above ran as the CLI would) have none.
    assert all(e.request_id is None for e in call(audit.list_events, OPERATOR, action="user."))
