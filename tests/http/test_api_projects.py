"""/api/v1/projects: who sees, creates, changes and deletes a project (the permission matrix).

A private project the caller may not see is a 404 exactly like a missing one, on every route
under it; changing it is for its Project Admins and system administrators.
"""

from __future__ import annotations

import datetime as dt

import pytest

from authsvc.store.models import db
from tests.conftest import make_app, seed
from tests.support.api import (
    ANON,
    CALLER_IDS,
    CALLERS,
    CHANGE_PROJECT,
    ROLE,
    VISIBLE,
    Api,
    assert_status,
    members_of,
    public_of,
)
from tests.support.openapi import PREFIX
from tests.support.units import call

# --- the permission matrix --------------------------------------------------------------------

@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_get_project(api, who, project):
    response = api.get(f"/projects/{project}", who)
    assert_status(response, VISIBLE[who][project == "priv"])
    if response.status_code == 200:
        body = response.get_json()
        assert body["name"] == project and body["public"] == (project == "pub")
        assert body["role"] == ROLE[who]
        dt.datetime.strptime(body["created_at"], "%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("who, seen", [
    ("root", {"priv": None, "pub": None}),
    ("alice", {"priv": "admin", "pub": "admin"}),
    ("dave", {"priv": "maintainer", "pub": "maintainer"}),
    ("bob", {"priv": "developer", "pub": "developer"}),
    ("carol", {"priv": "guest", "pub": "guest"}),
    ("erin", {"pub": None}),
    (ANON, {"pub": None}),
], ids=CALLER_IDS)
def test_list_projects_shows_what_each_caller_may_see(api, who, seen):
    response = api.get("/projects", who)
    assert_status(response, 200)
    body = response.get_json()
    assert [p["name"] for p in body] == sorted(seen)
    assert {p["name"]: p["role"] for p in body} == seen
    # No directory groups here: the effective role is the own one, and ``role`` is the effective one.
    assert {p["name"]: (p["effective_role"], p["own_role"]) for p in body} == {
        name: (role, role) for name, role in seen.items()}
    assert response.headers["X-Total-Count"] == str(len(seen))


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_change_visibility(api, who, project):
    was_public = project == "pub"
    response = api.patch(f"/projects/{project}", who, json={"public": not was_public})
    expected = CHANGE_PROJECT[who][project == "priv"]
    assert_status(response, expected)
    if expected == 200:
        assert response.get_json()["public"] is (not was_public)
        assert response.get_json()["role"] == ROLE[who]
    assert public_of(api, project) is (was_public if expected != 200 else not was_public)


def test_a_project_made_private_disappears_for_non_members(api):
    assert_status(api.get("/projects/pub", "erin"), 200)
    assert_status(api.patch("/projects/pub", "alice", json={"public": False}), 200)
    assert_status(api.get("/projects/pub", "erin"), 404)
    assert_status(api.get("/projects/pub", ANON), 404)
    assert [p["name"] for p in api.get("/projects", "erin").get_json()] == []
    assert_status(api.patch("/projects/priv", "alice", json={"public": True}), 200)
    assert [p["name"] for p in api.get("/projects", ANON).get_json()] == ["priv"]


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_delete_project(api, who, project):
    response = api.delete(f"/projects/{project}", who)
    expected = CHANGE_PROJECT[who][project == "priv"]
    assert_status(response, 204 if expected == 200 else expected)
    assert_status(api.get(f"/projects/{project}", "root"), 404 if expected == 200 else 200)
    if expected == 200:
        # The name stays reserved, or a new project would inherit the old one's images in the registry.
        assert_status(api.post("/projects", "root", json={"name": project, "owner": "erin"}), 409)
        from authsvc.core.policy import OPERATOR
        from authsvc.services.access import projects
        call(projects.release_name, OPERATOR, project)
        # Released: its memberships went with it, so a new project of that name starts empty.
        assert_status(api.post("/projects", "root", json={"name": project, "owner": "erin"}), 201)
        assert members_of(api, project) == [{"user": "erin", "role": "admin"}]


@pytest.mark.parametrize("who", ["erin", ANON], ids=["erin-nonmember", "anonymous"])
@pytest.mark.parametrize("method, suffix, body", [
    ("GET", "", None), ("PATCH", "", {"public": True}), ("DELETE", "", None),
    ("GET", "/members", None), ("POST", "/members", {"user": "erin", "role": "guest"}),
    ("GET", "/members/bob", None), ("PATCH", "/members/bob", {"role": "guest"}),
    ("DELETE", "/members/bob", None),
])
def test_an_invisible_private_project_looks_exactly_like_a_missing_one(api, who, method, suffix, body):
    kwargs = {"json": body} if body is not None else {}
    hidden = api.call(method, f"/projects/priv{suffix}", who, **kwargs)
    missing = api.call(method, f"/projects/miss{suffix}", who, **kwargs)  # a name as long as 'priv'
    assert_status(hidden, 404)
    assert hidden.status_code == missing.status_code
    assert hidden.get_data(as_text=True).replace("priv", "X") == missing.get_data(as_text=True).replace("miss", "X")
    # Every header alike, but the request id: random per request, it tells nothing.
    assert ({k: v for k, v in hidden.headers if k != "X-Request-ID"}
            == {k: v for k, v in missing.headers if k != "X-Request-ID"})


# --- creating projects ------------------------------------------------------------------------

CREATE_PROJECT = {"root": 201, "alice": 403, "dave": 403, "bob": 403, "carol": 403, "erin": 403, ANON: 401}


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
def test_create_project_is_for_system_admins_by_default(api, who):
    response = api.post("/projects", who, json={"name": "new-project", "public": True})
    assert_status(response, CREATE_PROJECT[who])
    if response.status_code == 201:
        assert response.headers["Location"] == f"{PREFIX}/projects/new-project"
        body = response.get_json()
        assert body["name"] == "new-project" and body["public"] is True and body["role"] == "admin"
        assert api.get("/projects/new-project", who).get_json() == body
        assert members_of(api, "new-project") == [{"user": who, "role": "admin"}]
    else:
        assert_status(api.get("/projects/new-project", "root"), 404)


def test_create_project_defaults_private_and_a_system_admin_may_name_the_owner(api):
    response = api.post("/projects", "root", json={"name": "team", "owner": "erin"})
    assert_status(response, 201)
    assert response.get_json()["public"] is False and response.get_json()["role"] is None  # root is no member
    assert members_of(api, "team") == [{"user": "erin", "role": "admin"}]
    assert api.get("/projects/team", "erin").get_json()["role"] == "admin"
    assert_status(api.get("/projects/team", "bob"), 404)
    assert_status(api.post("/projects", "root", json={"name": "team2", "owner": "nobody"}), 404)


def test_create_project_for_everyone_when_configured(tmp_path):
    application = make_app(tmp_path, project_creation="everyone")
    with application.app_context():
        seed()
        db.session.remove()
    api = Api(application, application.test_client())
    response = api.post("/projects", "erin", json={"name": "erins"})
    assert_status(response, 201)
    assert response.get_json()["role"] == "admin"
    assert_status(api.post("/projects", "erin", json={"name": "for-bob", "owner": "bob"}), 403)
    assert_status(api.post("/projects", "erin", json={"name": "mine", "owner": "erin"}), 201)
    assert_status(api.post("/projects", ANON, json={"name": "anon"}), 401)
    with application.app_context():
        db.engine.dispose()


def test_anonymous_sees_no_project_when_anonymous_pull_is_off(tmp_path):
    application = make_app(tmp_path, anonymous_pull=False)
    with application.app_context():
        seed()
        db.session.remove()
    api = Api(application, application.test_client())
    assert api.get("/projects", ANON).get_json() == []
    assert_status(api.get("/projects/pub", ANON), 404)
    assert_status(api.get("/projects/pub/members", ANON), 404)
    assert [p["name"] for p in api.get("/projects", "erin").get_json()] == ["pub"]  # logged in: still visible
    with application.app_context():
        db.engine.dispose()
