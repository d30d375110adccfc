"""The API's contract and its error documents: openapi.json itself, and the shape of every refusal.

openapi.json must be valid OpenAPI 3.1, served exactly as kept in the repository, and describe
exactly the routes Flask has.  Errors name the field at fault (400), never leak into a cache, and
keep the conventions of HTTP (405 with ``Allow``, 413).
"""

from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate as validate_openapi_document

from tests.support.api import ANON, assert_status, by_name, error, members_of, public_of
from tests.support.http import basic_header
from tests.support.openapi import DOC, PREFIX, resolve

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
        declared = {resolve(p)["name"] for p in item.get("parameters", []) if resolve(p)["in"] == "path"}
        assert names == declared, path


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


# A body that is not declared JSON at all (a form, text/plain) is a 415 before anything else:
# tests/http/test_api_cross_site.py.
@pytest.mark.parametrize("data, content_type", [
    ("[]", "application/json"), ('"public"', "application/json"), ("null", "application/json"),
    ("{not json", "application/json"), ("", "application/json"),
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


# --- 409 --------------------------------------------------------------------------------------

def test_duplicates_are_409(api):
    assert_status(api.post("/projects", "root", json={"name": "pub"}), 409)
    assert_status(api.post("/projects", "root", json={"name": "priv", "public": True}), 409)
    assert_status(api.post("/users", "root", json={"name": "bob", "password": "another-pass-1"}), 409)
    assert_status(api.post("/projects/pub/members", "alice", json={"user": "bob", "role": "guest"}), 409)
    assert by_name(members_of(api, "pub"), "user")["bob"]["role"] == "developer"


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
