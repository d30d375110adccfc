"""/metrics: every counter moves exactly as the token requests that should move it.

The counters are process-wide (as they are in one gunicorn worker), so each test compares
scrapes taken before and after its own requests.  Scrapes are parsed with prometheus_client's
own parser: what Prometheus would read, not what a regex would.
"""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from tests.conftest import PASSWORDS, make_app, seed
from tests.http.test_hardening import attempt
from tests.support.http import basic, get_token
from tests.support.units import call

FAMILIES = ("authsvc_token_requests", "authsvc_token_request_duration_seconds", "authsvc_token_actions",
            "authsvc_password_verifications", "authsvc_credential_cache_lookups", "authsvc_throttled_attempts",
            "authsvc_logins", "authsvc_signing_certificate_expiry_seconds")


def scrape(client, **headers) -> dict[tuple, float]:
    """{(sample name, sorted label items): value} of one scrape."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


class Delta:
    """Scrape now; ``delta(name, **labels)`` later says how much that series grew since."""

    def __init__(self, client):
        self.client = client
        self.before = scrape(client)

    def __call__(self, name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        after = scrape(self.client)
        assert key in after, f"no series {key} in the scrape"
        return after[key] - self.before.get(key, 0.0)


def outcome(delta: Delta, name: str) -> float:
    return delta("authsvc_token_requests_total", outcome=name)


def test_exposition_parses_and_holds_every_metric(client, seeded, app):
    response = client.get("/metrics")
    names = {family.name for family in text_string_to_metric_families(response.get_data(as_text=True))}
    assert set(FAMILIES) <= names
    assert response.headers["Cache-Control"] == "no-store"
    samples = scrape(client)
    left = samples[("authsvc_signing_certificate_expiry_seconds", ())]
    not_after = app.extensions["authsvc"].signing_material.certificate.not_valid_after_utc
    assert abs(left - (not_after - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert left > 1000 * 86400  # cert_validity_days = 1095 for a fresh key


def test_each_token_outcome_is_counted_once_and_timed(client, seeded):
    delta = Delta(client)
    assert get_token(client, "repository:priv/app:pull,push", user="bob").status_code == 200
    assert get_token(client, "repository:priv/app:pull,delete", user="bob").status_code == 200  # developer
    assert get_token(client, "repository:priv/app:pull", user="erin").status_code == 200  # not a member
    assert get_token(client, "repository:priv/app:pull").status_code == 200  # anonymous, private
    assert get_token(client, "not a scope").status_code == 400
    assert get_token(client, user="bob", password="wrong-password").status_code == 401
    assert client.post("/token", data={"grant_type": "magic"}).status_code == 400

    assert outcome(delta, "granted") == 1
    assert outcome(delta, "partial") == 1
    assert outcome(delta, "denied") == 2
    assert outcome(delta, "bad_request") == 2
    assert outcome(delta, "unauthorized") == 1
    assert delta("authsvc_token_request_duration_seconds_count") == 7
    assert delta("authsvc_token_request_duration_seconds_bucket", le="+Inf") == 7
    assert delta("authsvc_token_request_duration_seconds_sum") > 0
    assert delta("authsvc_token_actions_total", action="pull", result="granted") == 2
    assert delta("authsvc_token_actions_total", action="pull", result="denied") == 2
    assert delta("authsvc_token_actions_total", action="push", result="granted") == 1
    assert delta("authsvc_token_actions_total", action="delete", result="denied") == 1


def test_a_star_counts_as_granted_when_the_token_carries_any_action(client, seeded):
    delta = Delta(client)
    assert get_token(client, "repository:priv/app:*", user="carol").status_code == 200  # guest: pull
    assert get_token(client, "repository:priv/app:*", user="erin").status_code == 200  # nothing
    assert delta("authsvc_token_actions_total", action="*", result="granted") == 1
    assert delta("authsvc_token_actions_total", action="*", result="denied") == 1
    assert outcome(delta, "granted") == 1 and outcome(delta, "denied") == 1


def test_bcrypt_runs_only_on_cache_misses(client, seeded):
    delta = Delta(client)
    for _ in range(3):
        assert get_token(client, "repository:pub/app:pull", user="dave").status_code == 200
    assert get_token(client, user="nobody-here", password="whatever-1").status_code == 401
    assert get_token(client, user="dave", password="not-daves-1").status_code == 401

    assert delta("authsvc_password_verifications_total", result="valid") == 1
    assert delta("authsvc_password_verifications_total", result="invalid") == 2  # unknown name, wrong password
    assert delta("authsvc_credential_cache_lookups_total", result="miss") == 3  # each bcrypt run
    assert delta("authsvc_credential_cache_lookups_total", result="hit") == 2
    assert delta("authsvc_logins_total", kind="password", result="success") == 3
    assert delta("authsvc_logins_total", kind="password", result="failure") == 2


#: Series that may differ between two failed logins for reasons other than the name: the latency
#: histogram (timing is the dummy hash's business, tests/http/test_hardening.py), the process's own,
#: and the certificate's seconds-to-expiry, which the wall clock moves whenever two scrapes
#: straddle a second (a CI run caught exactly that: -1 for one name, 0 for the others).
_NOT_ABOUT_NAMES = ("authsvc_token_request_duration_seconds", "process_", "python_",
                    "authsvc_signing_certificate_expiry_seconds")


def _about_names(before: dict, after: dict) -> dict:
    return {key: after[key] - before.get(key, 0.0) for key in after
            if not key[0].startswith(_NOT_ABOUT_NAMES) and after[key] != before.get(key, 0.0)}


def test_an_unknown_user_name_counts_exactly_like_a_wrong_password(client, seeded):
    """Finding 4 of the security review: /metrics (open by default) showed
    ``result="unknown_user"`` for a name that does not exist, ``"invalid"`` for one that does.
    Now every series but latency moves the same for a wrong password, an unknown name, a
    name outside the grammar and a deactivated account; only the login failure is seen."""
    from authsvc.core.policy import OPERATOR
    from authsvc.services.access import accounts

    call(accounts.update_user, OPERATOR, "carol", is_active=False)
    moved = {}
    for who in ("erin", "nobody-here", "Not A Name!", "carol"):
        before = scrape(client)
        assert get_token(client, user=who, password="wrong-pass-1").status_code == 401
        moved[who] = _about_names(before, scrape(client))
    assert moved["erin"] == moved["nobody-here"] == moved["Not A Name!"] == moved["carol"]
    assert moved["erin"] == {
        ("authsvc_token_requests_total", (("outcome", "unauthorized"),)): 1.0,
        ("authsvc_password_verifications_total", (("result", "invalid"),)): 1.0,
        ("authsvc_credential_cache_lookups_total", (("result", "miss"),)): 1.0,
        ("authsvc_logins_total", (("kind", "password"), ("result", "failure"))): 1.0,
    }
    exposition = client.get("/metrics").get_data(as_text=True)
    assert "unknown_user" not in exposition


def test_password_checked_keeps_its_signature_and_none_counts_as_invalid(client):
    """The authentication code calls ``metrics.password_checked(valid: bool | None)``; None (the
    dummy hash) must keep working and be counted as "invalid", with its cache miss."""
    from authsvc import metrics

    before = scrape(client)
    metrics.password_checked(None)
    metrics.password_checked(False)
    metrics.password_checked(True)
    metrics.cache_lookup(True)
    metrics.cache_lookup(False)  # counted by password_checked, for every name alike
    assert _about_names(before, scrape(client)) == {
        ("authsvc_password_verifications_total", (("result", "invalid"),)): 2.0,
        ("authsvc_password_verifications_total", (("result", "valid"),)): 1.0,
        ("authsvc_credential_cache_lookups_total", (("result", "miss"),)): 3.0,
        ("authsvc_credential_cache_lookups_total", (("result", "hit"),)): 1.0,
    }


def test_throttled_attempts(client, seeded):
    delta = Delta(client)
    answers = [attempt(client, "carol", "guess-guess", address="10.7.7.7").status_code for _ in range(7)]
    assert answers == [401] * 5 + [429] * 2
    assert delta("authsvc_throttled_attempts_total") == 2
    assert outcome(delta, "throttled") == 2
    assert delta("authsvc_password_verifications_total", result="invalid") == 5  # none while blocked


def test_refresh_token_logins_by_result(client, seeded):
    refresh = get_token(client, user="alice", offline_token="true").get_json()["refresh_token"]
    delta = Delta(client)
    good = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                       "service": "registry", "scope": "repository:priv/app:pull"})
    bad = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x" * 43,
                                      "service": "registry"})
    assert (good.status_code, bad.status_code) == (200, 401)
    assert delta("authsvc_logins_total", kind="refresh_token", result="success") == 1
    assert delta("authsvc_logins_total", kind="refresh_token", result="failure") == 1


def test_database_outage_is_counted_as_unavailable(client, seeded, monkeypatch):
    from authsvc.store import queries

    def broken(*_args, **_kwargs):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    delta = Delta(client)
    monkeypatch.setattr(queries, "user_with_counter", broken)
    assert get_token(client, user="bob").status_code == 503
    monkeypatch.undo()
    assert outcome(delta, "unavailable") == 1


def test_other_endpoints_are_not_token_requests(client, seeded):
    delta = Delta(client)
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/projects", headers=basic("bob", PASSWORDS["bob"])).status_code in (200, 401)
    assert delta("authsvc_token_request_duration_seconds_count") == 0


def test_metrics_can_be_switched_off(tmp_path):
    app = make_app(tmp_path, metrics_enabled=False)
    response = app.test_client().get("/metrics")
    assert response.status_code == 404
    assert response.get_json()["errors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-wrong-token", "Basic c2NyYXBlcjpwdw==",
                                    "Bearer"])
def test_a_metrics_token_is_required_when_set(tmp_path, header):
    token = "scrape-token-0123456789"
    app = make_app(tmp_path, metrics_token=token)
    with app.app_context():
        seed()
    client = app.test_client()
    refused = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert refused.status_code == 401
    assert refused.get_json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
    assert "authsvc_token_requests_total" not in refused.get_data(as_text=True)
    assert ("authsvc_throttled_attempts_total", ()) in scrape(client, Authorization=f"Bearer {token}")
