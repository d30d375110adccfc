"""The console allows exactly what the REST API allows: every console form, for every kind of
person in the seed, answers the status the matching API call answers (success, 403, 404, 409) --
the people's and the groups' member forms alike.

Each person runs the same sequence of changes against two fresh copies of the seed -- one through
the console, one through the API, both logged in with the password -- so each step meets the same
state on both sides and its outcome must agree.  What a person sees is checked too: a Guest gets
the member list without controls, a non-member a 404 for the private project.
"""

from __future__ import annotations

import pytest

from authsvc.core.policy import OPERATOR
from authsvc.services.credentials import robots
from authsvc.store.models import db
from tests.conftest import PASSWORDS
from tests.http.conftest import served
from tests.support.console import Browser
from tests.support.http import basic_header
from tests.support.units import call

EXPIRES = "2099-01-01T00:00:00Z"

#: (console path, console form, API method, API path, API JSON body)
STEPS = [
    ("/projects/priv/members", {"user": "erin", "role": "developer"},
     "POST", "/api/v1/projects/priv/members", {"user": "erin", "role": "developer"}),
    ("/projects/pub/members", {"user": "nobody", "role": "developer"},
     "POST", "/api/v1/projects/pub/members", {"user": "nobody", "role": "developer"}),
    ("/projects/priv/members/bob/role", {"role": "maintainer"},
     "PATCH", "/api/v1/projects/priv/members/bob", {"role": "maintainer"}),
    ("/projects/priv/members/alice/role", {"role": "guest"},
     "PATCH", "/api/v1/projects/priv/members/alice", {"role": "guest"}),
    ("/projects/priv/members/carol/remove", {}, "DELETE", "/api/v1/projects/priv/members/carol", None),
    ("/projects/priv/groups", {"group": "payments-dev", "role": "developer"},
     "POST", "/api/v1/projects/priv/groups", {"group": "payments-dev", "role": "developer"}),
    ("/projects/priv/groups", {"group": "Payments-Dev", "role": "guest"},
     "POST", "/api/v1/projects/priv/groups", {"group": "Payments-Dev", "role": "guest"}),
    ("/projects/pub/groups", {"group": "ops", "role": "guest"},
     "POST", "/api/v1/projects/pub/groups", {"group": "ops", "role": "guest"}),
    ("/projects/priv/groups/role", {"group": "payments-dev", "role": "maintainer"},
     "PATCH", "/api/v1/projects/priv/groups/payments-dev", {"role": "maintainer"}),
    ("/projects/priv/groups/remove", {"group": "payments-dev"},
     "DELETE", "/api/v1/projects/priv/groups/payments-dev", None),
    ("/projects/priv/groups/remove", {"group": "payments-dev"},
     "DELETE", "/api/v1/projects/priv/groups/payments-dev", None),
    ("/projects/priv/robots", {"name": "ci", "pull": "on", "expires_in_days": "30"},
     "POST", "/api/v1/projects/priv/robots", {"name": "ci", "actions": ["pull"], "expires_at": EXPIRES}),
    ("/projects/pub/robots/seeded/disable", {}, "PATCH", "/api/v1/projects/pub/robots/seeded", {"disabled": True}),
    ("/projects/pub/robots/seeded/enable", {}, "PATCH", "/api/v1/projects/pub/robots/seeded", {"disabled": False}),
    ("/projects/pub/robots/seeded/rekey", {}, "POST", "/api/v1/projects/pub/robots/seeded/rekey", None),
    ("/projects/pub/robots/seeded/delete", {}, "DELETE", "/api/v1/projects/pub/robots/seeded", None),
    ("/projects/pub/settings", {"visibility": "private"}, "PATCH", "/api/v1/projects/pub", {"public": False}),
    ("/projects/priv/delete", {"confirm": "priv"}, "DELETE", "/api/v1/projects/priv", None),
    ("/projects/new", {"name": "fresh"}, "POST", "/api/v1/projects", {"name": "fresh"}),
    ("/projects/new", {"name": "fresh"}, "POST", "/api/v1/projects", {"name": "fresh"}),
]


def _outcome(status: int) -> int:
    """A success is a redirect or a page (console) or a 2xx (API); a refusal keeps its status."""
    return 200 if status < 400 else status


def _seeded(tmp_path, name, **settings):
    context = served(tmp_path / name, registry_host="registry.test", **settings)
    application = context.__enter__()
    with application.app_context():
        call(robots.create, OPERATOR, "pub", "seeded", actions="pull", never_expires=True)
        db.session.remove()
    return context, application


@pytest.mark.parametrize("user", sorted(PASSWORDS))
@pytest.mark.parametrize("creation", ["admins", "everyone"])
def test_every_console_form_answers_what_the_api_answers(tmp_path, user, creation):
    console_context, console = _seeded(tmp_path, "console", project_creation=creation)
    api_context, api = _seeded(tmp_path, "api", project_creation=creation)
    try:
        browser = Browser(console, user)
        client = api.test_client()
        outcomes = []
        for path, form, method, api_path, body in STEPS:
            console_status = browser.post(path, form).status_code
            kwargs = {"json": body} if body is not None else {}
            api_status = client.open(api_path, method=method, headers=basic_header(user), **kwargs).status_code
            outcomes.append((path, _outcome(console_status), _outcome(api_status)))
        assert [(p, c) for p, c, _ in outcomes] == [(p, a) for p, _, a in outcomes]
    finally:
        console_context.__exit__(None, None, None)
        api_context.__exit__(None, None, None)


def test_a_guest_sees_the_members_but_no_controls(tmp_path):
    with served(tmp_path) as console:
        carol = Browser(console, "carol")
        page = carol.get("/projects/priv/members").get_data(as_text=True)
        assert "bob" in page and "developer" in page
        for control in ("Add member", "Add group", "Change role", ">Remove<", "Role for"):
            assert control not in page
        tabs = carol.get("/projects/priv").get_data(as_text=True)
        assert ">Members<" in tabs and ">Robots<" not in tabs and ">Settings<" not in tabs
        assert carol.get("/projects/priv/robots").status_code == 403
        assert carol.get("/projects/priv/settings").status_code == 403
        alice = Browser(console, "alice").get("/projects/priv/members").get_data(as_text=True)
        for control in ("Add member", "Add group", "Change role", ">Remove<", "Role for bob"):
            assert control in alice


def test_a_hidden_project_is_a_404_on_every_page_and_form(tmp_path):
    with served(tmp_path) as console:
        erin = Browser(console, "erin")
        for path in ("/projects/priv", "/projects/priv/push", "/projects/priv/members", "/projects/priv/robots",
                     "/projects/priv/settings"):
            response = erin.get(path)
            assert response.status_code == 404 and "priv" not in response.get_data(as_text=True)
        missing = erin.get("/projects/no-such-project")
        assert missing.status_code == 404
        for path, form, *_ in STEPS:
            if "/priv/" in path:
                assert erin.post(path, form).status_code == 404
        listing = erin.get("/projects").get_data(as_text=True)
        assert ">pub<" in listing and ">priv<" not in listing
        public = erin.get("/projects/pub")  # a public project: its images, not its people
        assert public.status_code == 200 and ">Members<" not in public.get_data(as_text=True)
        assert erin.get("/projects/pub/members").status_code == 403
