"""The ID token checks of ``OidcProvider.verify_id_token``, with keys of our own.

Why not the oidc-provider-mock process here: a hostile token must be *signed by us* (forged with
another key under the provider's ``kid``, HS256 keyed with the public key, expired, for another
audience...), and the mock's private key is out of reach.  So the provider's two documents that
the checks depend on -- discovery and the JWKS -- are served over real HTTP by a small stdlib
server on a free loopback port, whose JWKS the test controls (a rotation is a new key set) and
which counts the requests it answers: the rate-limited refetch on an unknown ``kid`` is counted
in real requests, and time is moved with ``time.monotonic`` (the module's clock), never slept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from authsvc.services.authn import oidc_provider as module
from authsvc.services.authn.oidc_provider import OidcProvider, ProviderRefused
from authsvc.settings import load
from tests.support.oidc_provider import secret_file

CLIENT = "authsvc"
NONCE = "the-nonce"


class KeyServer:
    """Discovery and a JWKS on ``http://127.0.0.1:<free port>``; ``hits`` counts each path."""

    def __init__(self):
        self.keys: list[dict] = []
        self.algorithms = ["RS256", "ES256"]
        self.hits: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 -- http.server's name
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": outer.issuer, "authorization_endpoint": outer.issuer + "/authorize",
                            "token_endpoint": outer.issuer + "/token", "jwks_uri": outer.issuer + "/jwks",
                            "id_token_signing_alg_values_supported": outer.algorithms}
                elif self.path == "/jwks":
                    body = {"keys": outer.keys}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def publish(self, *keys) -> None:
        self.keys = [key.as_dict(private=False) for key in keys]

    @property
    def jwks_fetches(self) -> int:
        return self.hits.get("/jwks", 0)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    keys = KeyServer()
    yield keys
    keys.close()


@pytest.fixture(scope="module")
def rsa():
    """The provider's signing key (RSA key generation costs tens of milliseconds: made once)."""
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


@pytest.fixture
def provider(tmp_path, server, rsa):
    server.publish(rsa, ECKey.generate_key("P-256", parameters={"kid": "k2"}))
    settings = load(environ={}, overrides={
        "data_dir": str(tmp_path / "data"), "oidc_issuer": server.issuer, "oidc_allow_http": True,
        "oidc_client_id": CLIENT, "oidc_client_secret_file": str(secret_file(tmp_path)),
        "oidc_redirect_uri": "http://localhost/login/oidc/callback"})
    return OidcProvider(settings)


def claims(server, **changes) -> dict:
    now = int(time.time())
    values = {"iss": server.issuer, "aud": CLIENT, "sub": "person-1", "iat": now, "exp": now + 300,
              "nonce": NONCE}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def sign(key, payload: dict, alg: str = "RS256", kid: str | None = "k1") -> str:
    header = {"alg": alg, **({"kid": kid} if kid else {})}
    return jwt.encode(header, payload, key, algorithms=[alg])


def refused(provider, token, nonce=NONCE, match: str | None = None) -> str:
    with pytest.raises(ProviderRefused, match=match) as caught:
        provider.verify_id_token(token, nonce=nonce)
    return caught.value.reason


def test_a_good_token_verifies(provider, server, rsa):
    assert provider.verify_id_token(sign(rsa, claims(server)), nonce=NONCE)["sub"] == "person-1"


def test_the_jwks_other_algorithm_verifies_too(provider, server):
    ec = ECKey.generate_key("P-256", parameters={"kid": "k2"})
    server.publish(ec)
    assert provider.verify_id_token(sign(ec, claims(server), "ES256", "k2"), nonce=NONCE)["sub"] == "person-1"


def test_a_forged_signature_under_the_providers_kid_is_refused(provider, server):
    forger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    refused(provider, sign(forger, claims(server)), match="signature")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(value: dict) -> str:
    return _b64(json.dumps(value).encode())


def test_a_tampered_payload_is_refused(provider, server, rsa):
    header, _, signature = sign(rsa, claims(server)).split(".")
    refused(provider, f"{header}.{_part(claims(server, sub='admin'))}.{signature}", match="signature")


def test_alg_none_is_refused(provider, server):
    refused(provider, f"{_part({'alg': 'none', 'kid': 'k1'})}.{_part(claims(server))}.", match="algorithm")


@pytest.mark.parametrize("announced", [["RS256"], ["HS256", "RS256"]], ids=["rs256", "provider-announces-hs256"])
def test_hs256_keyed_with_the_public_key_is_refused(provider, server, rsa, announced):
    """The classic confusion: the public key's bytes as an HMAC secret.  Refused even when the
    discovery document (wrongly) offers HS256: only asymmetric algorithms are ever accepted."""
    server.algorithms = announced
    # joserfc will not even make such a key (it knows the attack), so the token is made by hand.
    signing_input = f"{_part({'alg': 'HS256', 'kid': 'k1'})}.{_part(claims(server))}".encode()
    mac = hmac.new(rsa.as_pem(private=False), signing_input, hashlib.sha256).digest()
    refused(provider, f"{signing_input.decode()}.{_b64(mac)}", match="algorithm")


@pytest.mark.parametrize(("changes", "match"), [
    # Times relative to the test's own start (AGO/AHEAD), not to collection: a loaded run may
    # reach this test many minutes after collecting it.
    ({"exp": ("ago", 120)}, "claims"),
    ({"iat": ("ago", 700), "exp": ("ahead", 300)}, "too long ago"),
    ({"exp": None}, "claims"),
    ({"iat": None}, "claims"),
    ({"iss": "http://127.0.0.1:1"}, "claims"),
    ({"iss": None}, "claims"),
    ({"aud": "another-client"}, "claims"),
    ({"aud": ["another-client", "third"]}, "claims"),
    ({"aud": [CLIENT, "another-client"]}, "azp"),
    ({"aud": [CLIENT, "another-client"], "azp": "another-client"}, "azp"),
    ({"azp": "another-client"}, "azp"),
    ({"nonce": "another-nonce"}, "claims"),
    ({"nonce": None}, "claims"),
    ({"sub": None}, "claims"),
    ({"sub": ""}, "sub"),
    ({"sub": 42}, None),
    ({"sub": "x" * 300}, "subject"),
], ids=["expired", "iat-too-old", "no-exp", "no-iat", "wrong-iss", "no-iss", "wrong-aud", "aud-without-us",
        "several-aud-no-azp", "several-aud-other-azp", "other-azp", "wrong-nonce", "no-nonce", "no-sub",
        "empty-sub", "number-sub", "long-sub"])
def test_a_token_not_for_us_is_refused(provider, server, rsa, changes, match):
    now = int(time.time())
    changes = {key: (now - value[1] if value[0] == "ago" else now + value[1]) if isinstance(value, tuple) else value
               for key, value in changes.items()}
    refused(provider, sign(rsa, claims(server, **changes)), match=match)


def test_several_audiences_with_our_azp_verify(provider, server, rsa):
    token = sign(rsa, claims(server, aud=[CLIENT, "another-client"], azp=CLIENT))
    assert provider.verify_id_token(token, nonce=NONCE)["azp"] == CLIENT


def test_a_refreshs_token_needs_no_nonce_but_the_sign_in_does(provider, server, rsa):
    token = sign(rsa, claims(server, nonce=None))
    assert provider.verify_id_token(token, nonce=None)["sub"] == "person-1"
    refused(provider, token, nonce=NONCE)


@pytest.mark.parametrize("token", [None, 42, "", "abc", "a.b", "a.b.c", "....", "é.é.é"],
                         ids=["none", "number", "empty", "word", "two-parts", "garbage", "dots", "non-ascii"])
def test_what_is_not_a_jwt_is_refused(provider, token):
    refused(provider, token)


# -- the keys: an unknown kid, rate-limited refetch, rotation ----------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The module's ``time.monotonic``, moved on by ``clock(seconds)``."""
    offset = [0.0]
    real = time.monotonic
    monkeypatch.setattr(module.time, "monotonic", lambda: real() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds
    return advance


def test_an_unknown_kid_makes_one_refetch_then_none_within_the_limit(provider, server, rsa, clock):
    assert provider.verify_id_token(sign(rsa, claims(server)), nonce=NONCE)
    assert server.jwks_fetches == 1
    stranger = RSAKey.generate_key(2048)
    refused(provider, sign(stranger, claims(server), kid="unknown-1"))  # just fetched: no refetch yet
    assert server.jwks_fetches == 1
    clock(module.KEY_REFETCH_SECONDS + 1)
    refused(provider, sign(stranger, claims(server), kid="unknown-2"))
    assert server.jwks_fetches == 2  # exactly one refetch
    for kid in ("unknown-3", "unknown-4", "unknown-5"):
        refused(provider, sign(stranger, claims(server), kid=kid))
    assert server.jwks_fetches == 2  # a flood of kids within KEY_REFETCH_SECONDS: none
    assert provider.verify_id_token(sign(rsa, claims(server)), nonce=NONCE)  # a known kid: none either
    assert server.jwks_fetches == 2
    assert server.hits["/.well-known/openid-configuration"] == 1  # discovery is kept


def test_a_rotated_key_is_picked_up_without_a_restart(provider, server, rsa, clock):
    assert provider.verify_id_token(sign(rsa, claims(server)), nonce=NONCE)
    rotated = RSAKey.generate_key(2048, parameters={"kid": "k3"})
    server.publish(rotated)  # the provider rotated: k1 gone, k3 new
    clock(module.KEY_REFETCH_SECONDS + 1)
    assert provider.verify_id_token(sign(rotated, claims(server), kid="k3"), nonce=NONCE)
    assert server.jwks_fetches == 2
    refused(provider, sign(rsa, claims(server)), match="signature")  # the retired key no longer counts


def test_a_jwks_with_a_private_or_symmetric_key_offers_only_the_public_ones(provider, server, rsa):
    """A JWKS that (wrongly) holds an ``oct`` key must not make that key a verifier."""
    secret = OctKey.generate_key(256, parameters={"kid": "k1"})
    server.keys = [secret.as_dict(private=True), rsa.as_dict(private=False)]
    assert provider.verify_id_token(sign(rsa, claims(server)), nonce=NONCE)
    refused(provider, sign(secret, claims(server), "HS256"), match="algorithm")
    assert isinstance(provider.key_set(), KeySet)
    assert all(key.key_type != "oct" for key in provider.key_set())
