"""services/authn/issuer_keys.py on its own: what a discovery document may point the keys at."""

from __future__ import annotations

import json

import pytest
from joserfc.jwk import ECKey, KeySet

from authsvc.services.authn import issuer_keys
from authsvc.services.authn.issuer_keys import IssuerKeys, IssuerUnavailable

ISSUER = "https://ci.example.test"


def _serve(monkeypatch, jwks_uri: str) -> list[str]:
    """Answer the issuer's discovery and JWKS from memory; the URLs asked, in order."""
    asked = []
    jwks = json.dumps(KeySet([ECKey.generate_key("P-256", {"kid": "k"})]).as_dict(private=False)).encode()

    def get(url, what, issuer):
        asked.append(url)
        if url.endswith("/.well-known/openid-configuration"):
            return json.dumps({"issuer": ISSUER, "jwks_uri": jwks_uri}).encode()
        return jwks

    monkeypatch.setattr(issuer_keys, "_get", get)
    return asked


@pytest.mark.parametrize("jwks_uri", ["http://ci.example.test/jwks", "http://10.0.0.5/jwks", "HTTP://x/jwks",
                                      "ftp://ci.example.test/jwks", "/jwks"])
def test_keys_of_an_https_issuer_are_never_read_over_plain_http(monkeypatch, jwks_uri):
    asked = _serve(monkeypatch, jwks_uri)
    with pytest.raises(IssuerUnavailable, match="jwks_uri"):
        IssuerKeys().keys_for(ISSUER, None, "k")
    assert not any(url == jwks_uri for url in asked), "the keys were not fetched at all"


@pytest.mark.parametrize("jwks_uri", ["https://keys.example.test/jwks", "http://127.0.0.1:8080/jwks"])
def test_https_and_loopback_jwks_uris_are_read(monkeypatch, jwks_uri):
    asked = _serve(monkeypatch, jwks_uri)
    assert [key.kid for key in IssuerKeys().keys_for(ISSUER, None, "k")] == ["k"]
    assert asked[-1] == jwks_uri


def test_a_discovery_document_naming_another_issuer_is_refused(monkeypatch):
    _serve(monkeypatch, "https://keys.example.test/jwks")
    with pytest.raises(IssuerUnavailable, match="names another issuer"):
        IssuerKeys().keys_for(ISSUER + "/", None, "k")
