"""/api/v1/projects/{name}/members: who reads and manages a project's members and roles.

Every member may read the list; Project Admins and system administrators manage it, and a
project always keeps one Project Admin (409).  A change counts for the next token at once.
"""

from __future__ import annotations

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.access import projects as project_service
from tests.support.api import (
    CALLER_IDS,
    CALLERS,
    MANAGE_MEMBERS,
    READ_MEMBERS,
    SEEDED_MEMBERS,
    assert_status,
    by_name,
    members_of,
)
from tests.support.http import actions, get_token
from tests.support.openapi import PREFIX
from tests.support.units import call


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_list_members(api, who, project):
    response = api.get(f"/projects/{project}/members", who)
    assert_status(response, READ_MEMBERS[who][project == "priv"])
    if response.status_code == 200:
        assert response.get_json() == SEEDED_MEMBERS
        assert response.headers["X-Total-Count"] == "4"


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_get_member(api, who, project):
    response = api.get(f"/projects/{project}/members/bob", who)
    assert_status(response, READ_MEMBERS[who][project == "priv"])
    if response.status_code == 200:
        assert response.get_json() == {"user": "bob", "role": "developer"}


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_add_member(api, who, project):
    response = api.post(f"/projects/{project}/members", who, json={"user": "erin", "role": "guest"})
    expected = MANAGE_MEMBERS[who][project == "priv"]
    assert_status(response, 201 if expected == 200 else expected)
    added = {"user": "erin", "role": "guest"}
    if expected == 200:
        assert response.get_json() == added
        assert response.headers["Location"] == f"{PREFIX}/projects/{project}/members/erin"
        assert api.get(response.headers["Location"].removeprefix(PREFIX), "root").get_json() == added
    assert (added in members_of(api, project)) is (expected == 200)


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_change_role(api, who, project):
    response = api.patch(f"/projects/{project}/members/bob", who, json={"role": "guest"})
    expected = MANAGE_MEMBERS[who][project == "priv"]
    assert_status(response, expected)
    if expected == 200:
        assert response.get_json() == {"user": "bob", "role": "guest"}
    role = by_name(members_of(api, project), "user")["bob"]["role"]
    assert role == ("guest" if expected == 200 else "developer")


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
@pytest.mark.parametrize("project", ["pub", "priv"])
def test_remove_member(api, who, project):
    response = api.delete(f"/projects/{project}/members/carol", who)
    expected = MANAGE_MEMBERS[who][project == "priv"]
    assert_status(response, 204 if expected == 200 else expected)
    assert ("carol" in by_name(members_of(api, project), "user")) is (expected != 200)


def test_a_member_of_another_project_gets_404_for_an_unknown_user(api):
    assert_status(api.get("/projects/pub/members/erin", "bob"), 404)
    assert_status(api.get("/projects/pub/members/nobody", "root"), 404)
    assert_status(api.patch("/projects/pub/members/erin", "alice", json={"role": "guest"}), 404)
    assert_status(api.delete("/projects/pub/members/nobody", "alice"), 404)
    assert_status(api.post("/projects/pub/members", "alice", json={"user": "nobody", "role": "guest"}), 404)


@pytest.mark.parametrize("who", ["alice", "root"])
def test_the_last_project_admin_cannot_be_demoted_or_removed(api, who):
    assert_status(api.patch("/projects/priv/members/alice", who, json={"role": "maintainer"}), 409)
    assert_status(api.delete("/projects/priv/members/alice", who), 409)
    assert_status(api.patch("/projects/priv/members/alice", who, json={"role": "admin"}), 200)  # no change
    assert members_of(api, "priv") == SEEDED_MEMBERS
    # With a second Project Admin, either may step down.
    assert_status(api.patch("/projects/priv/members/dave", who, json={"role": "admin"}), 200)
    assert_status(api.patch("/projects/priv/members/alice", who, json={"role": "guest"}), 200)
    assert_status(api.delete("/projects/priv/members/dave", "dave"), 409)  # dave is now the last one
    assert by_name(members_of(api, "priv"), "user")["dave"]["role"] == "admin"


def test_changes_made_through_the_api_reach_the_token_endpoint(app, api, client):
    """One service layer: a member added over the API can pull at once."""
    assert actions(app, get_token(client, "repository:priv/app:pull", user="erin"), "priv/app") == []
    assert_status(api.post("/projects/priv/members", "alice", json={"user": "erin", "role": "guest"}), 201)
    assert actions(app, get_token(client, "repository:priv/app:pull", user="erin"), "priv/app") == ["pull"]
    call(project_service.remove_member, OPERATOR, "priv", "erin")
    assert_status(api.get("/projects/priv", "erin"), 404)
