"""authsvc's tokens against models of the registry 2.8 and 3.x token verifiers.

``registry_verifier`` restates what distribution v2.8.2 and v3.0/v3.1 check (see its docstring
for the source files).  The real binaries -- Debian's 2.8.2 and distribution 3.1.1 -- are put
the same cases in ``tests/e2e/test_registry_token_checks.py``, which requires the model to agree
with them, and every end-to-end scenario runs against both.  These tests keep what no binary
here can show: v3.0 (its EC key-ID bug), a fixed clock for the exact leeway edges, certificate
chains through a CA, which key source accepted a token, and the registries' configuration
errors.  They issue tokens the way the service does -- a key from ``keys.generate`` and
``TokenSigner`` -- and check who accepts them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
import subprocess

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from authsvc.signing import keys
from authsvc.signing.jwt import CLOCK_SKEW_SECONDS, TokenSigner

from . import registry_verifier as rv

ISSUER = "authsvc.test"
SERVICE = "registry.test"
LIFETIME = 300
REPO = "team/app"
PULL_PUSH = [{"type": "repository", "name": REPO, "actions": ["pull", "push"]}]
NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
T0 = NOW.timestamp()

# (name, callable) pairs: the same question put to every registry generation.
VERIFIERS = {
    "v2.8": lambda token, m, **kw: rv.verify_v2(token, issuer=kw.pop("issuer", ISSUER),
                                               service=kw.pop("service", SERVICE),
                                               rootcert_pems=kw.pop("rootcert_pems", m.certificate_pem), **kw),
    "v3.0": lambda token, m, **kw: rv.verify_v3(token, issuer=kw.pop("issuer", ISSUER),
                                               service=kw.pop("service", SERVICE),
                                               rootcert_pems=kw.pop("rootcert_pems", m.certificate_pem),
                                               version="3.0", **kw),
    "v3.1": lambda token, m, **kw: rv.verify_v3(token, issuer=kw.pop("issuer", ISSUER),
                                               service=kw.pop("service", SERVICE),
                                               rootcert_pems=kw.pop("rootcert_pems", m.certificate_pem),
                                               version="3.1", **kw),
}
V3 = ["v3.0", "v3.1"]


@pytest.fixture
def material(tmp_path):
    return keys.generate(tmp_path / "sign.key", tmp_path / "sign.crt", common_name="authsvc token signer",
                         validity_days=30, now=NOW - dt.timedelta(days=1))


def issue(material, *, kid_format="libtrust", access=PULL_PUSH, audience=SERVICE, issuer=ISSUER, now=NOW):
    signer = TokenSigner(material, issuer=issuer, lifetime=LIFETIME, kid_format=kid_format)
    return signer.issue(subject="alice", audience=audience, access=access, now=now).token


def resign(token, private_key, *, headers=None, claims=None, algorithm="ES256"):
    """The token's claims (optionally changed) re-signed with only the given header members."""
    payload = jwt.decode(token, options={"verify_signature": False})
    payload.update(claims or {})
    return jwt.encode(payload, private_key, algorithm=algorithm, headers=headers or {})


def self_signed(private_key, *, cn="authsvc token signer", not_before=NOW - dt.timedelta(days=1), days=30,
                ca=True, issuer_key=None, issuer_name=None):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer_name or name)
               .public_key(private_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_before + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(issuer_key or private_key, hashes.SHA256())


def material_from_scalar(d):
    """A deterministic P-256 key (private scalar ``d``) with a certificate like ``keys.generate`` makes."""
    key = ec.derive_private_key(d, ec.SECP256R1())
    return keys.SigningMaterial(key, self_signed(key))


def p256_scalar(predicate, start=2):
    """The first private scalar from ``start`` whose public point satisfies ``predicate(x, y)``."""
    d = start
    while True:
        numbers = ec.derive_private_key(d, ec.SECP256R1()).public_key().public_numbers()
        if predicate(numbers.x, numbers.y):
            return d
        d += 1


FULL_SIZE = p256_scalar(lambda x, y: x >> 248 and y >> 248)          # both coordinates 32 significant bytes
SHORT_X = p256_scalar(lambda x, y: not x >> 248 and y >> 248)       # x has a leading zero byte


# --------------------------------------------------------------------------- accepted

@pytest.mark.parametrize("kid_format", ["libtrust", "thumbprint"])
@pytest.mark.parametrize("registry", ["v2.8", "v3.0", "v3.1"])
def test_authsvc_token_is_accepted_through_its_x5c_chain(material, kid_format, registry):
    token = issue(material, kid_format=kid_format)
    accepted = VERIFIERS[registry](token, material, needed=[("repository", REPO, "pull"),
                                                            ("repository", REPO, "push")], now=T0 + 1)
    # Both generations try x5c before kid, so kid_format does not change the outcome.
    assert accepted.key_source == "x5c"
    assert accepted.claims["sub"] == "alice" and accepted.claims["aud"] == SERVICE


@pytest.mark.parametrize("kid_format", ["libtrust", "thumbprint"])
@pytest.mark.parametrize("registry", V3)
def test_v3_with_bundle_and_jwks_still_uses_x5c(material, kid_format, registry):
    token = issue(material, kid_format=kid_format)
    signer_kid = jwt.get_unverified_header(token)["kid"]
    accepted = VERIFIERS[registry](token, material, jwks=material.jwks(signer_kid), now=T0)
    assert accepted.key_source == "x5c"


@pytest.mark.parametrize("kid_format", ["libtrust", "thumbprint"])
@pytest.mark.parametrize("registry", V3)
def test_v3_finds_the_key_in_the_jwks_document_when_there_is_no_x5c(material, kid_format, registry):
    token = issue(material, kid_format=kid_format)
    kid = jwt.get_unverified_header(token)["kid"]
    without_x5c = resign(token, material.private_key, headers={"kid": kid})
    accepted = VERIFIERS[registry](without_x5c, material, rootcert_pems=None, jwks=material.jwks(kid), now=T0)
    assert accepted.key_source == "kid" and accepted.kid == kid


def test_jwks_document_round_trips_through_the_registry_parser(material, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(material.jwks(material.thumbprint)))
    [(kid, key)] = rv.load_jwks(str(path))
    assert kid == material.thumbprint
    assert key.public_numbers() == material.private_key.public_key().public_numbers()


# --------------------------------------------------------------------------- rejected

@pytest.mark.parametrize("registry", VERIFIERS)
def test_token_from_another_key_is_rejected(material, tmp_path, registry):
    other = keys.generate(tmp_path / "o.key", tmp_path / "o.crt", common_name="intruder", validity_days=30,
                          now=NOW - dt.timedelta(days=1))
    with pytest.raises(rv.InvalidToken) as own_chain:
        VERIFIERS[registry](issue(other), material, now=T0)
    assert own_chain.value.reason == "certificate"

    # Our certificate and kid in the header, the other key's signature.
    forged = resign(issue(material), other.private_key,
                    headers={"kid": material.libtrust_kid, "x5c": [material.certificate_der_b64]})
    with pytest.raises(rv.InvalidToken) as borrowed:
        VERIFIERS[registry](forged, material, now=T0)
    assert borrowed.value.reason == "signature"


@pytest.mark.parametrize("registry", VERIFIERS)
def test_wrong_issuer_and_wrong_audience_are_rejected(material, registry):
    with pytest.raises(rv.InvalidToken, match="issuer"):
        VERIFIERS[registry](issue(material, issuer="someone-else"), material, now=T0)
    with pytest.raises(rv.InvalidToken, match="audience"):
        VERIFIERS[registry](issue(material, audience="other-registry"), material, now=T0)


@pytest.mark.parametrize("registry", VERIFIERS)
def test_expiry_and_not_before_have_sixty_seconds_of_leeway(material, registry):
    token = issue(material)
    VERIFIERS[registry](token, material, now=T0 + LIFETIME + 59)
    with pytest.raises(rv.InvalidToken, match="expired"):
        VERIFIERS[registry](token, material, now=T0 + LIFETIME + 61)
    # authsvc back-dates nbf by CLOCK_SKEW_SECONDS, on top of the registry's 60 s.
    VERIFIERS[registry](token, material, now=T0 - CLOCK_SKEW_SECONDS - 59)
    with pytest.raises(rv.InvalidToken, match="not-yet-valid"):
        VERIFIERS[registry](token, material, now=T0 - CLOCK_SKEW_SECONDS - 61)


@pytest.mark.parametrize("registry", VERIFIERS)
def test_expired_signing_certificate_is_rejected_on_the_x5c_path(tmp_path, registry):
    """Go's x509 Verify runs at the current time with no leeway: v2.8.2 (parseAndVerifyCertChain) as
    much as v3 (verifyCertChain) -- the token's own exp/nbf do not help."""
    old = keys.generate(tmp_path / "k.key", tmp_path / "k.crt", common_name="authsvc", validity_days=1,
                        now=NOW - dt.timedelta(days=10))
    with pytest.raises(rv.InvalidToken) as rejected:
        VERIFIERS[registry](issue(old), old, now=T0)
    assert rejected.value.reason == "certificate" and "expired" in rejected.value.detail


@pytest.mark.parametrize("registry", VERIFIERS)
def test_renewed_certificate_must_itself_be_in_the_bundle(material, registry):
    """Same key, same subject, new dates: Go treats it as the same certificate as the old root
    (alreadyInChain), so it does not chain to it."""
    renewed = keys.SigningMaterial(material.private_key,
                                   self_signed(material.private_key, not_before=NOW - dt.timedelta(hours=1)))
    token = issue(renewed)
    with pytest.raises(rv.InvalidToken, match="unknown authority"):
        VERIFIERS[registry](token, material, now=T0)
    both = material.certificate_pem + renewed.certificate_pem
    VERIFIERS[registry](token, material, rootcert_pems=both, now=T0)


@pytest.mark.parametrize("registry", V3)
def test_v3_registry_with_only_jwks_rejects_tokens_that_carry_x5c(material, registry):
    """x5c is tried first; with no rootcertbundle the root pool is empty, so the chain fails and
    the token is rejected -- the JWKS entry for its kid is never looked at."""
    token = issue(material, kid_format="thumbprint")
    with pytest.raises(rv.InvalidToken) as rejected:
        VERIFIERS[registry](token, material, rootcert_pems=None, jwks=material.jwks(material.thumbprint), now=T0)
    assert rejected.value.reason == "certificate"


def test_libtrust_kid_without_x5c_is_v2_only(material):
    """Sanity check of the model: the token registry 2.8 was built for, and 3.x no longer takes."""
    token = resign(issue(material), material.private_key, headers={"kid": material.libtrust_kid})
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": material.libtrust_kid, "typ": "JWT"}
    assert VERIFIERS["v2.8"](token, material, now=T0).key_source == "kid"
    for registry in V3:
        with pytest.raises(rv.InvalidToken) as rejected:
            VERIFIERS[registry](token, material, now=T0)
        assert rejected.value.reason == "untrusted-key"


def test_thumbprint_kid_without_x5c_needs_v3_1_for_ec_keys():
    material = material_from_scalar(FULL_SIZE)
    token = resign(issue(material), material.private_key, headers={"kid": material.thumbprint})
    assert VERIFIERS["v3.1"](token, material, now=T0).key_source == "kid"
    with pytest.raises(rv.InvalidToken, match="untrusted-key"):
        VERIFIERS["v3.0"](token, material, now=T0)
    with pytest.raises(rv.InvalidToken, match="untrusted-key"):
        VERIFIERS["v2.8"](token, material, now=T0)


def test_v3_0_files_every_p256_certificate_under_the_generator_thumbprint():
    """Issue #4683: v3.0.x hashed the curve's Gx/Gy, i.e. the JWK of the key with private scalar 1."""
    generator_jwk = keys.public_jwk(ec.derive_private_key(1, ec.SECP256R1()).public_key())
    material = material_from_scalar(FULL_SIZE)
    bug_kid = rv.go_rfc7638_thumbprint(material.private_key.public_key(), "3.0")
    assert bug_kid == keys.jwk_thumbprint(generator_jwk) != material.thumbprint
    token = resign(issue(material), material.private_key, headers={"kid": bug_kid})
    assert VERIFIERS["v3.0"](token, material, now=T0).key_source == "kid"


def test_v3_1_thumbprint_of_a_short_coordinate_differs_from_rfc7638():
    """Inferred from PR #4684 (X.Bytes() is unpadded): for ~1 key in 128 the registry's ID for a
    certificate key is not the strict RFC 7638 thumbprint authsvc computes; a JWKS entry still works."""
    material = material_from_scalar(SHORT_X)
    assert rv.go_rfc7638_thumbprint(material.private_key.public_key(), "3.1") != material.thumbprint
    token = resign(issue(material), material.private_key, headers={"kid": material.thumbprint})
    with pytest.raises(rv.InvalidToken, match="untrusted-key"):
        VERIFIERS["v3.1"](token, material, now=T0)
    assert VERIFIERS["v3.1"](token, material, jwks=material.jwks(material.thumbprint), now=T0).key_source == "kid"
    # With x5c, as authsvc sends it, the key ID does not matter at all.
    assert VERIFIERS["v3.1"](issue(material, kid_format="thumbprint"), material, now=T0).key_source == "x5c"


def test_audience_list_is_v3_only(material):
    token = resign(issue(material), material.private_key, claims={"aud": ["elsewhere", SERVICE]},
                   headers={"kid": material.libtrust_kid, "x5c": [material.certificate_der_b64]})
    for registry in V3:
        VERIFIERS[registry](token, material, now=T0)
    with pytest.raises(rv.MalformedToken):
        VERIFIERS["v2.8"](token, material, now=T0)


def test_v3_signing_algorithm_allow_list(material):
    token = issue(material)
    assert "ES256" in rv.V3_DEFAULT_ALGORITHMS
    rv.verify_v3(token, issuer=ISSUER, service=SERVICE, rootcert_pems=material.certificate_pem,
                 algorithms=["ES256"], now=T0)
    with pytest.raises(rv.MalformedToken, match="algorithm"):
        rv.verify_v3(token, issuer=ISSUER, service=SERVICE, rootcert_pems=material.certificate_pem,
                     algorithms=["RS256", "PS256"], now=T0)
    with pytest.raises(rv.RegistryConfigError, match="unsupported signing algorithm"):
        rv.verify_v3(token, issuer=ISSUER, service=SERVICE, rootcert_pems=material.certificate_pem,
                     algorithms=["ES256K"], now=T0)


@pytest.mark.parametrize("registry", VERIFIERS)
def test_hmac_token_naming_a_trusted_key_is_rejected(material, registry):
    """HS256 is in v3's default allow-list, but every trusted key is a public key: nothing verifies it."""
    forged = resign(issue(material), b"k" * 32, algorithm="HS256", headers={"kid": material.libtrust_kid})
    extra = {} if registry == "v2.8" else {"jwks": material.jwks(material.libtrust_kid)}
    with pytest.raises(rv.InvalidToken, match="signature"):
        VERIFIERS[registry](forged, material, now=T0, **extra)


def test_registry_configuration_errors(material):
    with pytest.raises(rv.RegistryConfigError):
        rv.verify_v3(issue(material), issuer=ISSUER, service=SERVICE, now=T0)
    with pytest.raises(rv.RegistryConfigError):
        rv.verify_v3(issue(material), issuer=ISSUER, service=SERVICE, jwks={"keys": []}, now=T0)
    with pytest.raises(rv.RegistryConfigError):
        rv.verify_v2(issue(material), issuer=ISSUER, service=SERVICE, rootcert_pems=b"", now=T0)


def test_certificate_chain_through_a_ca(material):
    """The model's x509 path beyond authsvc's self-signed case: bundle holds a CA, x5c a leaf it signed."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = self_signed(ca_key, cn="token CA")
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = self_signed(leaf_key, cn="token signer", ca=False, issuer_key=ca_key, issuer_name=ca.subject)
    leaf_b64 = base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()
    token = resign(issue(material), leaf_key, headers={"x5c": [leaf_b64]})
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    for registry in VERIFIERS:
        assert VERIFIERS[registry](token, material, rootcert_pems=ca_pem, now=T0).key_source == "x5c"
    # A CA:FALSE "root" cannot sign for the leaf.
    not_ca = self_signed(ca_key, cn="token CA", ca=False)
    with pytest.raises(rv.InvalidToken, match="unknown authority"):
        rv.verify_v3(token, issuer=ISSUER, service=SERVICE,
                     rootcert_pems=not_ca.public_bytes(serialization.Encoding.PEM), now=T0)


# --------------------------------------------------------------------------- access

@pytest.mark.parametrize("registry", VERIFIERS)
def test_access_matching(material, registry):
    pull_only = issue(material, access=[{"type": "repository", "name": REPO, "actions": ["pull"]}])
    VERIFIERS[registry](pull_only, material, needed=("repository", REPO, "pull"), now=T0)
    with pytest.raises(rv.InsufficientScope) as rejected:
        VERIFIERS[registry](pull_only, material, needed=("repository", REPO, "push"), now=T0)
    assert rejected.value.error == "insufficient_scope"
    with pytest.raises(rv.InsufficientScope):
        VERIFIERS[registry](pull_only, material, needed=("repository", "team/other", "pull"), now=T0)

    merged = issue(material, access=[{"type": "repository", "name": REPO, "actions": ["pull"]},
                                     {"type": "repository", "class": "image", "name": REPO, "actions": ["push"]}])
    VERIFIERS[registry](merged, material, needed=[("repository", REPO, "pull"), ("repository", REPO, "push")],
                        now=T0)

    star = issue(material, access=[{"type": "registry", "name": "catalog", "actions": ["*"]},
                                   {"type": "repository", "name": REPO, "actions": ["*"]}])
    VERIFIERS[registry](star, material, needed=[("registry", "catalog", "*"), ("repository", REPO, "delete")],
                        now=T0)
    wildcard_name = issue(material, access=[{"type": "repository", "name": "*", "actions": ["*"]}])
    with pytest.raises(rv.InsufficientScope):
        VERIFIERS[registry](wildcard_name, material, needed=("repository", REPO, "pull"), now=T0)


# --------------------------------------------------------------------------- key ids

RFC7638_N = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
             "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
             "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
             "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rfc7638_section_3_1_example():
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert keys.jwk_thumbprint(jwk) == RFC7638_THUMBPRINT
    n = int.from_bytes(base64.urlsafe_b64decode(RFC7638_N + "=="), "big")
    public_key = rsa.RSAPublicNumbers(65537, n).public_key()
    assert keys.public_jwk(public_key) == {"kty": "RSA", "n": RFC7638_N, "e": "AQAB"}
    for version in ("3.0", "3.1"):  # RSA thumbprints were right in every v3 release
        assert rv.go_rfc7638_thumbprint(public_key, version) == RFC7638_THUMBPRINT


def test_libtrust_key_id_of_the_distribution_spec_example_key():
    """The example key and its kid from distribution's docs/spec/auth/jwt.md."""
    def coordinate(text):
        return int.from_bytes(base64.urlsafe_b64decode(text + "="), "big")
    public_key = ec.EllipticCurvePublicNumbers(coordinate("m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q"),
                                               coordinate("dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc"),
                                               ec.SECP256R1()).public_key()
    expected = "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6"
    assert keys.libtrust_key_id(public_key) == expected
    assert rv.libtrust_key_id(public_key) == expected


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_libtrust_key_id_matches_openssl_derived_spki(material, tmp_path):
    """The DER SubjectPublicKeyInfo taken out of the certificate by openssl, hashed and encoded here."""
    pem = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=material.certificate_pem,
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem,
                         capture_output=True, check=True).stdout
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    assert "=" not in encoded and len(encoded) == 48
    assert material.libtrust_kid == ":".join(encoded[i:i + 4] for i in range(0, 48, 4))
