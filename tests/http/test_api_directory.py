"""Directory accounts over HTTP, against the real slapd: group members in the REST API (checked
against openapi.json), a directory user's Basic credentials on the API and /token, and the 503
a directory outage gives directory users -- while local users carry on."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORDS as LOCAL_PASSWORDS
from tests.http.conftest import served
from tests.support.api import Api, assert_status, error
from tests.support.http import actions, basic, basic_header
from tests.support.openapi import PREFIX
from tests.support.slapd import PASSWORDS


@pytest.fixture
def directory_api(tmp_path, slapd):
    with served(tmp_path, **slapd.settings()) as application:
        yield Api(application, application.test_client())


def test_groups_as_members_through_the_api(directory_api):
    api = directory_api
    assert_status(api.get("/projects/priv/groups", "alice"), 200)
    assert api.get("/projects/priv/groups", "alice").get_json() == []
    added = api.post("/projects/priv/groups", "alice", json={"group": "Payments-Dev", "role": "developer"})
    assert_status(added, 201)
    assert added.get_json() == {"group": "payments-dev", "role": "developer"}
    assert added.headers["Location"] == f"{PREFIX}/projects/priv/groups/payments-dev"
    assert_status(api.post("/projects/priv/groups", "alice", json={"group": "payments-dev", "role": "guest"}), 409)
    assert error(api.post("/projects/priv/groups", "alice", json={"group": " ", "role": "guest"}))["detail"] == {
        "field": "group"}
    assert_status(api.post("/projects/priv/groups", "alice", json={"group": "ops", "role": "owner"}), 400)
    # Developers see the groups but may not change them; a non-member does not see the project.
    assert_status(api.get("/projects/priv/groups/payments-dev", "bob"), 200)
    assert_status(api.patch("/projects/priv/groups/payments-dev", "bob", json={"role": "admin"}), 403)
    assert_status(api.get("/projects/priv/groups", "erin"), 404)

    # dana's group is a Developer of priv: the API shows her the project with that role.
    dana = basic_header("dana", PASSWORDS["dana"])
    projects = {p["name"]: p["role"] for p in api.get("/projects", dana).get_json()}
    assert projects["priv"] == "developer"
    user = api.get("/users/dana", "root").get_json()
    assert (user["source"], user["email"], user["display_name"]) == ("ldap", "dana@example.org", "Dana Example")
    local = api.get("/users/alice", "root").get_json()
    assert (local["source"], local["email"], local["display_name"]) == ("local", None, None)
    assert_status(api.put("/users/dana/password", "root", json={"password": "a-local-pass-1"}), 409)

    assert api.patch("/projects/priv/groups/PAYMENTS-DEV", "alice", json={"role": "maintainer"}).get_json() == {
        "group": "payments-dev", "role": "maintainer"}
    assert {p["name"]: p["role"] for p in api.get("/projects", dana).get_json()}["priv"] == "maintainer"
    assert_status(api.delete("/projects/priv/groups/payments-dev", "alice"), 204)
    assert_status(api.get("/projects/priv", dana), 404)
    assert_status(api.delete("/projects/priv/groups/payments-dev", "alice"), 404)


def test_a_project_shows_the_effective_role_and_the_own_role_beside_it(directory_api):
    """``effective_role`` is the highest of the caller's own role and their groups' (what they may
    do), ``own_role`` the membership granted by name; ``role`` stays the effective one."""
    api = directory_api
    dana, eve = basic_header("dana", PASSWORDS["dana"]), basic_header("eve", PASSWORDS["eve"])
    assert_status(api.get("/users/current", eve), 200)  # signed in once: eve may now be a member by name
    assert_status(api.post("/projects/priv/groups", "alice", json={"group": "payments-dev", "role": "developer"}),
                  201)
    assert_status(api.post("/projects/priv/members", "alice", json={"user": "eve", "role": "guest"}), 201)

    def roles(who) -> tuple:
        listed = {p["name"]: p for p in api.get("/projects", who).get_json()}["priv"]
        assert api.get("/projects/priv", who).get_json() == listed
        return listed["role"], listed["effective_role"], listed["own_role"]

    assert roles("bob") == ("developer", "developer", "developer")  # a direct member only
    assert roles(dana) == ("developer", "developer", None)          # only through payments-dev
    assert roles(eve) == ("developer", "developer", "guest")        # both: the group's is higher
    assert_status(api.patch("/projects/priv/members/eve", "alice", json={"role": "maintainer"}), 200)
    assert roles(eve) == ("maintainer", "maintainer", "maintainer")  # both: her own is higher


def test_a_directory_outage_is_a_503_for_directory_users_only(tmp_path, slapd):
    # A port nobody listens on: the directory is down from the start.
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"ldap://127.0.0.1:{sock.getsockname()[1]}"
    with served(tmp_path, **slapd.settings(ldap_url=dead)) as application:
        client, api = application.test_client(), Api(application, application.test_client())
        refused = client.get("/token", query_string={"service": "registry", "scope": "repository:priv/x:pull"},
                             headers=basic("dana", PASSWORDS["dana"]))
        assert refused.status_code == 503
        assert refused.get_json()["errors"][0]["code"] == "UNAVAILABLE"
        assert "directory is unavailable" in refused.get_json()["errors"][0]["message"]
        assert refused.headers["Retry-After"] == "5"
        on_api = api.get("/projects", basic_header("dana", PASSWORDS["dana"]))
        assert_status(on_api, 503)
        local = client.get("/token", query_string={"service": "registry", "scope": "repository:priv/x:pull"},
                           headers=basic("bob", LOCAL_PASSWORDS["bob"]))
        assert local.status_code == 200
        # Not counted: far more than the throttle's threshold of attempts stay 503, never 429.
        for _ in range(8):
            assert client.get("/token", headers=basic("dana", PASSWORDS["dana"])).status_code == 503


def test_the_fast_token_path_answers_a_cached_directory_password_and_hands_over_a_bind(tmp_path, slapd,
                                                                                       monkeypatch):
    from authsvc.web.fast_token import FastTokenPath

    with served(tmp_path, token_fast_path=True, **slapd.settings()) as application:
        from authsvc.core.policy import OPERATOR
        from authsvc.services.access import project_groups
        from tests.support.units import call
        with application.app_context():
            call(project_groups.add_group_member, OPERATOR, "priv", "payments-dev", "developer")
            from authsvc.store.models import db
            db.session.commit()
        fast = application.wsgi_app
        assert isinstance(fast, FastTokenPath)
        reached, full = [], fast.full_path
        monkeypatch.setattr(fast, "full_path", lambda environ, start: reached.append(1) or full(environ, start))
        client = application.test_client()
        query = {"service": "registry", "scope": "repository:priv/app:pull,push"}

        def granted() -> list[str]:
            answer = client.get("/token", query_string=query, headers=basic("dana", PASSWORDS["dana"]))
            return actions(application, answer, "priv/app")

        assert granted() == ["pull", "push"]
        assert reached == [1], "the first sign-in (a bind, provisioning) is the full path's"
        assert granted() == ["pull", "push"]
        assert reached == [1], "a cached directory password is answered by the fast path"


def test_the_api_warns_of_unknown_groups_and_refuses_a_directory_persons_name(directory_api):
    """Issue 20, through the API (every answer checked against openapi.json by Api)."""
    api = directory_api
    typo = api.post("/projects/priv/groups", "alice", json={"group": "payments-devs", "role": "guest"})
    assert_status(typo, 201)
    assert typo.get_json()["group"] == "payments-devs" and "has no group 'payments-devs'" in typo.get_json()["warning"]
    known = api.post("/projects/priv/groups", "alice", json={"group": "payments-dev", "role": "guest"})
    assert "warning" not in known.get_json()

    refused = api.post("/users", "root", json={"name": "grace", "password": "local-grace-pass-1"})
    assert_status(refused, 409)
    assert "take_directory_name" in error(refused)["message"] and error(refused)["detail"] == {"field": "name"}
    taken = api.post("/users", "root", json={"name": "grace", "password": "local-grace-pass-1",
                                             "take_directory_name": True})
    assert_status(taken, 201)
    assert taken.get_json()["source"] == "local" and "also a directory person" in taken.get_json()["warning"]
    plain = api.post("/users", "root", json={"name": "henry", "password": "local-henry-pass-1"})
    assert_status(plain, 201)
    assert "warning" not in plain.get_json()
