"""The REST API /api/v1 through the Flask test client: the permission matrix and the conventions.

Every expected status below is written by hand from the rules (README's table, docs/api.md):

* a private project the caller may not see is a 404, exactly like a project that does not exist;
* a visible thing the logged-in caller may not change is a 403;
* missing or wrong credentials are a 401 with ``WWW-Authenticate`` (an anonymous caller refused
  anything is a 401: logging in might help);
* creation is a 201 with ``Location``; duplicates and removing the last Project Admin are 409;
* bad input is a 400 whose ``errors[0].detail.field`` names the field or query parameter.

Every response any test here receives through the ``api`` fixture is also validated against
openapi.json for its route and status: documented status, declared headers present and valid,
body matching the schema (a 204 has none).
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate as validate_openapi_document

from authsvc.core.policy import OPERATOR
from authsvc.services.access import projects as project_service
from authsvc.store.models import db
from authsvc.web.api import OPENAPI_PATH
from tests.conftest import PASSWORDS, make_app, seed
from tests.http.conftest import basic_header, bearer_header
from tests.support.units import call

DOC = json.loads(OPENAPI_PATH.read_text())
PREFIX = "/api/v1"
ANON = None
CALLERS = ["root", "alice", "dave", "bob", "carol", "erin", ANON]
CALLER_IDS = ["root", "alice-admin", "dave-maintainer", "bob-developer", "carol-guest", "erin-nonmember",
              "anonymous"]
#: Seeded roles (tests/conftest.py ``seeded``): the same in 'pub' and 'priv'.
SEEDED_MEMBERS = [{"user": "alice", "role": "admin"}, {"user": "bob", "role": "developer"},
                  {"user": "carol", "role": "guest"}, {"user": "dave", "role": "maintainer"}]
ROLE = {"root": None, "alice": "admin", "dave": "maintainer", "bob": "developer", "carol": "guest",
        "erin": None, ANON: None}


# --- every response against openapi.json ------------------------------------------------------

def _resolve(node: dict) -> dict:
    """Follow local ``$ref`` s; sibling keys (a description) override the target's, as in OAS 3.1."""
    while "$ref" in node:
        target = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _validator(schema: dict) -> OAS31Validator:
    # The document's components ride along so that "#/components/..." references resolve.
    return OAS31Validator({**schema, "components": DOC["components"]}, format_checker=oas31_format_checker)


def openapi_template(app, method: str, path: str) -> str:
    """The openapi.json path (``/projects/{name}``) that Flask routes ``method path`` to."""
    rule, _ = app.url_map.bind("localhost").match(path.split("?")[0], method=method, return_rule=True)
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule).removeprefix(PREFIX)


def check_against_openapi(app, method: str, path: str, response) -> None:
    template = openapi_template(app, method, path)
    operation = DOC["paths"][template][method.lower()]
    status = str(response.status_code)
    where = f"{method} {template} -> {status}"
    assert status in operation["responses"], f"{where}: status not documented ({response.get_data(as_text=True)})"
    documented = _resolve(operation["responses"][status])
    for name, header in documented.get("headers", {}).items():
        header = _resolve(header)
        value = response.headers.get(name)
        if header.get("required"):
            assert value is not None, f"{where}: header {name} missing"
        if value is not None:
            instance = int(value) if header["schema"].get("type") == "integer" else value
            errors = [e.message for e in _validator(header["schema"]).iter_errors(instance)]
            assert not errors, f"{where}: header {name}: {value!r}: {errors}"
    content = documented.get("content")
    if content is None:
        assert response.get_data() == b"", f"{where}: body where none is documented"
        return
    assert response.mimetype == "application/json", f"{where}: {response.mimetype}"
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in _validator(content["application/json"]["schema"]).iter_errors(response.get_json())]
    assert not errors, f"{where}: body {response.get_json()} does not match the schema: {errors}"


class Api:
    """The test client, speaking as one caller per call, checking each response against openapi.json."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def call(self, method: str, path: str, who=ANON, *, json=..., data=None, query=None, headers=None):
        """``who``: a seeded user name (Basic with their password), ANON, or a dict of headers."""
        sent = dict(who) if isinstance(who, dict) else basic_header(who) if who else {}
        sent.update(headers or {})
        kwargs = {"json": json} if json is not ... else {}
        if data is not None:
            kwargs = {"data": data}
        url = PREFIX + path
        response = self.client.open(url, method=method, headers=sent, query_string=query, **kwargs)
        check_against_openapi(self.app, method, url, response)
        return response

    def get(self, path, who=ANON, **kw):
        return self.call("GET", path, who, **kw)

    def post(self, path, who=ANON, **kw):
        return self.call("POST", path, who, **kw)

    def patch(self, path, who=ANON, **kw):
        return self.call("PATCH", path, who, **kw)

    def put(self, path, who=ANON, **kw):
        return self.call("PUT", path, who, **kw)

    def delete(self, path, who=ANON, **kw):
        return self.call("DELETE", path, who, **kw)


@pytest.fixture
def api(app, client, seeded):
    return Api(app, client)


def error(response) -> dict:
    body = response.get_json()
    assert len(body["errors"]) == 1
    return body["errors"][0]


def assert_status(response, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert error(response)["code"] == "UNAUTHORIZED"
    codes = {400: "INVALID", 403: "DENIED", 404: "NOT_FOUND", 409: "CONFLICT"}
    if status in codes:
        assert error(response)["code"] == codes[status]


def by_name(items: list[dict], key: str = "name") -> dict:
    return {item[key]: item for item in items}


def public_of(api, project: str) -> bool:
    return api.get(f"/projects/{project}", "root").get_json()["public"]


def members_of(api, project: str) -> list[dict]:
    response = api.get(f"/projects/{project}/members", "root")
    return response.get_json() if response.status_code == 200 else None


def user_names(api) -> set[str]:
    return {u["name"] for u in api.get("/users", "root", query={"page_size": 100}).get_json()}


# --- the document itself ----------------------------------------------------------------------

def test_openapi_document_is_valid_openapi_3_1():
    validate_openapi_document(DOC)
    assert DOC["openapi"].startswith("3.1.")


def test_openapi_is_served_as_kept_in_the_repository(client):
    response = client.get(PREFIX + "/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == DOC


def test_every_api_route_is_documented_and_every_documented_operation_exists(app):
    ignored = {"HEAD", "OPTIONS"}  # Flask adds them to every rule; nobody documents them
    routed = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule).removeprefix(PREFIX)
            routed.setdefault(path, set()).update(rule.methods - ignored)
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    documented = {path: {m.upper() for m in item if m in methods} for path, item in DOC["paths"].items()}
    assert routed == documented
    assert DOC["servers"] == [{"url": PREFIX}]


def test_every_documented_path_parameter_is_in_the_path():
    for path, item in DOC["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        declared = {_resolve(p)["name"] for p in item.get("parameters", []) if _resolve(p)["in"] == "path"}
        assert names == declared, path


# --- projects: the permission matrix ----------------------------------------------------------

VISIBLE = {"root": (200, 200), "alice": (200, 200), "dave": (200, 200), "bob": (200, 200),
           "carol": (200, 200), "erin": (200, 404), ANON: (200, 404)}


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
    assert response.headers["X-Total-Count"] == str(len(seen))


CHANGE_PROJECT = {"root": (200, 200), "alice": (200, 200), "dave": (403, 403), "bob": (403, 403),
                  "carol": (403, 403), "erin": (403, 404), ANON: (401, 404)}


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


READ_MEMBERS = {"root": (200, 200), "alice": (200, 200), "dave": (200, 200), "bob": (200, 200),
                "carol": (200, 200), "erin": (403, 404), ANON: (401, 404)}


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


MANAGE_MEMBERS = CHANGE_PROJECT  # the same rule: Project Admins and system administrators


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


def test_a_member_of_another_project_gets_404_for_an_unknown_user(api):
    assert_status(api.get("/projects/pub/members/erin", "bob"), 404)
    assert_status(api.get("/projects/pub/members/nobody", "root"), 404)
    assert_status(api.patch("/projects/pub/members/erin", "alice", json={"role": "guest"}), 404)
    assert_status(api.delete("/projects/pub/members/nobody", "alice"), 404)
    assert_status(api.post("/projects/pub/members", "alice", json={"user": "nobody", "role": "guest"}), 404)


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


# --- 409 --------------------------------------------------------------------------------------

def test_duplicates_are_409(api):
    assert_status(api.post("/projects", "root", json={"name": "pub"}), 409)
    assert_status(api.post("/projects", "root", json={"name": "priv", "public": True}), 409)
    assert_status(api.post("/users", "root", json={"name": "bob", "password": "another-pass-1"}), 409)
    assert_status(api.post("/projects/pub/members", "alice", json={"user": "bob", "role": "guest"}), 409)
    assert by_name(members_of(api, "pub"), "user")["bob"]["role"] == "developer"


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


# --- users: the permission matrix -------------------------------------------------------------

ADMIN_ONLY = {"root": 200, "alice": 403, "dave": 403, "bob": 403, "carol": 403, "erin": 403, ANON: 401}


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


# --- 400: the failing field is named ----------------------------------------------------------

@pytest.mark.parametrize("method, path, body, field", [
    ("POST", "/users", {}, "name"),
    ("POST", "/users", {"password": "frank-pass-1"}, "name"),
    ("POST", "/users", {"name": "frank"}, "password"),
    ("POST", "/users", {"name": "frank", "password": "frank-pass-1", "email": "f@x"}, "email"),
    ("POST", "/users", {"name": 7, "password": "frank-pass-1"}, "name"),
    ("POST", "/users", {"name": "frank", "password": ["frank-pass-1"]}, "password"),
    ("POST", "/users", {"name": "frank", "password": "frank-pass-1", "admin": "true"}, "admin"),
    ("POST", "/users", {"name": "frank", "password": "frank-pass-1", "admin": 1}, "admin"),
    ("POST", "/users", {"name": "frank", "password": "frank-pass-1", "admin": None}, "admin"),
    ("POST", "/users", {"name": "Frank", "password": "frank-pass-1"}, "name"),
    ("POST", "/users", {"name": "frank smith", "password": "frank-pass-1"}, "name"),
    ("POST", "/users", {"name": "-frank", "password": "frank-pass-1"}, "name"),
    ("POST", "/users", {"name": "", "password": "frank-pass-1"}, "name"),
    ("POST", "/users", {"name": "f" * 65, "password": "frank-pass-1"}, "name"),
    ("POST", "/users", {"name": "frank", "password": "short"}, "password"),
    ("POST", "/users", {"name": "frank", "password": " " * 12}, "password"),
    ("POST", "/users", {"name": "frank", "password": "x" * 4097}, "password"),
    ("POST", "/users", {"name": "fr\u0000nk", "password": "frank-pass-1"}, "name"),
    ("PATCH", "/users/bob", {"admin": "yes"}, "admin"),
    ("PATCH", "/users/bob", {"active": 0}, "active"),
    ("PATCH", "/users/bob", {"name": "robert"}, "name"),
    ("PUT", "/users/bob/password", {}, "password"),
    ("PUT", "/users/bob/password", {"password": 12345678}, "password"),
    ("PUT", "/users/bob/password", {"password": "new-pass-123", "old_password": 5}, "old_password"),
    ("PUT", "/users/bob/password", {"password": "new-pass-123", "old": "x"}, "old"),
    ("POST", "/projects", {}, "name"),
    ("POST", "/projects", {"name": "Web"}, "name"),
    ("POST", "/projects", {"name": "web app"}, "name"),
    ("POST", "/projects", {"name": "web--app"}, "name"),
    ("POST", "/projects", {"name": "web/app"}, "name"),
    ("POST", "/projects", {"name": "w" * 65}, "name"),
    ("POST", "/projects", {"name": "web", "public": "true"}, "public"),
    ("POST", "/projects", {"name": "web", "owner": 3}, "owner"),
    ("POST", "/projects", {"name": "web", "visibility": "public"}, "visibility"),
    ("POST", "/projects", {"name": "web", "owner": "\ud800"}, "owner"),
    ("PATCH", "/projects/pub", {}, "public"),
    ("PATCH", "/projects/pub", {"public": None}, "public"),
    ("PATCH", "/projects/pub", {"public": "false"}, "public"),
    ("PATCH", "/projects/pub", {"public": True, "name": "other"}, "name"),
    ("POST", "/projects/pub/members", {"user": "erin"}, "role"),
    ("POST", "/projects/pub/members", {"role": "guest"}, "user"),
    ("POST", "/projects/pub/members", {"user": "erin", "role": "owner"}, "role"),
    ("POST", "/projects/pub/members", {"user": "erin", "role": "Guest"}, "role"),
    ("POST", "/projects/pub/members", {"user": ["erin"], "role": "guest"}, "user"),
    ("POST", "/projects/pub/members", {"user": "erin", "role": "guest", "expires": 1}, "expires"),
    ("POST", "/projects/pub/members", {"user": "\ud800", "role": "guest"}, "user"),
    ("PATCH", "/projects/pub/members/bob", {}, "role"),
    ("PATCH", "/projects/pub/members/bob", {"role": "superuser"}, "role"),
    ("PATCH", "/projects/pub/members/bob", {"role": 1}, "role"),
])
def test_bad_bodies_are_400_naming_the_field(api, method, path, body, field):
    response = api.call(method, path, "root", data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert_status(response, 400)
    assert error(response)["detail"] == {"field": field}, error(response)


@pytest.mark.parametrize("data, content_type", [
    ("[]", "application/json"), ('"public"', "application/json"), ("null", "application/json"),
    ("{not json", "application/json"), ("public=true", "application/x-www-form-urlencoded"),
    ('{"public": true}', "text/plain"), ("", "application/json"),
    ("[" * 20000 + "]" * 20000, "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_400(api, data, content_type):
    response = api.call("PATCH", "/projects/pub", "alice", data=data, headers={"Content-Type": content_type})
    assert_status(response, 400)
    assert "detail" not in error(response)
    assert public_of(api, "pub") is True


@pytest.mark.parametrize("path", ["/users", "/projects", "/projects/pub/members"])
@pytest.mark.parametrize("query, field", [
    ({"page": "0"}, "page"), ({"page": "-1"}, "page"), ({"page": "x"}, "page"), ({"page": ""}, "page"),
    ({"page": "1.5"}, "page"), ({"page": "1000001"}, "page"),
    ({"page_size": "0"}, "page_size"), ({"page_size": "101"}, "page_size"),
    ({"page_size": "ten"}, "page_size"), ({"page": "1", "page_size": "-5"}, "page_size"),
])
def test_bad_page_parameters_are_400_naming_the_parameter(api, path, query, field):
    response = api.get(path, "root", query=query)
    assert_status(response, 400)
    assert error(response)["detail"] == {"field": field}


def test_a_nul_in_a_path_name_is_a_plain_404(api):
    assert_status(api.get("/projects/p%00b", "root"), 404)
    assert_status(api.get("/users/a%00b", "root"), 404)
    assert_status(api.delete("/projects/pub/members/a%00b", "root"), 404)


# --- pagination -------------------------------------------------------------------------------

def links(response) -> dict[str, str]:
    found = {}
    for part in response.headers["Link"].split(","):
        match = re.fullmatch(r'\s*<([^>]*)>;\s*rel="(\w+)"\s*', part)
        assert match, response.headers["Link"]
        found[match.group(2)] = match.group(1)
    return found


@pytest.fixture
def many_users(api):
    """25 users in all: the 6 seeded ones and 19 more."""
    for i in range(19):
        assert_status(api.post("/users", "root", json={"name": f"user{i:02d}", "password": "user-pass-12"}), 201)
    return sorted([*PASSWORDS, *(f"user{i:02d}" for i in range(19))])


def test_pagination_headers_and_pages(api, many_users):
    first = api.get("/users", "root", query={"page_size": 10})
    assert first.headers["X-Total-Count"] == "25"
    assert [u["name"] for u in first.get_json()] == many_users[:10]
    assert links(first) == {"first": f"{PREFIX}/users?page=1&page_size=10",
                            "next": f"{PREFIX}/users?page=2&page_size=10",
                            "last": f"{PREFIX}/users?page=3&page_size=10"}
    second = api.get("/users", "root", query={"page": 2, "page_size": 10})
    assert set(links(second)) == {"first", "prev", "next", "last"}
    assert links(second)["prev"] == f"{PREFIX}/users?page=1&page_size=10"
    third = api.get("/users", "root", query={"page": 3, "page_size": 10})
    assert [u["name"] for u in third.get_json()] == many_users[20:]
    assert set(links(third)) == {"first", "prev", "last"}
    beyond = api.get("/users", "root", query={"page": 4, "page_size": 10})
    assert beyond.status_code == 200 and beyond.get_json() == []
    assert beyond.headers["X-Total-Count"] == "25"
    assert links(beyond) == {"first": f"{PREFIX}/users?page=1&page_size=10",
                             "prev": f"{PREFIX}/users?page=3&page_size=10",
                             "last": f"{PREFIX}/users?page=3&page_size=10"}


def test_following_next_links_visits_every_item_once(api, many_users):
    seen, url, pages = [], "/users?page_size=7", 0
    while url:
        path, _, query = url.partition("?")
        response = api.get(path, "root", query=query)
        seen += [u["name"] for u in response.get_json()]
        url = links(response).get("next", "").removeprefix(PREFIX)
        pages += 1
    assert seen == many_users and pages == 4


def test_default_page_size_is_20_and_the_maximum_100(api, many_users):
    response = api.get("/users", "root")
    assert len(response.get_json()) == 20 and links(response)["last"] == f"{PREFIX}/users?page=2&page_size=20"
    response = api.get("/users", "root", query={"page_size": 100})
    assert len(response.get_json()) == 25 and set(links(response)) == {"first", "last"}


def test_project_and_member_lists_are_paginated_over_what_the_caller_may_see(api):
    for i in range(12):
        assert_status(api.post("/projects", "root", json={"name": f"p{i:02d}", "public": i % 2 == 0,
                                                            "owner": "alice"}), 201)
    response = api.get("/projects", "erin", query={"page_size": 5})
    assert response.headers["X-Total-Count"] == "7"  # pub and the six public p-projects
    assert [p["name"] for p in response.get_json()] == ["p00", "p02", "p04", "p06", "p08"]
    assert links(response)["last"] == f"{PREFIX}/projects?page=2&page_size=5"
    assert api.get("/projects", "root").headers["X-Total-Count"] == "14"
    response = api.get("/projects/pub/members", "carol", query={"page": 2, "page_size": 3})
    assert response.get_json() == SEEDED_MEMBERS[3:]
    assert response.headers["X-Total-Count"] == "4"
    assert links(response) == {"first": f"{PREFIX}/projects/pub/members?page=1&page_size=3",
                               "prev": f"{PREFIX}/projects/pub/members?page=1&page_size=3",
                               "last": f"{PREFIX}/projects/pub/members?page=2&page_size=3"}


# --- authentication ---------------------------------------------------------------------------

@pytest.mark.parametrize("who", CALLERS[:-1], ids=CALLER_IDS[:-1])
def test_bearer_token_is_the_same_caller_as_basic(api, client, who):
    bearer = bearer_header(client, who)
    assert api.get("/users/current", bearer).get_json() == api.get("/users/current", who).get_json()
    for project in ("pub", "priv"):
        assert api.get(f"/projects/{project}", bearer).status_code == VISIBLE[who][project == "priv"]
        assert api.get(f"/projects/{project}/members", bearer).status_code == READ_MEMBERS[who][project == "priv"]
    assert api.get("/users", bearer).status_code == ADMIN_ONLY[who]


def test_bearer_token_can_change_things(api, client):
    bearer = bearer_header(client, "alice")
    assert_status(api.post("/projects/priv/members", bearer, json={"user": "erin", "role": "developer"}), 201)
    assert_status(api.get("/projects/priv", bearer_header(client, "erin")), 200)


def test_a_token_for_the_registry_is_refused_by_the_api(api, client):
    registry_token = bearer_header(client, "root", service="registry")
    assert_status(api.get("/users/current", registry_token), 401)
    assert_status(api.get("/projects", registry_token), 401)  # even where anonymous would do


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_a_deactivated_or_deleted_users_api_token_is_refused_at_once(api, client, change):
    bearer = bearer_header(client, "bob")
    assert_status(api.get("/users/current", bearer), 200)
    if change == "deactivate":
        assert_status(api.patch("/users/bob", "root", json={"active": False}), 200)
    else:
        assert_status(api.delete("/users/bob", "root"), 204)
    assert_status(api.get("/users/current", bearer), 401)
    assert_status(api.get("/projects", bearer), 401)


def test_a_demoted_system_admins_token_loses_admin_rights_at_once(api, client):
    assert_status(api.post("/users", "root", json={"name": "ops", "password": "ops-pass-123", "admin": True}), 201)
    bearer = bearer_header(client, "ops", "ops-pass-123")
    assert_status(api.get("/users", bearer), 200)
    assert_status(api.patch("/users/ops", "root", json={"admin": False}), 200)
    assert_status(api.get("/users", bearer), 403)


def test_expired_and_foreign_tokens_are_refused(app, api, client):
    signer = app.extensions["authsvc"].signer
    fresh = bearer_header(client, "alice")
    assert_status(api.get("/users/current", fresh), 200)
    token = fresh["Authorization"].split()[1]
    claims = signer.verify(token, audience="authsvc-api")
    bound = {key: claims[key] for key in ("uid", "cv", "cred")}
    old = signer.issue(subject="alice", audience="authsvc-api", access=[], extra_claims=bound,
                       now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert_status(api.get("/users/current", {"Authorization": f"Bearer {old.token}"}), 401)
    # A token naming the account by name alone (as before user ids were bound) is refused.
    unbound = signer.issue(subject="alice", audience="authsvc-api", access=[])
    assert_status(api.get("/users/current", {"Authorization": f"Bearer {unbound.token}"}), 401)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert_status(api.get("/users/current", {"Authorization": f"Bearer {forged}"}), 401)
    anonymous = signer.issue(subject="", audience="authsvc-api", access=[])
    assert_status(api.get("/projects", {"Authorization": f"Bearer {anonymous.token}"}), 401)


@pytest.mark.parametrize("header", [
    basic_header("bob", "wrong-password"), basic_header("nobody", "whatever-1"), basic_header("BOB", "x"),
    {"Authorization": "Basic !!!"}, {"Authorization": "Basic"}, {"Authorization": "Bearer"},
    {"Authorization": "Bearer not.a.jwt"}, {"Authorization": "Digest username=bob"},
    {"Authorization": "Token abc"},
], ids=["wrong-password", "unknown-user", "wrong-password-upper", "bad-base64", "basic-empty",
        "bearer-empty", "bearer-garbage", "digest", "unknown-scheme"])
@pytest.mark.parametrize("method, path, body", [
    ("GET", "/projects", None),                      # anonymous would be answered: wrong credentials are not
    ("GET", "/projects/pub", None),
    ("GET", "/openapi.json", None),
    ("GET", "/users?page=0", None),                   # 401 before the bad query parameter
    ("POST", "/users", {"name": "Bad Name"}),         # 401 before the bad body
    ("PATCH", "/projects/priv", {"unknown": 1}),
    ("DELETE", "/projects/pub/members/bob", None),
])
def test_wrong_credentials_are_401_before_anything_else(api, header, method, path, body):
    kwargs = {"json": body} if body is not None else {}
    response = api.call(method, path, header, **kwargs)
    assert_status(response, 401)
    assert members_of(api, "pub") == SEEDED_MEMBERS


def test_a_personal_access_token_stands_in_for_the_password(app, api):
    from authsvc.services.credentials import personal_tokens
    created = call(personal_tokens.create, OPERATOR, "bob", "laptop", expires_in=dt.timedelta(days=1))
    pat = basic_header("bob", created.token)
    assert api.get("/users/current", pat).get_json()["name"] == "bob"
    assert_status(api.get("/projects/priv/members", pat), 200)
    assert_status(api.get("/users", pat), 403)  # still only bob's rights
    assert_status(api.get("/users/current", basic_header("alice", created.token)), 401)  # not alice's


def test_a_robot_account_never_administers_anything(app, api):
    from authsvc.services.credentials import robots
    robot = call(robots.create, OPERATOR, "priv", "ci", actions="pull,push", never_expires=True)
    who = basic_header(robot.login, robot.secret)
    assert_status(api.get("/projects/priv", who), 200)
    for method, path, body in [("PATCH", "/projects/priv", {"public": True}), ("DELETE", "/projects/priv", None),
                               ("GET", "/projects/priv/members", None),
                               ("POST", "/projects/priv/members", {"user": "erin", "role": "guest"}),
                               ("DELETE", "/projects/priv/members/bob", None), ("GET", "/users", None),
                               ("POST", "/users", {"name": "evil", "password": "evil-pass-1"}),
                               ("PUT", "/users/alice/password", {"password": "evil-pass-1"})]:
        kwargs = {"json": body} if body is not None else {}
        assert_status(api.call(method, path, who, **kwargs), 403)
    assert_status(api.post("/projects", who, json={"name": "robots-own"}), 403)
    assert api.get("/users/current", who).status_code == 404  # no user record (documented)
    assert members_of(api, "priv") == SEEDED_MEMBERS and public_of(api, "priv") is False


def test_login_names_are_case_insensitive(api):
    assert api.get("/users/current", basic_header("BOB", PASSWORDS["bob"])).get_json()["name"] == "bob"


def test_a_deactivated_user_cannot_use_basic_either(api):
    assert_status(api.patch("/users/carol", "root", json={"active": False}), 200)
    assert_status(api.get("/projects/priv", "carol"), 401)


def test_each_request_is_its_own_caller(api):
    """The caller is not remembered between requests handled in one app context (the fixtures')."""
    assert_status(api.get("/users", "root"), 200)
    assert_status(api.get("/users", ANON), 401)
    assert_status(api.get("/projects/priv", ANON), 404)


# --- other HTTP behaviour ---------------------------------------------------------------------

def test_an_unsupported_method_is_405_with_allow(client, seeded):
    response = client.put(PREFIX + "/users", headers=basic_header("root"))
    assert response.status_code == 405
    assert response.get_json()["errors"][0]["code"] == "UNSUPPORTED"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_an_oversized_body_is_413(api):
    response = api.post("/users", "root", data=json.dumps({"name": "big", "password": "x" * 70000}),
                        headers={"Content-Type": "application/json"})
    assert_status(response, 413)
    assert error(response)["code"] == "TOO_LARGE"


def test_errors_are_not_cached(api):
    for response in (api.get("/projects/priv", ANON), api.get("/users", "bob"), api.get("/users", ANON)):
        assert response.headers["Cache-Control"] == "no-store"


def test_changes_made_through_the_api_reach_the_token_endpoint(app, api, client):
    """One service layer: a member added over the API can pull at once."""
    from tests.http.test_token_endpoint import actions, get_token
    assert actions(app, get_token(client, "repository:priv/app:pull", user="erin"), "priv/app") == []
    assert_status(api.post("/projects/priv/members", "alice", json={"user": "erin", "role": "guest"}), 201)
    assert actions(app, get_token(client, "repository:priv/app:pull", user="erin"), "priv/app") == ["pull"]
    call(project_service.remove_member, OPERATOR, "priv", "erin")
    assert_status(api.get("/projects/priv", "erin"), 404)


def test_the_last_system_administrator_cannot_be_removed(api):
    for change in ({"admin": False}, {"active": False}):
        response = api.patch("/users/root", "root", json=change)
        assert_status(response, 409)
        assert "last active system administrator" in error(response)["message"]
    assert_status(api.delete("/users/root", "root"), 409)
    assert_status(api.get("/users/current", "root"), 200)
    assert_status(api.patch("/users/erin", "root", json={"admin": True}), 200)
    assert_status(api.patch("/users/root", "root", json={"admin": False}), 200)  # erin is one now
