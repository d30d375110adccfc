"""Settings: defaults < TOML file < environment, validated with the key named."""

import pytest

from authsvc.settings import SettingsError, load


def test_defaults_need_nothing(tmp_path):
    settings = load(environ={"HOME": str(tmp_path)})
    assert settings.token_ttl == 300 and settings.bcrypt_rounds == 12 and settings.services == ("registry",)
    assert settings.sqlalchemy_url.startswith("sqlite:///") and settings.anonymous_pull is True


def test_file_then_environment(tmp_path):
    config = tmp_path / "authsvc.toml"
    config.write_text('token_ttl = 600\nservices = ["a", "b"]\nissuer = "from-file"\nanonymous_pull = false\n')
    settings = load(environ={"AUTHSVC_CONFIG": str(config), "AUTHSVC_ISSUER": "from-env",
                             "AUTHSVC_SERVICES": "x, y"})
    assert settings.token_ttl == 600 and settings.issuer == "from-env" and settings.services == ("x", "y")
    assert settings.anonymous_pull is False


@pytest.mark.parametrize("environ, key", [
    ({"AUTHSVC_TOKEN_TTL": "abc"}, "token_ttl"),
    ({"AUTHSVC_TOKEN_TTL": "10"}, "token_ttl"),
    ({"AUTHSVC_BCRYPT_ROUNDS": "3"}, "bcrypt_rounds"),
    ({"AUTHSVC_ANONYMOUS_PULL": "maybe"}, "anonymous_pull"),
    ({"AUTHSVC_REALM": "ftp://x"}, "realm"),
    ({"AUTHSVC_TOKEN_PATH": "token"}, "token_path"),
    ({"AUTHSVC_KID_FORMAT": "x"}, "kid_format"),
    ({"AUTHSVC_SERVICES": " , "}, "services"),
    ({"AUTHSVC_NOPE": "1"}, "AUTHSVC_NOPE"),
    ({"AUTHSVC_CONSOLE_IDLE_MINUTES": "0"}, "console_idle_minutes"),
    ({"AUTHSVC_CONSOLE_IDLE_MINUTES": "121", "AUTHSVC_CONSOLE_MAX_HOURS": "2"}, "console_idle_minutes"),
    ({"AUTHSVC_CONSOLE_MAX_HOURS": "0"}, "console_max_hours"),
    ({"AUTHSVC_CONSOLE_MAX_HOURS": "721"}, "console_max_hours"),
])
def test_invalid_values_name_the_key(environ, key):
    with pytest.raises(SettingsError, match=key):
        load(environ=environ)


def test_bad_files_are_reported(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(SettingsError, match="cannot read"):
        load(environ={"AUTHSVC_CONFIG": str(missing)})
    broken = tmp_path / "broken.toml"
    broken.write_text("token_ttl = = 3")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load(environ={"AUTHSVC_CONFIG": str(broken)})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("token_tll = 300\n")
    with pytest.raises(SettingsError, match="token_tll"):
        load(environ={"AUTHSVC_CONFIG": str(unknown)})
    wrong_type = tmp_path / "wrong.toml"
    wrong_type.write_text("issuer = [1, 2]\n")
    with pytest.raises(SettingsError, match="issuer"):
        load(environ={"AUTHSVC_CONFIG": str(wrong_type)})
