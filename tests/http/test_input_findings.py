"""Regression tests for the security review's input findings (issue 11, findings 8 and 9).

8. Bodies the robot and pull-secret endpoints used to answer with a 500 and a traceback: a deeply
   nested JSON body (those endpoints had a second body parser without render.py's checks) and a
   lone surrogate in a robot's description or a pull-secret's robot, namespace or name.
9. Names ending with a newline (``"guest\\n"``, ``"pub\\n"``, ``"ns\\n"``), which ``$`` with
   ``re.match`` let through, to be stored beside the name without it.

Each bad request must be a 400 with the API's JSON error naming the field, and must change nothing.
"""

from __future__ import annotations

import json

import pytest

from authsvc.store.models import Membership, Project, Robot, User, db
from tests.support.http import basic_header

JSON = {"Content-Type": "application/json"}
ROBOTS = "/api/v1/projects/priv/robots"
PULL_SECRET = "/api/v1/projects/priv/pull-secret"
DEEP = "[" * 20000 + "]" * 20000  # json gives up with RecursionError long before this depth


def send(client, method: str, path: str, body, user: str = "alice"):
    """``body`` as JSON text (a str is sent as is, so it can hold what json.dumps cannot build)."""
    data = body if isinstance(body, str) else json.dumps(body)  # ensure_ascii: "\ud800" stays an escape
    return client.open(path, method=method, data=data, headers={**JSON, **basic_header(user)})


def refused(response, field: str | None) -> str:
    """A 400 in the API's error shape, naming ``field`` (or no field); returns the message."""
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.is_json and "Traceback" not in response.get_data(as_text=True)
    (error,) = response.get_json()["errors"]
    assert error["code"] == "INVALID" and error["message"]
    assert error.get("detail", {}).get("field") == field, error
    return error["message"]


def count(model) -> int:
    db.session.rollback()  # see the other requests' commits
    return db.session.query(model).count()


# -- finding 8: nesting and lone surrogates ----------------------------------------------------

@pytest.mark.parametrize("path", [ROBOTS, PULL_SECRET])
@pytest.mark.parametrize("text", [
    DEEP,
    '{"name": ' + DEEP + ', "expires_at": null}',
    '{"namespace": "ns", "robot": {"a": ' + DEEP + '}}',
])
def test_a_deeply_nested_body_is_a_400(client, seeded, path, text):
    message = refused(send(client, "POST", path, text), None)
    assert "nested too deeply" in message
    assert count(Robot) == 0


@pytest.mark.parametrize("body, field", [
    ({"name": "ci", "expires_at": None, "actions": [[["pull"]]]}, "actions"),
    ({"name": "ci", "expires_at": None, "description": {"text": "x"}}, "description"),
    ({"name": ["ci"], "expires_at": None}, "name"),
    ({"name": "ci", "expires_at": 20270101}, "expires_at"),
])
def test_a_nested_or_mistyped_robot_field_is_a_400(client, seeded, body, field):
    refused(send(client, "POST", ROBOTS, body), field)
    assert count(Robot) == 0


@pytest.mark.parametrize("description", ["\ud800", "ci \udfff pipeline", "nul\x00here"])
def test_a_robot_description_that_cannot_be_stored_is_a_400(client, seeded, description):
    message = refused(send(client, "POST", ROBOTS, {"name": "ci", "expires_at": None,
                                                    "description": description}), "description")
    assert "description" in message
    assert count(Robot) == 0


def test_a_robot_description_over_300_characters_is_refused_not_cut(client, seeded):
    """openapi.json says maxLength 300; the service used to store the first 300 silently."""
    refused(send(client, "POST", ROBOTS, {"name": "ci", "expires_at": None, "description": "d" * 301}),
            "description")
    made = send(client, "POST", ROBOTS, {"name": "ci", "expires_at": None, "description": "d" * 300})
    assert made.status_code == 201 and made.get_json()["description"] == "d" * 300


@pytest.mark.parametrize("field", ["robot", "namespace", "name", "registry"])
@pytest.mark.parametrize("bad", ["\ud800", "pull\udc80prod", "pull\x00prod"])
def test_pull_secret_text_that_cannot_be_stored_is_a_400(client, seeded, field, bad):
    assert send(client, "POST", ROBOTS, {"name": "pull-prod", "expires_at": None}).status_code == 201
    body = {"namespace": "prod", "robot": "pull-prod", "registry": "reg.example.com", field: bad}
    refused(send(client, "POST", PULL_SECRET, body), field)
    assert count(Robot) == 1


def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_naming_its_field(client, seeded):
    refused(send(client, "POST", ROBOTS, {"name": "ci", "expires_at": None, "actions": ["pull", "\ud800"]}),
            "actions")
    refused(send(client, "POST", "/api/v1/users", {"name": "frank", "password": "frank-pass-\ud800"},
                 user="root"), "password")
    assert count(Robot) == 0


# -- finding 9: names are matched whole -------------------------------------------------------

def test_guest_with_a_newline_is_no_role(client, seeded):
    refused(send(client, "POST", "/api/v1/projects/pub/members", {"user": "erin", "role": "guest\n"}), "role")
    refused(send(client, "PATCH", "/api/v1/projects/pub/members/bob", {"role": "guest\n"}), "role")
    members = client.get("/api/v1/projects/pub/members", headers=basic_header("alice")).get_json()
    assert sorted((m["user"], m["role"]) for m in members) == [
        ("alice", "admin"), ("bob", "developer"), ("carol", "guest"), ("dave", "maintainer")]


def test_ns_with_a_newline_is_no_namespace(client, seeded):
    for body in ({"namespace": "ns\n", "create_robot": True, "expires_at": None, "registry": "reg.example.com"},
                 {"namespace": "ns\n", "robot": "ci", "registry": "reg.example.com"}):
        message = refused(send(client, "POST", PULL_SECRET, body), "namespace")
        assert "namespace" in message
    assert count(Robot) == 0


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/users", {"name": "guest\n", "password": "guest-pass-1"}, "name"),
    ("/api/v1/projects", {"name": "pub\n"}, "name"),
    (ROBOTS, {"name": "ci\n", "expires_at": None}, "name"),
    ("/api/v1/users/alice/tokens", {"name": "laptop\n", "expires_in_days": 7}, "name"),
    (PULL_SECRET, {"namespace": "ns", "name": "web-pull\n", "create_robot": True, "expires_at": None,
                   "registry": "reg.example.com"}, "name"),
    (PULL_SECRET, {"namespace": "ns", "create_robot": True, "expires_at": None,
                   "registry": "reg.example.com\n"}, "registry"),
])
def test_names_with_a_trailing_newline_are_refused(client, seeded, path, body, field):
    before = (count(User), count(Project), count(Membership), count(Robot))
    refused(send(client, "POST", path, body, user="root"), field)
    assert (count(User), count(Project), count(Membership), count(Robot)) == before
