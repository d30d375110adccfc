"""The token endpoint with ``signing_algorithm = "RS256"`` and ``token_x5c = false``: the same
answers on both token paths (web/fast_token.py and the Flask view), tokens of the chosen kind,
and the REST API still taking its own bearer tokens."""

from __future__ import annotations

import jwt
import pytest

from tests.http.conftest import served
from tests.support.http import basic_header, bearer_header


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "flask"])
def test_rs256_tokens_without_x5c_from_the_token_endpoint(tmp_path, fast_path):
    with served(tmp_path, signing_algorithm="RS256", token_x5c=False, token_fast_path=fast_path) as app:
        material = app.extensions["authsvc"].signer.material
        client = app.test_client()
        response = client.get("/token", query_string={"service": "registry", "scope": "repository:pub/app:pull"},
                              headers=basic_header("alice"))
        assert response.status_code == 200, response.get_json()
        token = response.get_json()["token"]
        assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": material.libtrust_kid, "typ": "JWT"}
        claims = jwt.decode(token, material.certificate.public_key(), algorithms=["RS256"], audience="registry")
        assert claims["access"] == [{"type": "repository", "name": "pub/app", "actions": ["pull"]}]
        assert client.get("/api/v1/users/current", headers=bearer_header(client, "alice")).status_code == 200
