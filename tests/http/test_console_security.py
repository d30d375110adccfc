"""The console's guards: CSRF on every form, security headers on every response, escaping, no
secret in a URL, HTML error pages -- and the API, /token and the registry's notifications left
exactly as they were."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services import inventory
from authsvc.services.access import accounts, project_groups
from authsvc.services.credentials import robots
from authsvc.store.models import AuditEvent, GroupMembership, Membership, Project, Robot, User, db
from tests.http.conftest import served
from tests.support.console import Browser
from tests.support.http import basic_header
from tests.support.units import call

ROBOT = "seeded"
GROUP = "payments-dev"


@pytest.fixture
def console(tmp_path):
    with served(tmp_path, registry_host="registry.test:5000", notification_secret="s" * 32) as application:
        with application.app_context():
            call(robots.create, OPERATOR, "priv", ROBOT, actions="pull", never_expires=True)
            call(project_groups.add_group_member, OPERATOR, "priv", GROUP, "developer")
            call(personal_tokens_create, "root")
            db.session.remove()
        yield application


def personal_tokens_create(uow, user):
    from authsvc.services.credentials import personal_tokens
    return personal_tokens.create(uow, OPERATOR, user, "ci", expires_in=dt.timedelta(days=1))


def state(app) -> tuple:
    """Everything a console form could change, to prove a refused form changed nothing."""
    with app.app_context():
        result = (
            sorted((u.name, u.is_admin, u.is_active, u.credential_version) for u in db.session.query(User)),
            sorted((p.name, p.is_public) for p in db.session.query(Project)),
            sorted((m.project_id, m.user_id, str(m.role)) for m in db.session.query(Membership)),
            sorted((g.project_id, g.group_name, str(g.role)) for g in db.session.query(GroupMembership)),
            sorted((r.name, r.disabled, r.secret_hash) for r in db.session.query(Robot)),
            db.session.query(AuditEvent).filter(AuditEvent.action != "login.failure").count(),
        )
        db.session.remove()
        return result


#: Every state-changing console form, as root would fill it in.
FORMS = [
    ("/logout", {}),
    ("/projects/new", {"name": "fresh", "public": "on"}),
    ("/projects/priv/settings", {"visibility": "public"}),
    ("/projects/priv/delete", {"confirm": "priv"}),
    ("/projects/priv/members", {"user": "erin", "role": "developer"}),
    ("/projects/priv/members/bob/role", {"role": "maintainer"}),
    ("/projects/priv/members/bob/remove", {}),
    ("/projects/priv/groups", {"group": "ops", "role": "developer"}),
    ("/projects/priv/groups/role", {"group": GROUP, "role": "maintainer"}),
    ("/projects/priv/groups/remove", {"group": GROUP}),
    ("/projects/priv/robots", {"name": "ci", "pull": "on", "expires_in_days": "30"}),
    (f"/projects/priv/robots/{ROBOT}/disable", {}),
    (f"/projects/priv/robots/{ROBOT}/enable", {}),
    (f"/projects/priv/robots/{ROBOT}/rekey", {}),
    (f"/projects/priv/robots/{ROBOT}/delete", {}),
    (f"/projects/priv/robots/{ROBOT}/pull-secret", {"secret": "x", "namespace": "default"}),
    ("/admin/users/new", {"name": "zed", "password": "zed-pass-12", "repeat": "zed-pass-12"}),
    ("/admin/users/bob/deactivate", {}),
    ("/admin/users/bob/activate", {}),
    ("/admin/users/bob/password", {"password": "bob-new-pass", "repeat": "bob-new-pass"}),
    ("/admin/users/bob/delete", {"confirm": "bob"}),
    ("/account/password", {"current": "root-pass-1", "password": "root-new-pass", "repeat": "root-new-pass"}),
    ("/account/tokens", {"name": "laptop", "expires_in_days": "30"}),
    ("/account/tokens/ci/revoke", {}),
    ("/account/logins/1/revoke", {}),
]


@pytest.mark.parametrize("path, form", FORMS, ids=[path for path, _ in FORMS])
def test_every_form_is_refused_without_its_csrf_token(console, path, form):
    browser = Browser(console, "root")
    before = state(console)
    for token in (None, "forged-token"):
        response = browser.post(path, form, with_token=token is not None, token=token)
        assert response.status_code == 400, response.get_data(as_text=True)
        page = response.get_data(as_text=True)
        assert response.mimetype == "text/html" and "security token" in page
    assert state(console) == before
    assert browser.get("/projects").status_code == 200  # still signed in (logout refused too)


def test_a_token_from_another_session_is_refused(console):
    mine, theirs = Browser(console, "root"), Browser(console, "alice")
    response = mine.post("/projects/new", {"name": "fresh"}, token=theirs.token)
    assert response.status_code == 400 and state(console)[1] == [("priv", False), ("pub", True)]


def test_the_sign_in_form_needs_its_token_too(console):
    response = console.test_client().post("/login", data={"username": "bob", "password": "bob-pass-1"})
    assert response.status_code == 400


PAGES = ["/login", "/projects", "/projects?q=p&page=2", "/projects/new", "/projects/priv", "/projects/priv/push",
         "/projects/priv/repositories/app", "/projects/priv/members", "/projects/priv/robots", "/projects/priv/settings", "/admin/users",
         "/admin/users/new", "/admin/users/bob/password", "/admin/users/bob/delete", "/admin/audit",
         "/account", "/account/tokens", "/account/logins", "/projects/missing", "/projects/priv/nothing-here",
         "/console-static/console.css", "/console-static/copy.js"]


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_on_every_console_response(console, path):
    for browser in (Browser(console), Browser(console, "root"), Browser(console, "erin")):
        response = browser.get(path)
        csp = response.headers["Content-Security-Policy"]
        for directive in ("default-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"):
            assert directive in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        if response.mimetype == "text/html" and response.status_code != 302:
            html = response.get_data(as_text=True)
            assert '<html lang="en">' in html
            assert "<script>" not in html and " style=" not in html and "<style" not in html  # nothing inline


def test_errors_are_pages_in_the_console_and_json_in_the_api(console):
    erin = Browser(console, "erin")
    page = erin.get("/projects/priv")
    assert page.status_code == 404 and page.mimetype == "text/html" and "Page not found" in page.get_data(as_text=True)
    api = console.test_client().get("/api/v1/projects/priv", headers=basic_header("erin"))
    assert api.status_code == 404 and api.get_json()["errors"][0]["code"] == "NOT_FOUND"
    forbidden = erin.get("/projects/pub/robots")
    assert forbidden.status_code == 403 and forbidden.mimetype == "text/html"
    wrong_method = erin.get("/logout")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    nowhere = erin.get("/projects/priv/nothing-here")
    assert nowhere.status_code == 404 and nowhere.mimetype == "text/html"
    for accept in ({}, {"Accept": "*/*"}, {"Accept": "application/json"}):  # not a browser: JSON as before
        assert erin.client.get("/nope", headers=accept).get_json()["errors"][0]["code"] == "NOT_FOUND"
    assert erin.get("/api/v1/nope").get_json()["errors"][0]["code"] == "NOT_FOUND"
    assert erin.get("/token", query_string={"service": "nope"}).mimetype == "application/json"


def test_the_api_token_endpoint_and_notifications_take_no_csrf_token_and_set_no_cookie(console):
    client = console.test_client()
    form = client.post("/api/v1/projects", data={"name": "x"}, headers=basic_header("root"))
    assert form.status_code == 415  # the API's own guard against forms, unchanged
    made = client.post("/api/v1/projects", json={"name": "viaapi"}, headers=basic_header("root"))
    assert made.status_code == 201 and "Set-Cookie" not in made.headers
    token = client.post("/token", data={"grant_type": "password", "username": "bob", "password": "bob-pass-1",
                                        "service": "registry"})
    assert token.status_code == 200 and "Set-Cookie" not in token.headers
    assert "Content-Security-Policy" not in token.headers
    events = client.post("/registry/events", json={"events": []}, headers={"Authorization": "Bearer " + "s" * 32})
    assert events.status_code == 200


XSS = '<script>alert(1)</script>'


def test_what_people_typed_or_pushed_is_shown_as_text(console):
    client = console.test_client()
    from tests.support.console import sign_in
    refused = sign_in(client, XSS, "whatever-1")
    assert XSS not in refused.get_data(as_text=True) and "&lt;script&gt;" in refused.get_data(as_text=True)
    root = Browser(console, "root")
    for path, form in (("/projects/new", {"name": XSS}), ("/projects/priv/members", {"user": XSS, "role": "guest"}),
                       ("/admin/users/new", {"name": XSS, "password": "p" * 10, "repeat": "p" * 10})):
        response = root.post(path, form)
        assert response.status_code in (400, 404)
        assert XSS not in response.get_data(as_text=True)
    search = root.get("/projects", query_string={"q": XSS}).get_data(as_text=True)
    assert XSS not in search and "&lt;script&gt;" in search
    audit = root.get("/admin/audit").get_data(as_text=True)  # the failed sign-in's claimed name
    assert XSS not in audit and "&lt;script&gt;alert(1)&lt;/script&gt;" in audit
    with console.app_context():  # who pushed a tag comes from the registry: any text
        call(inventory.record_events, {"events": [{
            "id": "x1", "action": "push", "timestamp": "2026-01-01T00:00:00Z", "actor": {"name": XSS},
            "target": {"repository": "priv/app", "tag": "v1", "digest": "sha256:" + "b" * 64,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json"}}]})
    repositories = root.get("/projects/priv").get_data(as_text=True)
    assert "docker pull registry.test:5000/priv/app:v1" in repositories
    assert XSS not in repositories and "&lt;script&gt;" in repositories


def test_secrets_never_appear_in_a_url_and_their_pages_are_not_stored(console):
    alice = Browser(console, "alice")
    created = alice.post("/projects/priv/robots", {"name": "ci", "pull": "on", "push": "on", "expires_in_days": "7"})
    secret = re.search(r'id="robot-secret">([^<]+)<', created.get_data(as_text=True)).group(1)
    assert created.status_code == 200 and "Location" not in created.headers
    assert created.headers["Cache-Control"] == "no-store"
    assert re.search(r'id="robot-name">robot\.priv\.ci<', created.get_data(as_text=True))
    for action in re.findall(r'action="([^"]+)"', created.get_data(as_text=True)):
        assert secret not in action
    download = alice.post("/projects/priv/robots/ci/pull-secret", {"secret": secret, "namespace": "apps"})
    assert download.headers["Content-Disposition"] == 'attachment; filename="ci-pull-secret.yaml"'
    assert download.headers["Cache-Control"] == "no-store"
    rekeyed = alice.post("/projects/priv/robots/ci/rekey")
    assert rekeyed.headers["Cache-Control"] == "no-store" and secret not in rekeyed.get_data(as_text=True)
    root = Browser(console, "root")
    generated = root.post("/admin/users/new", {"name": "zed", "generate": "on"})
    assert generated.headers["Cache-Control"] == "no-store" and "Location" not in generated.headers
    token = root.post("/account/tokens", {"name": "laptop", "expires_in_days": "3"})
    assert token.headers["Cache-Control"] == "no-store" and "Location" not in token.headers
    value = re.search(r'id="token-secret">([^<]+)<', token.get_data(as_text=True)).group(1)
    assert value.startswith("asvc_pat_")
    with console.app_context():
        logged = " ".join(f"{e.target} {e.details}" for e in db.session.query(AuditEvent))
    assert secret not in logged and value not in logged


def test_a_deactivated_account_cannot_use_a_form_it_loaded_before(console):
    root = Browser(console, "root")
    token = root.token
    with console.app_context():
        call(accounts.create_user, OPERATOR, "admin2", "admin2-pass", is_admin=True)
        call(accounts.update_user, OPERATOR, "root", is_active=False)
    response = root.post("/projects/new", {"name": "late"}, token=token)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    with console.app_context():
        assert db.session.query(Project).filter_by(name="late").count() == 0


def test_a_database_outage_is_a_503_page(console, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from authsvc.services.credentials import console_sessions

    bob = Browser(console, "bob")

    def broken(*_args, **_kwargs):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(console_sessions, "resume", broken)  # the read of every console request
    response = bob.get("/projects")
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert response.headers["Retry-After"] and "database is unavailable" in response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"]


def test_passwords_and_secrets_never_reach_the_log(console, caplog):
    caplog.set_level("DEBUG")
    alice = Browser(console, "alice")
    made = alice.post("/projects/priv/robots", {"name": "ci", "pull": "on", "expires_in_days": "3"})
    secret = re.search(r'id="robot-secret">([^<]+)<', made.get_data(as_text=True)).group(1)
    alice.post("/projects/priv/robots/ci/pull-secret", {"secret": secret, "namespace": "apps"})
    alice.post("/account/password", {"current": "alice-pass-1", "password": "alice-new-pass", "repeat": "alice-new-pass"})
    for text in ("alice-pass-1", "alice-new-pass", secret):
        assert text not in caplog.text
