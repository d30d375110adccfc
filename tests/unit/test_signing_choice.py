"""The ``signing_algorithm`` and ``token_x5c`` settings: generated key types, token headers, the
combinations validation refuses, and a rotation that changes key type.

Registry acceptance is asked of the Python model of both generations (``registry_verifier``,
held to the real binaries by tests/e2e/test_registry_token_checks.py, which also puts these
tokens to them).
"""

from __future__ import annotations

import datetime as dt
import json
import stat

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.settings import SettingsError, load
from authsvc.signing import keys, rotation
from authsvc.signing.jwt import TokenSigner

from . import registry_verifier as rv

ISSUER, SERVICE, REPO = "authsvc", "registry", "team/app"
PULL = [{"type": "repository", "name": REPO, "actions": ["pull"]}]
NEEDED = [("repository", REPO, "pull")]


def generate(tmp_path, algorithm, name="k"):
    return keys.generate(tmp_path / f"{name}.key", tmp_path / f"{name}.crt", common_name="authsvc",
                         validity_days=10, algorithm=algorithm)


def test_rs256_keys_are_rsa_2048_written_0600_with_a_matching_certificate(tmp_path):
    material = generate(tmp_path, "RS256")
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    assert isinstance(material.private_key, rsa.RSAPrivateKey) and material.private_key.key_size == 2048
    assert material.algorithm == "RS256"
    loaded = keys.load(tmp_path / "k.key", tmp_path / "k.crt")  # checks that key and certificate belong together
    assert loaded.certificate.public_key().public_numbers() == material.private_key.public_key().public_numbers()
    assert isinstance(generate(tmp_path, "ES256", "e").private_key, ec.EllipticCurvePrivateKey)


def test_an_unknown_algorithm_is_refused_before_any_file_is_written(tmp_path):
    with pytest.raises(keys.KeyFileError, match="ES256, RS256"):
        generate(tmp_path, "ES384")
    assert not list(tmp_path.iterdir())


def test_ensure_generates_the_configured_type_and_keeps_an_existing_key_of_the_other(tmp_path):
    made, created = keys.ensure(tmp_path / "k.key", tmp_path / "k.crt", common_name="a", validity_days=1,
                                algorithm="RS256")
    assert created and made.algorithm == "RS256"
    kept, created = keys.ensure(tmp_path / "k.key", tmp_path / "k.crt", common_name="a", validity_days=1,
                                algorithm="ES256")
    assert not created and kept.algorithm == "RS256"


@pytest.mark.parametrize("x5c", [True, False], ids=["x5c", "no-x5c"])
@pytest.mark.parametrize("kid_format", ["libtrust", "thumbprint"])
@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_tokens_verify_against_the_certificate_with_the_chosen_header(tmp_path, algorithm, kid_format, x5c):
    material = generate(tmp_path, algorithm)
    signer = TokenSigner(material, issuer=ISSUER, lifetime=120, kid_format=kid_format, x5c=x5c)
    first = signer.issue(subject="u", audience=SERVICE, access=PULL).token
    second = signer.issue(subject="v", audience=SERVICE, access=[]).token
    header = jwt.get_unverified_header(first)
    expected_kid = material.libtrust_kid if kid_format == "libtrust" else material.thumbprint
    want = {"alg": algorithm, "kid": expected_kid, "typ": "JWT"}
    if x5c:
        want["x5c"] = [material.certificate_der_b64]
    assert header == want
    assert first.split(".")[0] == second.split(".")[0]  # one header for every token of a key
    claims = jwt.decode(first, material.certificate.public_key(), algorithms=[algorithm], audience=SERVICE,
                        issuer=ISSUER)
    assert claims["access"] == PULL
    assert signer.verify(first, audience=SERVICE)["sub"] == "u"


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_without_x5c_each_generation_finds_the_key_where_registry_config_points_it(tmp_path, algorithm):
    """2.8: the libtrust kid among the bundle's keys; 3.x: the kid in the JWKS authsvc publishes
    (not among the bundle's thumbprints, so a 3.x config without jwks refuses it)."""
    material = generate(tmp_path, algorithm)
    token = TokenSigner(material, issuer=ISSUER, lifetime=120, x5c=False).issue(
        subject="u", audience=SERVICE, access=PULL).token
    bundle = material.certificate_pem
    jwks = rotation.jwks_document([rotation.TrustedKey("active", material.certificate)], kid_format="libtrust")
    v2 = rv.verify_v2(token, issuer=ISSUER, service=SERVICE, rootcert_pems=bundle, needed=NEEDED)
    assert v2.key_source == "kid"
    for version in ("3.0", "3.1"):
        v3 = rv.verify_v3(token, issuer=ISSUER, service=SERVICE, rootcert_pems=bundle, jwks=jwks,
                          algorithms=[algorithm], needed=NEEDED, version=version)
        assert v3.key_source == "kid"
        with pytest.raises(rv.TokenRejected):
            rv.verify_v3(token, issuer=ISSUER, service=SERVICE, rootcert_pems=bundle, algorithms=[algorithm],
                         needed=NEEDED, version=version)


def test_defaults_are_es256_without_x5c(tmp_path):
    settings = load(environ={"HOME": str(tmp_path)})
    assert (settings.signing_algorithm, settings.token_x5c) == ("ES256", False)
    chosen = load(environ={"AUTHSVC_SIGNING_ALGORITHM": "RS256", "AUTHSVC_TOKEN_X5C": "true"})
    assert (chosen.signing_algorithm, chosen.token_x5c) == ("RS256", True)


@pytest.mark.parametrize("environ, fragment", [
    ({"AUTHSVC_SIGNING_ALGORITHM": "ES384"}, "setting 'signing_algorithm': must be 'ES256' (P-256) or 'RS256'"),
    ({"AUTHSVC_SIGNING_ALGORITHM": "rs256"}, "setting 'signing_algorithm'"),
    ({"AUTHSVC_TOKEN_X5C": "sometimes"}, "setting 'token_x5c': cannot use 'sometimes'"),
    ({"AUTHSVC_TOKEN_X5C": "false", "AUTHSVC_KID_FORMAT": "thumbprint"},
     "setting 'token_x5c': false needs kid_format = 'libtrust'"),
])
def test_invalid_choices_are_one_line_errors_naming_the_key(environ, fragment):
    with pytest.raises(SettingsError) as caught:
        load(environ=environ)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_thumbprint_kids_with_x5c_and_libtrust_kids_without_are_allowed():
    assert load(environ={"AUTHSVC_KID_FORMAT": "thumbprint", "AUTHSVC_TOKEN_X5C": "true"}).token_x5c is True
    assert load(environ={"AUTHSVC_TOKEN_X5C": "0", "AUTHSVC_KID_FORMAT": "libtrust"}).token_x5c is False


@pytest.mark.parametrize("x5c", [True, False], ids=["x5c", "no-x5c"])
def test_a_rotation_from_es256_to_rs256_is_accepted_by_both_generations_throughout(tmp_path, x5c):
    paths = rotation.KeyPaths.from_settings(load({}, {"data_dir": str(tmp_path)}))
    old = keys.generate(paths.key, paths.cert, common_name="authsvc", validity_days=30)
    rotation.publish(paths, kid_format="libtrust")
    old_token = TokenSigner(old, issuer=ISSUER, lifetime=300, x5c=x5c).issue(
        subject="u", audience=SERVICE, access=PULL).token

    staged, created = rotation.stage(paths, common_name="authsvc", validity_days=30, kid_format="libtrust",
                                     algorithm="RS256")
    assert created and staged.algorithm == "RS256"
    assert stat.S_IMODE(paths.next_key.stat().st_mode) == 0o600
    assert keys.load(paths.key, paths.cert).algorithm == "ES256"  # nothing signs with the next key yet
    jwks = json.loads(paths.jwks.read_text())
    assert [(k["kty"], k["alg"]) for k in jwks["keys"]] == [("EC", "ES256"), ("RSA", "RS256")]
    trusted = rotation.trusted_keys(paths)
    assert rotation.algorithms(trusted, "RS256") == ["ES256", "RS256"]
    new_token = TokenSigner(staged, issuer=ISSUER, lifetime=300, x5c=x5c).issue(
        subject="u", audience=SERVICE, access=PULL).token

    def accepted_everywhere(token):
        bundle = paths.bundle.read_bytes()
        published = json.loads(paths.jwks.read_text())
        rv.verify_v2(token, issuer=ISSUER, service=SERVICE, rootcert_pems=bundle, needed=NEEDED)
        rv.verify_v3(token, issuer=ISSUER, service=SERVICE, rootcert_pems=bundle, jwks=published,
                     algorithms=rotation.algorithms(rotation.trusted_keys(paths), "RS256"), needed=NEEDED)
        return True

    assert accepted_everywhere(old_token) and accepted_everywhere(new_token)
    rotation.activate(paths, kid_format="libtrust", token_lifetime=300,
                      now=dt.datetime.now(dt.UTC))
    assert keys.load(paths.key, paths.cert).algorithm == "RS256"
    assert accepted_everywhere(old_token) and accepted_everywhere(new_token)
    # The service keeps accepting the ES256 key's tokens on its REST API after switching to RSA.
    signer = TokenSigner(keys.load(paths.key, paths.cert), issuer=ISSUER, lifetime=300, x5c=x5c,
                         retired_keys=tuple(t.public_key for t in rotation.trusted_keys(paths)
                                            if t.role == "previous"))
    assert signer.verify(old_token, audience=SERVICE)["sub"] == "u"
    assert signer.verify(new_token, audience=SERVICE)["sub"] == "u"
