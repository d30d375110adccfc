"""Credentials and token requests through a Flask test client.

``basic`` takes an explicit password; ``basic_header`` defaults to the seeded user's password
(tests/conftest.py ``PASSWORDS``).  ``claims_of`` verifies a token exactly as a registry would,
so a test that reads the grants also proves the signature, issuer and audience.
"""

from __future__ import annotations

import base64

import jwt
from cryptography import x509

from tests.conftest import PASSWORDS


def basic(user: str, password: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header for ``user:password``."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def basic_header(user: str, password: str | None = None) -> dict[str, str]:
    """An ``Authorization: Basic`` header; the seeded password of ``user`` unless one is given."""
    return basic(user, PASSWORDS[user] if password is None else password)


def bearer_header(client, user: str, password: str | None = None, service: str = "authsvc-api") -> dict[str, str]:
    """An ``Authorization: Bearer`` header with a token from /token for ``service``."""
    response = client.get("/token", query_string={"service": service}, headers=basic_header(user, password))
    assert response.status_code == 200, response.get_json()
    return {"Authorization": "Bearer " + response.get_json()["token"]}


def get_token(client, *scopes, user=None, password=None, service="registry", **params):
    """``GET /token`` as docker, podman and skopeo ask: Basic credentials (or none), repeated ``scope``."""
    query = {"service": service, **params}
    headers = basic(user, password if password is not None else PASSWORDS[user]) if user else {}
    return client.get("/token", query_string=[*query.items(), *(("scope", s) for s in scopes)],
                      headers=headers)


def claims_of(app, response):
    """Verify the token exactly as a registry would: signature, iss, aud.

    A registry finds the key by the ``kid`` among the certificates it trusts; only when the
    ``token_x5c`` setting is on does the header carry the certificate itself, and then it must be
    the one the registry trusts.
    """
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    token = body["token"]
    header = jwt.get_unverified_header(token)
    material = app.extensions["authsvc"].signing_material
    trusted = material.certificate
    if app.extensions["authsvc"].settings.token_x5c:
        assert x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0])) == trusted
    else:
        assert "x5c" not in header
    assert header["kid"] == material.libtrust_kid and header["alg"] == "ES256" and header["typ"] == "JWT"
    return jwt.decode(token, trusted.public_key(), algorithms=["ES256"], audience="registry", issuer="authsvc")


def actions(app, response, name):
    """The actions the token in ``response`` grants on repository ``name`` (``[]`` if none)."""
    granted = {a["name"]: a["actions"] for a in claims_of(app, response)["access"]}
    return granted.get(name, [])
