"""Attacks on the identity-token verifier, each refused with a 401 (never a 5xx), or with a clear
503 JSON error where the issuer's own keys are unusable (nothing a caller's token can fix).

Tokens are signed by the real issuer process's keys, or forged beside it; the app fetches the
issuer's JWKS over HTTP as in production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from joserfc.jwk import ECKey, KeySet, RSAKey

from authsvc.services.authn.identity_token import MAX_TOKEN_LENGTH
from tests.support.http import claims_of
from tests.support.keyless import (
    AUDIENCE,
    PULL_PUSH,
    FetchCounter,
    basic_login,
    error_code,
    exchange,
    issuer_fixture,
    keyless_robot,
    unsigned,
)
from tests.support.token_issuer import running_issuer

issuer = issuer_fixture("module")
own_issuer = issuer_fixture("function")
# Weak keys are what these tests make on purpose; joserfc warns of them (and of EdDSA's name).
pytestmark = [pytest.mark.filterwarnings("ignore:Key size should be"), pytest.mark.filterwarnings("ignore:EdDSA")]
SUB = "repo:acme/app:ref:refs/heads/main"


@pytest.fixture
def login(seeded, issuer):
    return keyless_robot(issuer, f"sub={SUB}")


def _claims(issuer, **extra):
    return issuer.claims(AUDIENCE, sub=SUB, **extra)


def _refused(client, login, token):
    for response in (basic_login(client, login, token, PULL_PUSH), exchange(client, token, login, PULL_PUSH)):
        assert response.status_code == 401, response.get_json()
        assert error_code(response) == "UNAUTHORIZED"


def test_the_genuine_token_is_accepted(client, login, issuer):
    assert basic_login(client, login, issuer.sign(_claims(issuer)), PULL_PUSH).status_code == 200


def test_alg_none_is_refused(client, login, issuer):
    for alg in ("none", "None", "NONE"):
        _refused(client, login, unsigned(_claims(issuer), {"alg": alg, "kid": issuer.key.kid, "typ": "JWT"}))
    _refused(client, login, unsigned(_claims(issuer), {"kid": issuer.key.kid}))  # no alg at all


def _hs256(claims, secret: bytes, kid: str) -> str:
    """HMAC by hand: joserfc itself refuses a PEM public key as an HMAC secret (the very attack)."""
    signing_input = unsigned(claims, {"alg": "HS256", "kid": kid, "typ": "JWT"})[:-1]
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def test_hs256_signed_with_the_published_jwks_or_the_public_pem_is_refused(client, login, issuer):
    published = json.dumps(KeySet(issuer.keys).as_dict(private=False)).encode()
    single = json.dumps(issuer.key.as_dict(private=False)).encode()
    pem = issuer.key.as_pem(private=False)
    for secret in (published, single, pem):
        _refused(client, login, _hs256(_claims(issuer), secret, issuer.key.kid))


@pytest.mark.parametrize("forger", ["EC", "RSA"])
def test_another_key_reusing_a_known_kid_is_refused(client, login, issuer, forger):
    assert basic_login(client, login, issuer.sign(_claims(issuer)), PULL_PUSH).status_code == 200  # keys fetched
    kid = {"kid": issuer.key.kid}
    forged = ECKey.generate_key("P-256", kid) if forger == "EC" else RSAKey.generate_key(2048, kid)
    _refused(client, login, issuer.sign(_claims(issuer), key=forged))


def test_a_token_of_another_running_issuer_naming_ours_and_our_kid_is_refused(client, login, issuer,
                                                                              tmp_path_factory):
    with running_issuer(tmp_path_factory.mktemp("other")) as other:
        kid = {"kid": issuer.key.kid}
        other.keys = [ECKey.generate_key("P-256", kid)]
        other.publish(KeySet(other.keys).as_dict(private=False))
        assert basic_login(client, login, issuer.sign(_claims(issuer)), PULL_PUSH).status_code == 200
        _refused(client, login, other.sign(_claims(issuer)))  # our iss, our kid, its key
        _refused(client, login, other.sign(other.claims(AUDIENCE, sub=SUB)))  # its own iss: not trusted


@pytest.mark.parametrize("iss", ["{url}/", "{URL}", "{url}//", " {url}", "{url}/x", "{url}?"])
def test_iss_must_be_exactly_the_trusted_issuer(client, login, issuer, iss):
    claims = {**_claims(issuer), "iss": iss.format(url=issuer.url, URL=issuer.url.upper())}
    _refused(client, login, issuer.sign(claims))


def test_audience_list_of_exactly_ours_is_accepted_but_ours_beside_others_is_refused(app, client, login, issuer):
    accepted = basic_login(client, login, issuer.sign({**_claims(issuer), "aud": [AUDIENCE]}), PULL_PUSH)
    assert claims_of(app, accepted)["access"][0]["actions"] == ["pull", "push"]
    # By design: any other relying party named in aud could replay the token here.
    for aud in ([AUDIENCE, "https://other.example"], ["https://other.example", AUDIENCE], [AUDIENCE, AUDIENCE],
                [], "", AUDIENCE.upper(), AUDIENCE + "/", {"aud": AUDIENCE}, 7):
        _refused(client, login, issuer.sign({**_claims(issuer), "aud": aud}))
    no_aud = {k: v for k, v in _claims(issuer).items() if k != "aud"}
    _refused(client, login, issuer.sign(no_aud))


def test_far_future_exp_is_capped_by_token_ttl_and_a_short_one_caps_the_registry_token(app, client, login, issuer):
    ttl = app.extensions["authsvc"].settings.token_ttl
    far = basic_login(client, login, issuer.sign(_claims(issuer, lifetime=10 * 365 * 86400)), PULL_PUSH)
    claims = claims_of(app, far)
    assert claims["exp"] - claims["iat"] == ttl and far.get_json()["expires_in"] == ttl
    short_claims = _claims(issuer, lifetime=100)
    short = exchange(client, issuer.sign(short_claims), login, PULL_PUSH)
    assert claims_of(app, short)["exp"] == short_claims["exp"]
    assert 98 <= short.get_json()["expires_in"] <= 100


def test_an_over_long_token_is_refused_without_asking_the_issuer(client, login, issuer, monkeypatch):
    counter = FetchCounter(monkeypatch)
    claims = _claims(issuer, padding="x" * MAX_TOKEN_LENGTH)
    token = issuer.sign(claims)
    assert len(token) > MAX_TOKEN_LENGTH
    response = basic_login(client, login, token, PULL_PUSH)
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"
    # the exchange names a JWT it will not read at all: a 400 saying so
    response = exchange(client, token, login, PULL_PUSH)
    assert response.status_code == 400 and error_code(response) == "INVALID"
    assert counter.urls == [], "no discovery, no JWKS fetched for it"


def _refused_for_keys(response, caplog):
    """A 401 like any refusal (the job's token is not the fault), and the reason in the log for
    the administrator."""
    assert response.status_code == 401, response.get_json()
    assert error_code(response) == "UNAUTHORIZED"
    return " ".join(r.getMessage() for r in caplog.records if r.name.endswith("identity_token"))


def test_an_over_large_jwks_leaves_no_usable_key_and_is_refused_not_a_5xx(seeded, client, own_issuer, caplog):
    login = keyless_robot(own_issuer, f"sub={SUB}")
    padded = KeySet(own_issuer.keys).as_dict(private=False)
    padded["padding"] = "x" * (64 * 1024)
    own_issuer.publish(padded)
    assert "larger than 64 KiB" in _refused_for_keys(
        basic_login(client, login, own_issuer.sign(_claims(own_issuer)), PULL_PUSH), caplog)
    assert exchange(client, own_issuer.sign(_claims(own_issuer)), login, PULL_PUSH).status_code == 401


def test_a_jwks_of_only_a_weak_rsa_key_holds_no_usable_key(seeded, client, own_issuer, caplog):
    login = keyless_robot(own_issuer, f"sub={SUB}")
    weak = RSAKey.generate_key(1024, {"kid": "weak"}, auto_kid=False)
    own_issuer.publish(KeySet([weak]).as_dict(private=False))
    token = own_issuer.sign(_claims(own_issuer), key=weak)
    assert "no usable public key" in _refused_for_keys(basic_login(client, login, token, PULL_PUSH), caplog)


def test_a_weak_rsa_key_beside_a_good_one_is_ignored(seeded, client, own_issuer):
    login = keyless_robot(own_issuer, f"sub={SUB}")
    weak = RSAKey.generate_key(1024, {"kid": "weak"}, auto_kid=False)
    own_issuer.publish(KeySet([own_issuer.key, weak]).as_dict(private=False))
    assert basic_login(client, login, own_issuer.sign(_claims(own_issuer)), PULL_PUSH).status_code == 200
    _refused(client, login, own_issuer.sign(_claims(own_issuer), key=weak))


def test_a_published_private_key_is_ignored(seeded, client, own_issuer):
    login = keyless_robot(own_issuer, f"sub={SUB}")
    leaked = ECKey.generate_key("P-256", {"kid": "leaked"}, auto_kid=False)
    own_issuer.publish({"keys": [own_issuer.key.as_dict(private=False), leaked.as_dict(private=True)]})
    assert basic_login(client, login, own_issuer.sign(_claims(own_issuer)), PULL_PUSH).status_code == 200
    _refused(client, login, own_issuer.sign(_claims(own_issuer), key=leaked))


@pytest.mark.parametrize("header", [{"alg": "RS256"}, {"alg": "ES512"}, {"alg": "PS256"}, {"alg": "EdDSA"},
                                    {"kid": 7}, {"kid": ["a"]}, {"kid": "x" * 5000}, {"alg": ["ES256"]},
                                    {"crit": ["exp"]}, {"jku": "http://127.0.0.1:1/jwks"}])
def test_odd_headers_are_refused_never_a_500(client, login, issuer, header):
    token = unsigned(_claims(issuer), {"alg": "ES256", "kid": issuer.key.kid, **header}) + "c2ln"
    _refused(client, login, token)


@pytest.mark.parametrize("payload", ["[]", '"x"', "null", "{", '{"iss": 1}', '{"iss": ["a"]}'])
def test_odd_payloads_are_refused_never_a_500(client, login, issuer, payload):
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    token = f"{b64(json.dumps({'alg': 'ES256', 'kid': issuer.key.kid}).encode())}.{b64(payload.encode())}.c2ln"
    _refused(client, login, token)
