"""Set-up shared by the keyless-machine suites (identity tokens acting as robots, issue 22).

The tokens come from the REAL issuer process of tests/support/token_issuer.py: its discovery
document and JWKS are fetched over loopback HTTP by the app under test, exactly as in
production.  :func:`issuer_fixture` makes a fixture of it (module-scoped for tests that only
mint tokens, function-scoped for tests that rotate, publish a hostile JWKS or stop it); each
pytest-xdist worker starts its own on a free port in its own temporary directory.

The helpers below go through the service layer as an administrator would (``trust_issuer``,
``robot``, ``trust``) and through the Flask test client as docker does (``basic_login``) or as
a credential provider does (``exchange``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json

import pytest

from authsvc.core.policy import OPERATOR, CredentialKind, Principal
from authsvc.services.authn import issuer_keys
from authsvc.services.credentials import robots
from authsvc.services.credentials import trust as trust_service
from tests.support.http import basic
from tests.support.token_issuer import running_issuer
from tests.support.units import call

#: What the tokens' ``aud`` must be here (as a GitHub workflow's ``audience:`` would say).
AUDIENCE = "https://registry.example.test"
#: alice is the Project Admin of pub and priv after tests/conftest.py's seed(), logged in with
#: her password: what creating robots and trust policies needs.
ALICE = Principal("alice", credential=CredentialKind.PASSWORD)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
PULL_PUSH = "repository:priv/app:pull,push"


def issuer_fixture(scope: str):
    """A fixture (of ``scope``) yielding a running :class:`~tests.support.token_issuer.Issuer`."""

    @pytest.fixture(scope=scope)
    def _issuer(tmp_path_factory):
        with running_issuer(tmp_path_factory.mktemp("issuer")) as running:
            yield running

    return _issuer


def trust_issuer(issuer, name: str = "ci", audience: str = AUDIENCE, jwks: str | None = None):
    """Trust ``issuer`` (its URL) under ``name``, as ``authsvc issuer add`` does."""
    return call(trust_service.add_issuer, OPERATOR, name, issuer.url, audience, jwks=jwks)


def robot(project: str = "priv", name: str = "ci", acts: str = "pull,push", expires_at=None):
    """A robot of ``project``, made by alice (its login is robot.PROJECT.NAME)."""
    return call(robots.create, ALICE, project, name, actions=acts, expires_at=expires_at,
                never_expires=expires_at is None)


def trust(project: str, robot_name: str, issuer_name: str, *conditions: str):
    """A trust policy: tokens of ``issuer_name`` matching ``conditions`` may act as the robot."""
    return call(trust_service.add_policy, ALICE, project, robot_name, issuer_name, list(conditions))



def keyless_robot(issuer, *conditions: str, project: str = "priv", name: str = "ci", acts: str = "pull,push",
                  issuer_name: str = "ci"):
    """The usual set-up: ``issuer`` trusted, a robot, and one policy for it; the robot's login."""
    trust_issuer(issuer, issuer_name)
    made = robot(project, name, acts)
    trust(project, name, issuer_name, *(conditions or ("sub=repo:acme/app:ref:refs/heads/main",)))
    return made.login


def basic_login(client, login: str, token: str, *scopes: str, **params):
    """``GET /token`` with the identity token as the robot's password (``docker login``)."""
    query = [("service", "registry"), *params.items(), *(("scope", s) for s in scopes)]
    return client.get("/token", query_string=query, headers=basic(login, token))


def exchange(client, token: str, subject: str | None, *scopes: str, **form):
    """The RFC 8693 token exchange POST, as the credential provider sends it."""
    data = {"grant_type": TOKEN_EXCHANGE, "subject_token": token, "subject_token_type": JWT_TYPE,
            "service": "registry", **form}
    if subject is not None:
        data["requested_subject"] = subject
    if scopes:
        data["scope"] = " ".join(scopes)
    return client.post("/token", data={k: v for k, v in data.items() if v is not None})


def unsigned(claims: dict, header: dict) -> str:
    """A compact JWS with an empty signature (``alg: none``), written by hand: no library mints it."""
    def part(document: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(claims)}."


def error_code(response) -> str:
    """The code of a JSON error answer (web/errors.py's shape), asserting it is one."""
    assert response.mimetype == "application/json", response.data[:200]
    errors = response.get_json()["errors"]
    assert errors[0]["message"], errors
    return errors[0]["code"]


class FetchCounter:
    """Counts what the app asks of issuers (issuer_keys._get: discovery and JWKS), and moves its
    monotonic clock by hand -- no sleeping to cross the refetch interval or the stale bound."""

    def __init__(self, monkeypatch):
        self.urls: list[str] = []
        self.now = 1_000_000.0
        real_get = issuer_keys._get

        def counted(url, what, issuer):
            self.urls.append(url)
            return real_get(url, what, issuer)

        monkeypatch.setattr(issuer_keys, "_get", counted)
        monkeypatch.setattr(issuer_keys, "time", type("Clock", (), {"monotonic": staticmethod(lambda: self.now)}))

    @property
    def jwks_fetches(self) -> int:
        return sum(url.endswith("/jwks") for url in self.urls)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.contextmanager
def stopped(issuer):
    """The issuer process gone (its port closed), as an unreachable CI platform is."""
    issuer.process.terminate()
    issuer.process.wait(timeout=10)
    yield


def later(**delta) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(**delta)
