"""Speaking to /api/v1 as one seeded caller at a time, and the permission matrix the tests expect.

Every expected status in the API tests is written by hand from the rules (README's table,
docs/api.md), not derived from the code:

* a private project the caller may not see is a 404, exactly like a project that does not exist;
* a visible thing the logged-in caller may not change is a 403;
* missing or wrong credentials are a 401 with a Bearer ``WWW-Authenticate`` (an anonymous caller
  refused anything is a 401: logging in might help);
* creation is a 201 with ``Location``; duplicates and removing the last Project Admin are 409;
* bad input is a 400 whose ``errors[0].detail.field`` names the field or query parameter.

Every response received through :class:`Api` is also validated against openapi.json
(:mod:`tests.support.openapi`).
"""

from __future__ import annotations

from tests.support.http import basic_header
from tests.support.openapi import PREFIX, check_against_openapi

ANON = None
CALLERS = ["root", "alice", "dave", "bob", "carol", "erin", ANON]
CALLER_IDS = ["root", "alice-admin", "dave-maintainer", "bob-developer", "carol-guest", "erin-nonmember",
              "anonymous"]
#: Seeded roles (tests/conftest.py ``seed``): the same in 'pub' and 'priv'.
SEEDED_MEMBERS = [{"user": "alice", "role": "admin"}, {"user": "bob", "role": "developer"},
                  {"user": "carol", "role": "guest"}, {"user": "dave", "role": "maintainer"}]
ROLE = {"root": None, "alice": "admin", "dave": "maintainer", "bob": "developer", "carol": "guest",
        "erin": None, ANON: None}

# The permission matrix, per caller: (status on 'pub', status on 'priv') where it differs by project.
# Shared because the authentication tests check that a bearer token gets exactly these too.

VISIBLE = {"root": (200, 200), "alice": (200, 200), "dave": (200, 200), "bob": (200, 200),
           "carol": (200, 200), "erin": (200, 404), ANON: (200, 404)}
CHANGE_PROJECT = {"root": (200, 200), "alice": (200, 200), "dave": (403, 403), "bob": (403, 403),
                  "carol": (403, 403), "erin": (403, 404), ANON: (401, 404)}
READ_MEMBERS = {"root": (200, 200), "alice": (200, 200), "dave": (200, 200), "bob": (200, 200),
                "carol": (200, 200), "erin": (403, 404), ANON: (401, 404)}
MANAGE_MEMBERS = CHANGE_PROJECT  # the same rule: Project Admins and system administrators
ADMIN_ONLY = {"root": 200, "alice": 403, "dave": 403, "bob": 403, "carol": 403, "erin": 403, ANON: 401}


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


def error(response) -> dict:
    """The one error of an error response."""
    body = response.get_json()
    assert len(body["errors"]) == 1
    return body["errors"][0]


def assert_status(response, status: int) -> None:
    """The status, and the error code that goes with it (a 401 also carries its challenge)."""
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="')  # never Basic: no browser prompt
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

