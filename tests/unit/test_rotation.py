"""Key rotation on files: stage, activate, retire -- what the registry is told to trust at each step."""

from __future__ import annotations

import datetime as dt
import json
import stat

import pytest
from cryptography import x509

from authsvc.settings import load
from authsvc.signing import keys, rotation
from authsvc.signing.jwt import TokenSigner

TTL = 300
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def paths(tmp_path):
    settings = load({}, {"data_dir": str(tmp_path)})
    p = rotation.KeyPaths.from_settings(settings)
    keys.generate(p.key, p.cert, common_name="authsvc", validity_days=30)
    rotation.publish(p, kid_format="libtrust")
    return p


def bundle_fingerprints(p) -> list[bytes]:
    return [c.fingerprint(c.signature_hash_algorithm) for c in x509.load_pem_x509_certificates(p.bundle.read_bytes())]


def fingerprint(path) -> bytes:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.fingerprint(cert.signature_hash_algorithm)


def jwks_kids(p) -> list[str]:
    return [k["kid"] for k in json.loads(p.jwks.read_text())["keys"]]


def stage(p):
    return rotation.stage(p, common_name="authsvc", validity_days=30, kid_format="libtrust")


def test_stage_publishes_old_and_new_but_keeps_signing_with_the_old(paths):
    active_before = fingerprint(paths.cert)
    material, created = stage(paths)
    assert created
    assert stat.S_IMODE(paths.next_key.stat().st_mode) == 0o600
    assert fingerprint(paths.cert) == active_before
    assert bundle_fingerprints(paths) == [active_before, fingerprint(paths.next_cert)]
    assert jwks_kids(paths) == [keys.load(paths.key, paths.cert).libtrust_kid, material.libtrust_kid]
    # Again: nothing new, the same next key re-published.
    again, created = stage(paths)
    assert not created and again.libtrust_kid == material.libtrust_kid
    assert len(bundle_fingerprints(paths)) == 2


def test_activate_switches_keys_keeps_the_old_certificate_and_deletes_the_old_private_key(paths):
    old_cert = fingerprint(paths.cert)
    stage(paths)
    new_cert = fingerprint(paths.next_cert)
    rotation.activate(paths, kid_format="libtrust", token_lifetime=TTL, now=NOW)
    assert fingerprint(paths.cert) == new_cert
    assert fingerprint(paths.previous_cert) == old_cert
    assert not paths.next_key.exists() and not paths.next_cert.exists()
    keys.load(paths.key, paths.cert)  # the new pair matches
    assert sorted(bundle_fingerprints(paths)) == sorted([old_cert, new_cert])
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600
    assert rotation.last_activation(paths) == NOW


def test_activate_without_a_staged_key_is_refused(paths):
    with pytest.raises(rotation.RotationError, match="keys rotate"):
        rotation.activate(paths, kid_format="libtrust", token_lifetime=TTL, now=NOW)


def test_retire_waits_for_the_longest_token_lifetime(paths):
    stage(paths)
    rotation.activate(paths, kid_format="libtrust", token_lifetime=TTL, now=NOW)
    early = NOW + dt.timedelta(seconds=TTL - 1)
    with pytest.raises(rotation.RotationError, match="valid for another"):
        rotation.retire(paths, kid_format="libtrust", token_lifetime=TTL, now=early)
    assert len(bundle_fingerprints(paths)) == 2
    assert rotation.retire_wait(paths, token_lifetime=TTL, now=NOW + dt.timedelta(seconds=TTL + 10)) == 0
    rotation.retire(paths, kid_format="libtrust", token_lifetime=TTL, now=NOW + dt.timedelta(seconds=TTL + 10))
    assert bundle_fingerprints(paths) == [fingerprint(paths.cert)]
    assert not paths.previous_cert.exists()
    with pytest.raises(rotation.RotationError, match="no previous key"):
        rotation.retire(paths, kid_format="libtrust", token_lifetime=TTL, now=NOW)


def test_force_retires_at_once(paths):
    stage(paths)
    rotation.activate(paths, kid_format="libtrust", token_lifetime=TTL, now=NOW)
    rotation.retire(paths, kid_format="libtrust", token_lifetime=TTL, force=True, now=NOW)
    assert len(bundle_fingerprints(paths)) == 1


def test_a_second_activation_never_drops_a_previous_key_with_live_tokens(paths):
    stage(paths)
    rotation.activate(paths, kid_format="libtrust", token_lifetime=TTL, now=NOW)
    first_previous = fingerprint(paths.previous_cert)
    stage(paths)
    assert len(bundle_fingerprints(paths)) == 3  # active, next, previous
    with pytest.raises(rotation.RotationError, match="previous key may still have valid tokens"):
        rotation.activate(paths, kid_format="libtrust", token_lifetime=TTL, now=NOW + dt.timedelta(seconds=30))
    assert fingerprint(paths.previous_cert) == first_previous and paths.next_key.exists()
    later = NOW + dt.timedelta(seconds=TTL + 10)
    rotation.activate(paths, kid_format="libtrust", token_lifetime=TTL, now=later)
    assert len(bundle_fingerprints(paths)) == 2


def test_a_damaged_next_pair_never_becomes_active(paths):
    stage(paths)
    other = keys.generate(paths.key.with_name("other.key"), paths.key.with_name("other.crt"),
                          common_name="x", validity_days=1)
    paths.next_cert.write_bytes(other.certificate_pem)
    active = fingerprint(paths.cert)
    with pytest.raises(keys.KeyFileError, match="does not match"):
        rotation.activate(paths, kid_format="libtrust", token_lifetime=TTL, now=NOW)
    assert fingerprint(paths.cert) == active


def test_a_half_staged_pair_is_reported_not_overwritten(paths):
    paths.next_key.write_bytes(b"left over")
    with pytest.raises(rotation.RotationError, match="only half"):
        stage(paths)
    assert paths.next_key.read_bytes() == b"left over"


def test_thumbprint_kids_in_the_jwks(paths):
    material, _ = rotation.stage(paths, common_name="authsvc", validity_days=30, kid_format="thumbprint")
    assert jwks_kids(paths)[1] == material.thumbprint


def test_bundle_currency_is_detected(paths):
    assert rotation.published_bundle_is_current(paths)
    keys.generate(paths.next_key, paths.next_cert, common_name="authsvc", validity_days=30)
    assert not rotation.published_bundle_is_current(paths)  # made by hand, never published
    paths.bundle.unlink()
    assert not rotation.published_bundle_is_current(paths)


def test_signer_still_verifies_tokens_of_the_retired_key_it_is_given(paths):
    old = keys.load(paths.key, paths.cert)
    old_token = TokenSigner(old, issuer="authsvc", lifetime=TTL).issue(subject="u", audience="api", access=[]).token
    stage(paths)
    rotation.activate(paths, kid_format="libtrust", token_lifetime=TTL)
    new = TokenSigner(keys.load(paths.key, paths.cert), issuer="authsvc", lifetime=TTL,
                      retired_keys=(old.certificate.public_key(),))
    assert new.verify(old_token, audience="api")["sub"] == "u"
    stranger = TokenSigner(keys.load(paths.key, paths.cert), issuer="authsvc", lifetime=TTL)
    with pytest.raises(Exception, match="key we do not know"):
        stranger.verify(old_token, audience="api")


def test_days_left_counts_from_the_certificate(paths):
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    assert 29.9 < rotation.days_left(cert) <= 30.01
    assert rotation.days_left(cert, now=cert.not_valid_after_utc + dt.timedelta(days=1)) == pytest.approx(-1)
