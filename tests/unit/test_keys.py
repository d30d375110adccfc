"""Key files, key ids and the signer."""

import stat

import jwt
import pytest

from authsvc.signing import keys
from authsvc.signing.jwt import TokenSigner


def test_generate_writes_private_key_0600_and_load_checks_the_pair(tmp_path):
    material = keys.generate(tmp_path / "k.key", tmp_path / "k.crt", common_name="t", validity_days=10)
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    loaded = keys.load(tmp_path / "k.key", tmp_path / "k.crt")
    assert loaded.libtrust_kid == material.libtrust_kid
    keys.generate(tmp_path / "other.key", tmp_path / "other.crt", common_name="t", validity_days=10)
    with pytest.raises(keys.KeyFileError, match="does not match"):
        keys.load(tmp_path / "k.key", tmp_path / "other.crt")


def test_ensure_refuses_a_half_pair(tmp_path):
    keys.generate(tmp_path / "k.key", tmp_path / "k.crt", common_name="t", validity_days=10)
    (tmp_path / "k.crt").unlink()
    with pytest.raises(keys.KeyFileError, match="refusing to overwrite"):
        keys.ensure(tmp_path / "k.key", tmp_path / "k.crt", common_name="t", validity_days=10)


def test_unreadable_key_files_are_clear_errors(tmp_path):
    (tmp_path / "k.key").write_text("not a key")
    (tmp_path / "k.crt").write_text("not a cert")
    with pytest.raises(keys.KeyFileError, match="cannot read signing key"):
        keys.load(tmp_path / "k.key", tmp_path / "k.crt")
    with pytest.raises(keys.KeyFileError, match="does not exist"):
        keys.load(tmp_path / "none.key", tmp_path / "k.crt")


def test_libtrust_kid_shape(tmp_path):
    kid = keys.generate(tmp_path / "k.key", tmp_path / "k.crt", common_name="t", validity_days=1).libtrust_kid
    groups = kid.split(":")
    assert len(groups) == 12 and all(len(g) == 4 and g.isalnum() and g.upper() == g for g in groups)


@pytest.mark.parametrize("kid_format", ["libtrust", "thumbprint"])
def test_signer_headers(tmp_path, kid_format):
    material = keys.generate(tmp_path / "k.key", tmp_path / "k.crt", common_name="t", validity_days=1)
    signer = TokenSigner(material, issuer="iss", lifetime=120, kid_format=kid_format)
    issued = signer.issue(subject="u", audience="svc", access=[])
    header = jwt.get_unverified_header(issued.token)
    expected = material.libtrust_kid if kid_format == "libtrust" else material.thumbprint
    assert header["kid"] == expected and header["x5c"] == [material.certificate_der_b64]
    claims = jwt.decode(issued.token, material.certificate.public_key(), algorithms=["ES256"],
                        audience="svc", issuer="iss")
    assert claims["exp"] - claims["iat"] == 120 and claims["access"] == []


def test_derived_secrets_follow_the_key_and_differ_by_purpose(tmp_path):
    """The web console's cookie key: the same from every load of one key (every worker and
    instance), another for another purpose or another key."""
    first = keys.generate(tmp_path / "a.key", tmp_path / "a.crt", common_name="authsvc", validity_days=1)
    again = keys.load(tmp_path / "a.key", tmp_path / "a.crt")
    other = keys.generate(tmp_path / "b.key", tmp_path / "b.crt", common_name="authsvc", validity_days=1)
    assert first.derived_secret(b"console") == again.derived_secret(b"console")
    assert len(first.derived_secret(b"console")) == 32
    assert first.derived_secret(b"console") != first.derived_secret(b"other")
    assert first.derived_secret(b"console") != other.derived_secret(b"console")
