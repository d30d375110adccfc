"""/api/v1/users: accounts are for system administrators; each user reads their own and sets
their own password with the old one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import PASSWORDS
from tests.support.api import (
    ADMIN_ONLY,
    ANON,
    CALLER_IDS,
    CALLERS,
    assert_status,
    by_name,
    error,
    members_of,
    user_names,
)
from tests.support.http import basic_header
from tests.support.openapi import DOC, PREFIX, resolve

API_MD = Path(__file__).parents[2] / "docs" / "api.md"


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
def test_list_users(api, who):
    response = api.get("/users", who)
    assert_status(response, ADMIN_ONLY[who])
    if response.status_code == 200:
        assert [u["name"] for u in response.get_json()] == sorted(PASSWORDS)
        assert by_name(response.get_json())["root"]["admin"] is True
        assert response.headers["X-Total-Count"] == str(len(PASSWORDS))


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
def test_create_user(api, who):
    response = api.post("/users", who, json={"name": "frank", "password": "frank-pass-1"})
    expected = 201 if ADMIN_ONLY[who] == 200 else ADMIN_ONLY[who]
    assert_status(response, expected)
    if expected == 201:
        assert response.headers["Location"] == f"{PREFIX}/users/frank"
        body = response.get_json()
        assert (body["name"], body["admin"], body["active"]) == ("frank", False, True)
        assert api.get("/users/frank", "root").get_json() == body
        assert api.get("/users/current", basic_header("frank", "frank-pass-1")).get_json() == body
    assert ("frank" in user_names(api)) is (expected == 201)


def test_create_system_admin(api):
    response = api.post("/users", "root", json={"name": "ops@example.com", "password": "ops-pass-123",
                                                "admin": True})
    assert_status(response, 201)
    assert response.get_json()["admin"] is True
    assert response.headers["Location"] == f"{PREFIX}/users/ops@example.com"
    assert_status(api.get("/users", basic_header("ops@example.com", "ops-pass-123")), 200)


SELF_OR_ADMIN = {"root": 200, "alice": 403, "dave": 403, "bob": 403, "carol": 403, "erin": 200, ANON: 401}


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
def test_get_user(api, who):
    response = api.get("/users/erin", who)
    assert_status(response, SELF_OR_ADMIN[who])
    if response.status_code == 200:
        assert response.get_json()["name"] == "erin" and response.get_json()["admin"] is False


@pytest.mark.parametrize("who, status", [("root", 404), ("erin", 403), (ANON, 401)],
                         ids=["root", "erin", "anonymous"])
def test_get_unknown_user(api, who, status):
    """Only a system administrator learns that a user does not exist."""
    assert_status(api.get("/users/nobody", who), status)


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
def test_update_user(api, who):
    response = api.patch("/users/erin", who, json={"admin": True})
    assert_status(response, ADMIN_ONLY[who])  # erin may not make herself an admin
    assert api.get("/users/erin", "root").get_json()["admin"] is (ADMIN_ONLY[who] == 200)


def test_update_user_changes_only_what_is_sent(api):
    before = api.get("/users/bob", "root").get_json()
    assert api.patch("/users/bob", "root", json={}).get_json() == before
    after = api.patch("/users/bob", "root", json={"active": False}).get_json()
    assert after == {**before, "active": False}
    assert_status(api.get("/users/current", "bob"), 401)  # deactivated: cannot log in
    assert api.patch("/users/bob", "root", json={"active": True, "admin": True}).get_json() == {
        **before, "admin": True}
    assert_status(api.get("/users", "bob"), 200)  # a system administrator now
    assert_status(api.patch("/users/nobody", "root", json={"admin": True}), 404)


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
def test_delete_user(api, who):
    response = api.delete("/users/erin", who)
    expected = 204 if ADMIN_ONLY[who] == 200 else ADMIN_ONLY[who]
    assert_status(response, expected)
    assert ("erin" in user_names(api)) is (expected != 204)


def test_delete_user_removes_memberships_and_logins(api):
    assert_status(api.delete("/users/bob", "root"), 204)
    assert "bob" not in by_name(members_of(api, "pub"), "user")
    assert_status(api.get("/users/current", "bob"), 401)
    assert_status(api.delete("/users/bob", "root"), 404)


def test_the_last_system_administrator_cannot_be_removed(api):
    for change in ({"admin": False}, {"active": False}):
        response = api.patch("/users/root", "root", json=change)
        assert_status(response, 409)
        assert "last active system administrator" in error(response)["message"]
    assert_status(api.delete("/users/root", "root"), 409)
    assert_status(api.get("/users/current", "root"), 200)
    assert_status(api.patch("/users/erin", "root", json={"admin": True}), 200)
    assert_status(api.patch("/users/root", "root", json={"admin": False}), 200)  # erin is one now


# --- passwords --------------------------------------------------------------------------------

NEW_PASSWORD = "brand-new-pass-1"


@pytest.mark.parametrize("who, status", [
    ("root", 204),   # system administrators set anyone's password without the old one
    ("alice", 403), ("dave", 403), ("bob", 403), ("carol", 403),
    ("erin", 403),   # her own, but without old_password
    (ANON, 401),
], ids=CALLER_IDS)
def test_set_password_without_old_password(api, who, status):
    assert_status(api.put("/users/erin/password", who, json={"password": NEW_PASSWORD}), status)
    changed = status == 204
    assert_status(api.get("/users/current", basic_header("erin", NEW_PASSWORD)), 200 if changed else 401)
    assert_status(api.get("/users/current", "erin"), 401 if changed else 200)


def test_users_change_their_own_password_with_the_old_one(api):
    response = api.put("/users/erin/password", "erin", json={"password": NEW_PASSWORD, "old_password": "wrong-one-1"})
    assert_status(response, 403)
    assert error(response)["detail"] == {"field": "old_password"}
    assert_status(api.get("/users/current", "erin"), 200)  # unchanged
    response = api.put("/users/erin/password", "erin",
                       json={"password": NEW_PASSWORD, "old_password": PASSWORDS["erin"]})
    assert_status(response, 204)
    assert_status(api.get("/users/current", "erin"), 401)
    assert_status(api.get("/users/current", basic_header("erin", NEW_PASSWORD)), 200)
    # The old password does not help with anyone else's.
    response = api.put("/users/bob/password", basic_header("erin", NEW_PASSWORD),
                       json={"password": "stolen-pass-1", "old_password": PASSWORDS["bob"]})
    assert_status(response, 403)


def test_the_docs_give_a_wrong_old_password_the_status_the_code_answers(api):
    """docs/api.md and openapi.json once said 401 where the code answers 403 (security review)."""
    response = api.put("/users/erin/password", "erin", json={"password": NEW_PASSWORD, "old_password": "wrong-one-1"})
    status, code = response.status_code, error(response)["code"]
    assert (status, code) == (403, "DENIED")
    operation = DOC["paths"]["/users/{name}/password"]["put"]
    assert "old_password" in resolve(operation["responses"][str(status)])["description"]
    assert "old_password" not in resolve(operation["responses"]["401"])["description"]
    assert "`old_password` is a 401" not in operation["description"]
    assert "throttled" in operation["description"] and "429" in operation["responses"]
    rows = {line.split("|")[1].strip(): line for line in API_MD.read_text().splitlines()
            if re.match(r"\| \d{3} \| `", line)}
    assert f"`{code}`" in rows[str(status)] and "old_password" in rows[str(status)]
    assert "old_password" not in rows["401"]
    assert "old_password" in rows["429"]


def test_a_weak_new_password_is_400_even_with_the_right_old_one(api):
    response = api.put("/users/erin/password", "erin", json={"password": "short", "old_password": PASSWORDS["erin"]})
    assert_status(response, 400)
    assert error(response)["detail"] == {"field": "password"}
    assert_status(api.put("/users/nobody/password", "root", json={"password": NEW_PASSWORD}), 404)


@pytest.mark.parametrize("who", CALLERS, ids=CALLER_IDS)
def test_users_current(api, who):
    response = api.get("/users/current", who)
    assert_status(response, 401 if who is ANON else 200)
    if who is not ANON:
        body = response.get_json()
        assert body["name"] == who and body["admin"] is (who == "root") and body["active"] is True
