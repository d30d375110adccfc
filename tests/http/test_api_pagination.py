"""Lists come a page at a time: ``page``/``page_size``, ``X-Total-Count`` and RFC 8288 ``Link``
headers, counted over what the caller may see.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORDS
from tests.support.api import SEEDED_MEMBERS, assert_status
from tests.support.openapi import PREFIX


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
