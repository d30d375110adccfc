"""Finding 7 of the security review: the API must not act on a request another web site makes.

A browser that holds Basic credentials for authsvc (typed into the prompt a Basic challenge
brings up) sends them with every request to authsvc's origin, including one a hostile page makes:
an HTML form (``application/x-www-form-urlencoded``, ``multipart/form-data`` or ``text/plain``)
or a ``fetch`` without CORS (those three types, or no type at all).  A JSON body cannot be sent
that way without a CORS pre-flight, which authsvc never grants.  So:

* a POST, PUT, PATCH or DELETE under /api/v1 is taken only as JSON or with no body at all;
  anything else is a 415 before anything happens, even before the credentials are checked (so a
  hostile page cannot spend a user's login attempts and lock them out either);
* no 401 of the API or of /token offers Basic, so no browser ever prompts for the credentials.

The attack reproduced: a form-encoded rekey of a robot with a Project Admin's Basic credentials,
which used to succeed and break every pull secret of that robot.
"""

from __future__ import annotations

import re

import pytest

from authsvc.store.models import db
from tests.conftest import PASSWORDS, make_app
from tests.support.api import ANON, SEEDED_MEMBERS, assert_status, error, members_of, public_of, user_names
from tests.support.http import actions, basic, basic_header, get_token
from tests.support.openapi import DOC, PREFIX

#: What a page on another origin can make a browser send without a CORS pre-flight: the three
#: content types of an HTML form (with and without a body) and a ``fetch`` body with no type.
CROSS_SITE_BODIES = {
    "form-urlencoded": ("application/x-www-form-urlencoded", "disabled=true"),
    "form-urlencoded-empty": ("application/x-www-form-urlencoded", ""),
    "multipart": ("multipart/form-data; boundary=xyz",
                  '--xyz\r\nContent-Disposition: form-data; name="disabled"\r\n\r\ntrue\r\n--xyz--\r\n'),
    "multipart-empty": ("multipart/form-data; boundary=xyz", ""),
    "text-plain": ("text/plain", '{"disabled": true}'),
    "text-plain-empty": ("text/plain;charset=UTF-8", ""),
    "no-content-type": (None, '{"disabled": true}'),
}


def robot_for_pull_secrets(api) -> tuple[str, str]:
    """A pull robot of 'priv', made through the API as its Project Admin: (login, secret)."""
    response = api.post("/projects/priv/robots", "alice", json={"name": "k8s", "expires_at": None})
    assert_status(response, 201)
    return response.get_json()["login"], response.get_json()["secret"]


def pulls(app, client, login: str, secret: str) -> bool:
    """Whether ``login:secret`` still gets a pull of priv/app from /token, as a node with the secret would."""
    response = get_token(client, "repository:priv/app:pull", user=login, password=secret)
    if response.status_code == 401:
        return False
    return actions(app, response, "priv/app") == ["pull"]


def cross_site(api, method: str, path: str, who, kind: str):
    content_type, data = CROSS_SITE_BODIES[kind]
    headers = {"Content-Type": content_type} if content_type else {}
    return api.call(method, path, who, data=data.encode(), headers=headers)


def assert_unsupported(response) -> None:
    assert response.status_code == 415, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert error(response)["code"] == "UNSUPPORTED" and error(response)["message"]


@pytest.mark.parametrize("kind", CROSS_SITE_BODIES)
def test_a_cross_site_rekey_with_valid_basic_credentials_is_refused(app, client, api, kind):
    login, secret = robot_for_pull_secrets(api)
    assert pulls(app, client, login, secret)
    assert_unsupported(cross_site(api, "POST", "/projects/priv/robots/k8s/rekey", "alice", kind))
    assert pulls(app, client, login, secret), "the robot's secret must still work"
    assert api.get("/projects/priv/robots/k8s", "alice").get_json()["disabled"] is False


@pytest.mark.parametrize("json_body", [..., {}], ids=["no-body", "json"])
def test_a_json_or_bodiless_rekey_still_works(app, client, api, json_body):
    """What curl, the CLI's scripts and any API client send: no body, or JSON."""
    login, secret = robot_for_pull_secrets(api)
    response = api.post("/projects/priv/robots/k8s/rekey", "alice", json=json_body)
    assert_status(response, 200)
    new_secret = response.get_json()["secret"]
    assert new_secret != secret
    assert not pulls(app, client, login, secret)
    assert pulls(app, client, login, new_secret)


def state_changing_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) of the API that may change something, with made-up path values."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "x", rule.rule).removeprefix(PREFIX)
            routes += [(method, path) for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"})]
    return routes


@pytest.mark.parametrize("kind", ["form-urlencoded", "multipart", "text-plain", "no-content-type"])
def test_every_state_changing_route_refuses_what_a_cross_site_page_can_send(app, api, kind):
    """Checked once for the whole API, so a route added later is covered without a thought."""
    routes = state_changing_routes(app)
    documented = {(method.upper(), re.sub(r"{[^}]+}", "x", path)) for path, item in DOC["paths"].items()
                  for method in item if method in ("post", "put", "patch", "delete")}
    assert set(routes) == documented and len(routes) == len(documented)  # all of them, not a sample
    before = user_names(api), members_of(api, "pub"), public_of(api, "pub")
    for method, path in routes:
        response = cross_site(api, method, path, "root", kind)
        assert_unsupported(response)
    assert (user_names(api), members_of(api, "pub"), public_of(api, "pub")) == before


@pytest.mark.parametrize("method, path", [("PATCH", "/projects/pub"), ("DELETE", "/projects/pub/members/bob"),
                                          ("PUT", "/users/bob/password")])
def test_form_bodies_change_nothing_with_the_owners_credentials_either(api, method, path):
    for kind in CROSS_SITE_BODIES:
        assert_unsupported(cross_site(api, method, path, "alice" if "projects" in path else "bob", kind))
    assert public_of(api, "pub") is True and members_of(api, "pub") == SEEDED_MEMBERS
    assert_status(api.get("/users/current", "bob"), 200)  # password unchanged


def test_the_content_type_is_refused_before_credentials_are_checked(api, client):
    """A hostile page cannot spend a user's failed logins: the throttle never counts these."""
    threshold = api.app.extensions["authsvc"].settings.throttle_threshold
    for _ in range(threshold + 2):
        response = cross_site(api, "DELETE", "/projects/pub", basic("bob", "guessed-wrong"), "form-urlencoded")
        assert_unsupported(response)
    assert_status(api.get("/users/current", "bob"), 200)  # neither a 401 before nor a 429 now
    assert public_of(api, "pub") is True


def test_reads_are_not_affected(api):
    """GET cannot change anything, so it is not refused for a body type (what browsers never send anyway)."""
    response = api.call("GET", "/projects/pub", "erin", data=b"a=b",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_status(response, 200)


# --- 401 without a challenge a browser answers -------------------------------------------------

def api_challenge(app) -> str:
    settings = app.extensions["authsvc"].settings
    return f'Bearer realm="{settings.realm}",service="{settings.api_audience}"'


def offers_basic(response) -> bool:
    return re.search(r"\bbasic\b", response.headers.get("WWW-Authenticate", ""), re.IGNORECASE) is not None


@pytest.mark.parametrize("method, path, who, body", [
    ("GET", "/users", ANON, None),                                         # anonymous, needs a login
    ("GET", "/users/current", ANON, None),
    ("PATCH", "/projects/pub", ANON, {"public": False}),                   # refused to anonymous: 401
    ("GET", "/projects", basic("bob", "wrong-password"), None),            # wrong password
    ("GET", "/projects", basic("nobody", "whatever-1"), None),             # unknown user
    ("GET", "/projects", {"Authorization": "Bearer not.a.jwt"}, None),     # bad token
    ("GET", "/projects", {"Authorization": "Digest username=bob"}, None),  # unknown scheme
    ("POST", "/projects/priv/robots/k8s/rekey", basic("alice", "wrong-password"), None),
], ids=["anonymous-users", "anonymous-current", "anonymous-patch", "wrong-password", "unknown-user",
        "bad-bearer", "digest", "rekey-wrong-password"])
def test_api_401s_name_the_token_realm_and_never_offer_basic(app, api, method, path, who, body):
    response = api.call(method, path, who, **({"json": body} if body is not None else {}))
    assert response.status_code == 401
    assert not offers_basic(response), response.headers["WWW-Authenticate"]
    assert response.headers["WWW-Authenticate"] == api_challenge(app)


def test_the_challenge_tells_an_api_client_where_to_get_its_token(app, api, client):
    """Following the challenge as a registry client would (realm + service) gives a working token."""
    challenge = api.get("/users/current", ANON).headers["WWW-Authenticate"]
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    assert params["realm"].endswith(app.extensions["authsvc"].settings.token_path)
    token = client.get(app.extensions["authsvc"].settings.token_path, query_string={"service": params["service"]},
                       headers=basic_header("bob")).get_json()["token"]
    response = api.get("/users/current", {"Authorization": f"Bearer {token}"})
    assert_status(response, 200)
    assert response.get_json()["name"] == "bob"


@pytest.mark.parametrize("request_kind", ["get-basic", "post-password-grant", "post-refresh-grant"])
def test_the_token_endpoint_never_offers_basic(client, seeded, request_kind):
    """Registry clients send credentials to the realm unasked, so /token needs no challenge; a Basic
    one would let a hostile page's form posting a bad grant bring up the browser's prompt."""
    if request_kind == "get-basic":
        response = get_token(client, "repository:pub/x:pull", user="bob", password="wrong-password")
    elif request_kind == "post-password-grant":
        response = client.post("/token", data={"grant_type": "password", "username": "bob", "password": "wrong",
                                               "service": "registry"})
    else:
        response = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x" * 43,
                                               "service": "registry"})
    assert response.status_code == 401
    assert error(response)["code"] == "UNAUTHORIZED"
    assert not offers_basic(response)
    assert get_token(client, "repository:pub/x:pull", user="bob", password=PASSWORDS["bob"]).status_code == 200


def test_nothing_else_in_authsvc_offers_basic_either(tmp_path):
    """The registry's notifications and the metrics, behind their shared secrets, refuse without Basic too."""
    application = make_app(tmp_path, notification_secret="n" * 16, metrics_token="m" * 16)
    client = application.test_client()
    wrong = {"Authorization": "Bearer wrong-secret-0000"}
    for response in (client.post("/registry/events", data=b"{}", headers=wrong), client.get("/metrics", headers=wrong),
                     client.get("/metrics")):
        assert response.status_code == 401
        assert not offers_basic(response), response.headers.get("WWW-Authenticate")
    with application.app_context():
        db.engine.dispose()
