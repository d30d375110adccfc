"""The console's keyless screens: trusted issuers under Administration (system administrators
only; everyone else gets the 404 of every administration page) and a robot's trust policies
from the Robots tab (whoever the service lets manage the project's robots).  Every refusal is
the service's, rendered as the page again with its message and status -- never a 500 -- and
every form needs its CSRF token.
"""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from authsvc.core.policy import OPERATOR
from authsvc.services.credentials import robots, trust
from authsvc.store.models import RobotTrustPolicy, TrustedIssuer, db
from tests.http.conftest import served
from tests.support.console import Browser
from tests.support.units import call

GITHUB = "https://token.actions.githubusercontent.com"
ROBOT = "ci"
POLICIES = f"/projects/priv/robots/{ROBOT}/trust"
#: A row of the issuers table, from its name to its policy count.
ISSUER_ROW = (r'<td data-label="Name">{name}</td>\s*<td data-label="Issuer"><code>{issuer}</code></td>\s*'
              r'<td data-label="Audience"><code>{audience}</code></td>\s*<td data-label="Keys">{keys}</td>\s*'
              r'<td data-label="Policies">{used}</td>')


@pytest.fixture
def console(tmp_path):
    with served(tmp_path) as application:
        with application.app_context():
            call(robots.create, OPERATOR, "priv", ROBOT, actions="pull,push", never_expires=True)
            db.session.remove()
        yield application


def add_issuer(app, name: str = "github", issuer: str = GITHUB, audience: str = "authsvc") -> None:
    with app.app_context():
        call(trust.add_issuer, OPERATOR, name, issuer, audience)
        db.session.remove()


def stored_issuers(app) -> list[tuple[str, str, str, bool]]:
    with app.app_context():
        rows = [(i.name, i.issuer, i.audience, i.jwks is not None) for i in db.session.query(TrustedIssuer)]
        db.session.remove()
        return sorted(rows)


def stored_policies(app) -> list[tuple[int, list]]:
    with app.app_context():
        rows = [(p.id, p.conditions) for p in db.session.query(RobotTrustPolicy).order_by(RobotTrustPolicy.id)]
        db.session.remove()
        return rows


def jwks_text() -> str:
    """A real public RSA key as a JWKS (the service parses it and refuses anything weaker)."""
    import json

    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()))
    return json.dumps({"keys": [{**key, "kid": "k1", "use": "sig", "alg": "RS256"}]})


def test_an_administrator_adds_lists_and_removes_issuers(console):
    root = Browser(console, "root")
    empty = root.text("/admin/issuers")
    assert "No trusted issuers yet." in empty and 'aria-current="page">Issuers</a>' in empty
    assert '<label for="issuer-jwks-field">' in empty and '<textarea id="issuer-jwks-field" name="jwks"' in empty

    added = root.post("/admin/issuers", {"name": "github", "issuer": GITHUB, "audience": "authsvc", "jwks": ""})
    assert added.status_code == 303 and added.headers["Location"] == "/admin/issuers"
    stored = root.post("/admin/issuers", {"name": "cluster", "issuer": "https://kubernetes.default.svc",
                                          "audience": "registry", "jwks": jwks_text()})
    assert stored.status_code == 303, stored.get_data(as_text=True)
    assert stored_issuers(console) == [("cluster", "https://kubernetes.default.svc", "registry", True),
                                       ("github", GITHUB, "authsvc", False)]
    page = root.text("/admin/issuers")
    assert "Issuer cluster added." in page and "2 trusted issuers</caption>" in page
    assert re.search(ISSUER_ROW.format(name="github", issuer=re.escape(GITHUB), audience="authsvc",
                                       keys="discovery", used=0), page)
    assert re.search(ISSUER_ROW.format(name="cluster", issuer="https://kubernetes.default.svc",
                                       audience="registry", keys="stored", used=0), page)

    removed = root.post("/admin/issuers/github/remove")
    assert removed.status_code == 303
    page = root.text("/admin/issuers")
    assert "Issuer github removed." in page and f"<code>{GITHUB}</code>" not in page
    assert [row[0] for row in stored_issuers(console)] == ["cluster"]


def test_an_issuer_in_use_stays_and_the_page_says_why(console):
    add_issuer(console)
    with console.app_context():
        call(trust.add_policy, OPERATOR, "priv", ROBOT, "github", ["sub=repo:acme/app:*"])
        db.session.remove()
    root = Browser(console, "root")
    assert re.search(ISSUER_ROW.format(name="github", issuer=re.escape(GITHUB), audience="authsvc",
                                       keys="discovery", used=1), root.text("/admin/issuers"))
    refused = root.post("/admin/issuers/github/remove")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "is used by 1 trust policy" in page and "<h1>Trusted issuers</h1>" in page
    assert [row[0] for row in stored_issuers(console)] == ["github"]
    assert root.post("/admin/issuers/nobody/remove").status_code == 404


@pytest.mark.parametrize("user", ["alice", "bob", "erin"])
def test_issuers_are_a_404_for_everyone_but_system_administrators(console, user):
    add_issuer(console)
    browser = Browser(console, user)
    assert browser.get("/admin/issuers").status_code == 404
    assert browser.post("/admin/issuers", {"name": "gitlab", "issuer": "https://gitlab.com",
                                           "audience": "authsvc"}).status_code == 404
    assert browser.post("/admin/issuers/github/remove").status_code == 404
    assert "Issuers</a>" not in browser.text("/projects")
    assert [row[0] for row in stored_issuers(console)] == ["github"]
    assert Browser(console, "root").get("/admin/issuers").status_code == 200  # the page exists, for them


@pytest.mark.parametrize("form, message", [
    ({"issuer": "http://token.example.com"}, "the issuer must be an https:// URL"),
    ({"issuer": "not a url"}, "the issuer must be a URL"),
    ({"name": "Bad Name!"}, "issuer name"),
    ({"audience": ""}, "the audience must be 1 to 200 printable characters"),
    ({"jwks": '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'}, "the JWKS holds no usable public key"),
    ({"jwks": "not json"}, "the JWKS is not JSON"),
])
def test_a_bad_issuer_is_the_page_again_with_the_services_message(console, form, message):
    root = Browser(console, "root")
    data = {"name": "gitlab", "issuer": "https://gitlab.com", "audience": "authsvc", **form}
    response = root.post("/admin/issuers", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page
    assert '<p class="flash flash-error" role="alert">' in page and message in page
    assert "<h1>Trusted issuers</h1>" in page and 'name="issuer" type="url"' in page
    assert f'value="{data["issuer"]}"' in page  # the form keeps what was typed
    assert stored_issuers(console) == []


def test_a_duplicate_issuer_is_a_409(console):
    add_issuer(console)
    response = Browser(console, "root").post("/admin/issuers", {"name": "github", "issuer": GITHUB,
                                                                "audience": "authsvc"})
    assert response.status_code == 409 and "already exists" in response.get_data(as_text=True)


def test_a_project_admin_adds_and_removes_a_policy(console):
    add_issuer(console)
    alice = Browser(console, "alice")
    robots_tab = alice.text("/projects/priv/robots")
    assert f'<a href="{POLICIES}">Trust policies</a>' in robots_tab
    page = alice.text(POLICIES)
    assert "No trust policies yet." in page and 'aria-current="page">Robots</a>' in page
    assert f'<option value="github">github ({GITHUB}, audience authsvc)</option>' in page
    assert '<label for="policy-conditions-field">' in page and '<label for="policy-issuer-field">' in page

    added = alice.post(POLICIES, {"issuer": "github",
                                  "conditions": "sub=repo:acme/app:ref:refs/heads/main\r\n\r\n environment=prod \r\n"})
    assert added.status_code == 303 and added.headers["Location"] == POLICIES
    [(policy_id, conditions)] = stored_policies(console)
    assert "environment=prod" in conditions and "sub=repo:acme/app:ref:refs/heads/main" in conditions
    page = alice.text(POLICIES)
    assert f"Trust policy {policy_id} added to robot {ROBOT}." in page and "1 trust policy</caption>" in page
    assert f'<td data-label="Id">{policy_id}</td>' in page and '<td data-label="Issuer">github</td>' in page
    assert "<code>environment=prod</code>" in page and '<td data-label="Last use">never</td>' in page

    removed = alice.post(f"{POLICIES}/{policy_id}/remove")
    assert removed.status_code == 303 and removed.headers["Location"] == POLICIES
    assert f"Trust policy {policy_id} removed" in alice.text(POLICIES)
    assert stored_policies(console) == []
    assert alice.post(f"{POLICIES}/{policy_id}/remove").status_code == 404
    assert alice.post(f"{POLICIES}/not-an-id/remove").status_code == 404


@pytest.mark.parametrize("conditions, issuer, message", [
    ("sub=*", "github", "the pattern for 'sub' matches anything"),
    ("", "github", "a trust policy needs at least one condition"),
    ("no-equals-sign", "github", "a condition is CLAIM=PATTERN"),
    ("sub=repo:acme/app:*", "nobody", "no trusted issuer is named 'nobody'"),
])
def test_a_bad_policy_is_the_page_again_with_the_services_message(console, conditions, issuer, message):
    add_issuer(console)
    alice = Browser(console, "alice")
    response = alice.post(POLICIES, {"issuer": issuer, "conditions": conditions})
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page
    assert '<p class="flash flash-error" role="alert">' in page and escape(message) in page
    assert "Trust policies of <code>robot.priv.ci</code>" in page
    assert stored_policies(console) == []


def test_a_developer_gets_403_and_a_stranger_404_on_the_policy_page_and_forms(console):
    add_issuer(console)
    with console.app_context():
        policy = call(trust.add_policy, OPERATOR, "priv", ROBOT, "github", ["sub=repo:acme/app:*"])
        db.session.remove()
    for user, status in (("bob", 403), ("carol", 403), ("dave", 403), ("erin", 404)):
        browser = Browser(console, user)
        assert browser.get(POLICIES).status_code == status, user
        assert browser.post(POLICIES, {"issuer": "github", "conditions": "sub=x"}).status_code == status, user
        assert browser.post(f"{POLICIES}/{policy.id}/remove").status_code == status, user
    assert [row[0] for row in stored_policies(console)] == [policy.id]
    assert Browser(console, "alice").get("/projects/priv/robots/nobody/trust").status_code == 404


FORMS = [
    ("/admin/issuers", {"name": "gitlab", "issuer": "https://gitlab.com", "audience": "authsvc"}),
    ("/admin/issuers/github/remove", {}),
    (POLICIES, {"issuer": "github", "conditions": "sub=repo:acme/app:*"}),
    (f"{POLICIES}/1/remove", {}),
]


@pytest.mark.parametrize("path, form", FORMS, ids=[path for path, _ in FORMS])
def test_every_trust_form_is_refused_without_its_csrf_token(console, path, form):
    add_issuer(console)
    with console.app_context():
        call(trust.add_policy, OPERATOR, "priv", ROBOT, "github", ["ref=refs/heads/main"])
        db.session.remove()
    before = stored_issuers(console), stored_policies(console)
    root = Browser(console, "root")
    for token in (None, "forged-token"):
        response = root.post(path, form, with_token=token is not None, token=token)
        assert response.status_code == 400 and "security token" in response.get_data(as_text=True)
    assert (stored_issuers(console), stored_policies(console)) == before
