"""What the console's pages show: the projects list (search, pages, counts, empty states), a new
project landing on its push commands, the Repositories tab from the inventory, the robot and
pull Secret flow, administration and my account."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import pytest
import yaml

from authsvc.core.policy import OPERATOR
from authsvc.services import inventory
from authsvc.services.access import projects
from authsvc.store.models import AuditEvent, User, db
from tests.http.conftest import served
from tests.support.console import Browser, sign_in
from tests.support.http import basic
from tests.support.units import call

HOST = "registry.test:5000"


@pytest.fixture
def console(tmp_path):
    with served(tmp_path, registry_host=HOST) as application:
        yield application


def push_event(event_id, repository, tag, pushed_by="bob", day=1):
    return {"id": event_id, "action": "push", "timestamp": f"2026-01-{day:02d}T00:00:00Z",
            "actor": {"name": pushed_by},
            "target": {"repository": repository, "tag": tag, "digest": "sha256:" + "c" * 64, "size": 2048,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json"}}


def test_projects_list_pages_searches_and_counts(console):
    with console.app_context():
        for index in range(55):
            call(projects.create_project, OPERATOR, f"team-{index:02d}", public=True)
        call(inventory.record_events, {"events": [push_event("a", "team-00/app", "v1"),
                                                  push_event("b", "team-00/web", "v1")]})
    bob = Browser(console, "bob")
    first = bob.get("/projects").get_data(as_text=True)
    for column in ("Name", "Visibility", "My role", "Repositories"):
        assert f">{column}</th>" in first
    assert first.count("<tr>") == 51 and ">Next<" in first and ">Previous<" not in first  # header + 50
    cells = r">{}</a></td>\s*<td[^>]*>{}</td>\s*<td[^>]*>{}</td>\s*<td[^>]*>{}</td>"
    assert re.search(cells.format("team-00", "Public", "—", "2"), first)
    assert re.search(cells.format("priv", "Private", "developer", "0"), first)
    second = bob.get("/projects?page=2").get_data(as_text=True)
    assert second.count("<tr>") == 8 and ">Previous<" in second and ">Next<" not in second  # 57 in all
    found = bob.get("/projects", query_string={"q": "team-1"}).get_data(as_text=True)
    assert found.count("<tr>") == 11 and "10 projects" in found
    assert bob.get("/projects?page=abc").status_code == 200
    assert "New project" not in first  # project_creation = admins


def test_a_person_without_projects_is_told_what_to_do(tmp_path):
    with served(tmp_path, anonymous_pull=True) as console:
        with console.app_context():
            call(projects.delete_project, OPERATOR, "pub")
        page = Browser(console, "erin").get("/projects").get_data(as_text=True)
        assert "Ask a Project Admin to add you" in page and "create a project" not in page
    with served(tmp_path / "everyone", project_creation="everyone") as console:
        with console.app_context():
            call(projects.delete_project, OPERATOR, "pub")
        page = Browser(console, "erin").get("/projects").get_data(as_text=True)
        assert "Ask a Project Admin" in page and "create a project" in page and "New project" in page


def test_a_new_project_opens_on_its_push_commands(console):
    root = Browser(console, "root")
    assert "New project" in root.text("/projects")
    response = root.post("/projects/new", {"name": "shop", "public": "on"})
    assert response.status_code == 303 and response.headers["Location"] == "/projects/shop/push"
    page = root.text("/projects/shop/push")
    assert f'id="cmd-login">docker login {HOST}<' in page
    assert f'id="cmd-tag">docker tag SOURCE_IMAGE[:TAG] {HOST}/shop/REPOSITORY[:TAG]<' in page
    assert f'id="cmd-push">docker push {HOST}/shop/REPOSITORY[:TAG]<' in page
    assert f'id="cmd-pull">docker pull {HOST}/shop/REPOSITORY[:TAG]<' in page  # a box of its own, not prose
    assert page.count(">Copy</button>") == 4 and 'aria-current="page">Push image<' in page
    empty = root.text("/projects/shop")
    assert "no images yet" in empty and 'href="/projects/shop/push"' in empty
    again = root.post("/projects/new", {"name": "shop"})
    assert again.status_code == 409 and "already exists" in again.get_data(as_text=True)
    bad = root.post("/projects/new", {"name": "Not Valid!"})
    assert bad.status_code == 400 and 'value="Not Valid!"' in bad.get_data(as_text=True)


def test_repositories_show_tags_with_pull_commands(console):
    with console.app_context():
        call(inventory.record_events, {"events": [push_event("1", "priv/app", "v1", day=1),
                                                  push_event("2", "priv/app", "v2", day=2),
                                                  push_event("3", "priv/tools/lint", "latest", day=3)]})
    page = Browser(console, "carol").text("/projects/priv")
    for repository, tag in (("priv/app", "v1"), ("priv/app", "v2"), ("priv/tools/lint", "latest")):
        assert f"docker pull {HOST}/{repository}:{tag}</code>" in page
    assert "2.0 KiB" in page and "2026-01-02 00:00 UTC" in page and 'data-label="Pushed by">bob</td>' in page
    assert page.index(":v2</code>") < page.index(":v1</code>")  # newest first
    assert 'aria-current="page">Repositories<' in page


def test_a_robots_secret_is_shown_once_and_its_pull_secret_downloads(console):
    alice = Browser(console, "alice")
    made = alice.post("/projects/priv/robots", {"name": "deploy", "pull": "on", "expires_in_days": "30"})
    html = made.get_data(as_text=True)
    login = re.search(r'id="robot-name">([^<]+)<', html).group(1)
    secret = re.search(r'id="robot-secret">([^<]+)<', html).group(1)
    assert login == "robot.priv.deploy"
    assert secret not in alice.text("/projects/priv/robots")
    client = console.test_client()
    granted = client.get("/token", query_string={"service": "registry", "scope": "repository:priv/app:pull,push"},
                         headers=basic(login, secret))
    assert granted.status_code == 200
    download = alice.post("/projects/priv/robots/deploy/pull-secret", {"secret": secret, "namespace": "apps"})
    assert download.status_code == 200 and download.mimetype == "application/yaml"
    document = yaml.safe_load(download.get_data(as_text=True))
    assert document["type"] == "kubernetes.io/dockerconfigjson" and document["metadata"]["namespace"] == "apps"
    config = json.loads(base64.b64decode(document["data"][".dockerconfigjson"]))
    assert config["auths"][HOST]["username"] == login and config["auths"][HOST]["password"] == secret
    wrong = alice.post("/projects/priv/robots/deploy/pull-secret", {"secret": "guess", "namespace": "apps"})
    assert wrong.status_code == 403 and "current secret" in wrong.get_data(as_text=True)
    assert alice.post("/projects/priv/robots/deploy/disable").status_code == 303
    assert ">Enable</button>" in alice.text("/projects/priv/robots") and "disabled" in alice.text("/projects/priv/robots")
    assert client.get("/token", query_string={"service": "registry"}, headers=basic(login, secret)).status_code == 401
    rekeyed = alice.post("/projects/priv/robots/deploy/rekey").get_data(as_text=True)
    fresh = re.search(r'id="robot-secret">([^<]+)<', rekeyed).group(1)
    assert fresh != secret
    old = alice.post("/projects/priv/robots/deploy/pull-secret", {"secret": secret, "namespace": "apps"})
    assert old.status_code == 403
    assert alice.post("/projects/priv/robots/deploy/delete").status_code == 303
    assert "robot.priv.deploy" not in alice.text("/projects/priv/robots")
    for days in ("0", "-1", "x", "99999"):
        refused = alice.post("/projects/priv/robots", {"name": "late", "pull": "on", "expires_in_days": days})
        assert refused.status_code == 400 and "expire" in refused.get_data(as_text=True)
    neither = alice.post("/projects/priv/robots", {"name": "none", "expires_in_days": "3"})
    assert neither.status_code == 400


def test_members_are_added_changed_and_removed(console):
    alice = Browser(console, "alice")
    assert alice.post("/projects/priv/members", {"user": "erin", "role": "guest"}).status_code == 303
    page = alice.text("/projects/priv/members")
    assert "erin is now a member of priv as guest." in page
    assert re.search(r'<label for="role-\d+" class="visually-hidden">Role for erin</label>', page)
    assert alice.post("/projects/priv/members/erin/role", {"role": "maintainer"}).status_code == 303
    assert "<td>erin</td>\n    <td>maintainer</td>" in alice.text("/projects/priv/members")
    last_admin = alice.post("/projects/priv/members/alice/remove")
    assert last_admin.status_code == 409 and "at least one Project Admin" in last_admin.get_data(as_text=True)
    assert alice.post("/projects/priv/members/erin/remove").status_code == 303
    assert "<td>erin</td>" not in alice.text("/projects/priv/members")
    unknown_role = alice.post("/projects/priv/members", {"user": "erin", "role": "owner"})
    assert unknown_role.status_code == 400


def test_settings_change_visibility_and_delete_after_typing_the_name(console):
    alice = Browser(console, "alice")
    page = alice.text("/projects/priv/settings")
    assert "stays reserved" in page
    assert alice.post("/projects/priv/settings", {"visibility": "public"}).status_code == 303
    assert 'id="visibility-public" name="visibility" type="radio" value="public" checked' in alice.text(
        "/projects/priv/settings")
    assert alice.post("/projects/priv/settings", {"visibility": "secret"}).status_code == 400
    wrong = alice.post("/projects/priv/delete", {"confirm": "pri"})
    assert wrong.status_code == 400 and alice.get("/projects/priv").status_code == 200
    gone = alice.post("/projects/priv/delete", {"confirm": "priv"})
    assert gone.status_code == 303 and alice.get("/projects/priv").status_code == 404
    again = Browser(console, "root").post("/projects/new", {"name": "priv"})
    assert again.status_code == 409


def test_administration_is_a_404_for_everyone_but_system_administrators(console):
    bob = Browser(console, "bob")
    assert "Administration" not in bob.text("/projects")
    for path in ("/admin/users", "/admin/users/new", "/admin/audit", "/admin/users/carol/password",
                 "/admin/users/carol/delete"):
        assert bob.get(path).status_code == 404
    for path in ("/admin/users/new", "/admin/users/carol/deactivate", "/admin/users/carol/delete"):
        assert bob.post(path, {"name": "x", "confirm": "carol"}).status_code == 404
    assert ">Administration<" in Browser(console, "root").text("/projects")


def test_administrators_manage_users(console):
    root = Browser(console, "root")
    listing = root.text("/admin/users")
    for column in ("Name", "Admin", "Active", "Source"):
        assert f">{column}</th>" in listing
    differ = root.post("/admin/users/new", {"name": "zed", "password": "zed-pass-12", "repeat": "zed-pass-13"})
    assert differ.status_code == 400 and "differ" in differ.get_data(as_text=True)
    assert root.post("/admin/users/new", {"name": "zed", "password": "zed-pass-12",
                                          "repeat": "zed-pass-12"}).status_code == 303
    assert sign_in(console.test_client(), "zed", "zed-pass-12").status_code == 303
    made = root.post("/admin/users/new", {"name": "yves", "generate": "on", "admin": "on"})
    password = re.search(r'id="generated-password">([^<]+)<', made.get_data(as_text=True)).group(1)
    assert made.headers["Cache-Control"] == "no-store"
    yves = Browser(console, "yves", password)
    assert ">Administration<" in yves.text("/projects")
    assert root.post("/admin/users/zed/deactivate").status_code == 303
    assert sign_in(console.test_client(), "zed", "zed-pass-12").status_code == 401
    assert root.post("/admin/users/zed/activate").status_code == 303
    assert root.post("/admin/users/zed/password", {"password": "zed-other-1", "repeat": "zed-other-1"}).status_code == 303
    assert sign_in(console.test_client(), "zed", "zed-other-1").status_code == 303
    assert root.post("/admin/users/zed/delete", {"confirm": "ze"}).status_code == 400
    assert root.post("/admin/users/zed/delete", {"confirm": "zed"}).status_code == 303
    with console.app_context():
        assert db.session.query(User).filter_by(name="zed").count() == 0
    assert root.post("/admin/users/root/deactivate").status_code == 303  # yves is an admin too: allowed
    assert root.get("/admin/users").status_code == 302  # ... and root's own session has ended
    assert yves.post("/admin/users/yves/delete", {"confirm": "yves"}).status_code == 409  # the last admin


def test_the_audit_log_filters_and_pages(console):
    alice = Browser(console, "alice")
    for index in range(55):
        alice.post("/projects/priv/settings", {"visibility": "public" if index % 2 else "private"})
    root = Browser(console, "root")
    page = root.text("/admin/audit?project=priv")
    assert page.count("project.visibility") == 50 and ">Next<" in page
    assert root.text("/admin/audit?project=priv&page=2").count("project.visibility") == 5
    assert "project.visibility" not in root.text("/admin/audit?user=bob")
    today = dt.date.today()
    assert "project.visibility" in root.text(f"/admin/audit?action=project.&from={today}&to={today}")
    assert "project.visibility" not in root.text(f"/admin/audit?to={today - dt.timedelta(days=2)}")
    assert root.get("/admin/audit?from=yesterday").status_code == 400
    for label in ("User", "Project", "Action", "From", "To"):
        assert f">{label}</label>" in page


def test_my_account_password_tokens_and_docker_logins(console):
    bob = Browser(console, "bob")
    wrong = bob.post("/account/password", {"current": "nope-nope", "password": "bob-new-pass", "repeat": "bob-new-pass"})
    assert wrong.status_code == 403 and "current password" in wrong.get_data(as_text=True)
    with console.app_context():
        assert db.session.query(AuditEvent).filter_by(action="login.failure", actor="bob").count() == 1
    made = bob.post("/account/tokens", {"name": "laptop", "expires_in_days": "30"})
    token = re.search(r'id="token-secret">([^<]+)<', made.get_data(as_text=True)).group(1)
    client = console.test_client()
    assert client.get("/token", query_string={"service": "registry"}, headers=basic("bob", token)).status_code == 200
    assert ">laptop</td>" in bob.text("/account/tokens")
    assert bob.post("/account/tokens", {"name": "laptop", "expires_in_days": "30"}).status_code == 409
    assert bob.post("/account/tokens", {"name": "other", "expires_in_days": "400"}).status_code == 400
    assert bob.post("/account/tokens/laptop/revoke").status_code == 303
    assert client.get("/token", query_string={"service": "registry"}, headers=basic("bob", token)).status_code == 401
    login = client.post("/token", data={"grant_type": "password", "username": "bob", "password": "bob-pass-1",
                                        "service": "registry", "access_type": "offline", "client_id": "docker"})
    refresh = login.get_json()["refresh_token"]
    logins = bob.text("/account/logins")
    assert "<td>docker</td>" in logins and 'data-label="Last use">never</td>' in logins
    used = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                       "service": "registry", "client_id": "docker"})
    assert used.status_code == 200
    logins = bob.text("/account/logins")
    assert re.search(r'data-label="Last use"><time datetime="[0-9T:-]+Z">', logins), "the use is shown"
    login_id = re.search(r'action="/account/logins/(\d+)/revoke"', logins).group(1)
    other = Browser(console, "carol")
    assert other.post(f"/account/logins/{login_id}/revoke").status_code == 404  # not carol's
    assert bob.post(f"/account/logins/{login_id}/revoke").status_code == 303
    refused = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                          "service": "registry"})
    assert refused.status_code == 401


def test_the_members_tab_pages_a_large_project(console):
    with console.app_context():
        from authsvc.services.access import accounts
        for index in range(55):
            call(accounts.create_user, OPERATOR, f"member-{index:02d}", "member-pass-1")
            call(projects.add_member, OPERATOR, "priv", f"member-{index:02d}", "guest")
    alice = Browser(console, "alice")
    first = alice.text("/projects/priv/members")
    assert "59 members" in first and first.count("<td>guest</td>") == 47 and ">Next<" in first  # carol + 46
    second = alice.text("/projects/priv/members?page=2")
    assert second.count("<tr>") == 10 and ">Previous<" in second and "member-54" in second


def test_a_repository_with_many_tags_links_to_all_of_them(console):
    with console.app_context():
        call(inventory.record_events, {"events": [push_event(f"t{i}", "priv/team/app", f"v{i:02d}", day=1 + i % 28)
                                                  for i in range(60)]})
    bob = Browser(console, "bob")
    tab = bob.text("/projects/priv")
    assert "60 tags, the newest 10 shown" in tab and 'href="/projects/priv/repositories/team/app"' in tab
    first = bob.text("/projects/priv/repositories/team/app")
    assert "60 tags, by name" in first and first.count("docker pull registry.test:5000/priv/team/app:") == 50
    assert ">Next<" in first and "/projects/priv/repositories/team/app?page=2" in first
    second = bob.text("/projects/priv/repositories/team/app?page=2")
    assert second.count("docker pull registry.test:5000/priv/team/app:") == 10 and ":v59</code>" in second
    assert bob.get("/projects/priv/repositories/team/nothing").status_code == 404
    assert Browser(console, "erin").get("/projects/priv/repositories/team/app").status_code == 404
