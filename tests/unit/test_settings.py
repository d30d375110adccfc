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


_DIRECTORY = {"AUTHSVC_LDAP_URL": "ldaps://ldap.example.org", "AUTHSVC_LDAP_BIND_DN": "cn=reader,dc=example,dc=org",
              "AUTHSVC_LDAP_BIND_PASSWORD": "x", "AUTHSVC_LDAP_USER_BASE_DN": "ou=people,dc=example,dc=org"}


def test_a_complete_directory_configuration_loads():
    settings = load(environ=_DIRECTORY)
    assert settings.ldap_url == "ldaps://ldap.example.org" and settings.ldap_receive_timeout == 5


@pytest.mark.parametrize("change, key", [
    ({"AUTHSVC_LDAP_URL": "http://ldap.example.org"}, "ldap_url"),
    ({"AUTHSVC_LDAP_URL": "ldap://ldap.example.org"}, "ldap_url"),  # clear text needs an explicit yes
    ({"AUTHSVC_LDAP_START_TLS": "true"}, "ldap_start_tls"),  # on ldaps://
    ({"AUTHSVC_LDAP_BIND_PASSWORD_FILE": "/etc/x"}, "ldap_bind_password"),  # both
    ({"AUTHSVC_LDAP_BIND_PASSWORD": ""}, "ldap_bind_dn"),  # a service account without a password
    ({"AUTHSVC_LDAP_USER_BASE_DN": ""}, "ldap_user_base_dn"),
    ({"AUTHSVC_LDAP_USER_FILTER": "(uid=alice)"}, "ldap_user_filter"),
    ({"AUTHSVC_LDAP_USER_DN_TEMPLATE": "uid=x,dc=org"}, "ldap_user_dn_template"),
    ({"AUTHSVC_LDAP_GROUP_BASE_DN": "ou=g", "AUTHSVC_LDAP_GROUP_FILTER": "(cn=ops)"}, "ldap_group_filter"),
    ({"AUTHSVC_LDAP_ADMIN_GROUP": "admins"}, "ldap_admin_group"),  # without a group base
    ({"AUTHSVC_LDAP_NAME_ATTRIBUTE": "uid)(x"}, "ldap_name_attribute"),
    ({"AUTHSVC_LDAP_CONNECT_TIMEOUT": "0"}, "ldap_connect_timeout"),
    ({"AUTHSVC_LDAP_RECEIVE_TIMEOUT": "0.5"}, "ldap_receive_timeout"),
])
def test_directory_settings_are_validated_at_start(change, key):
    with pytest.raises(SettingsError, match=key):
        load(environ={**_DIRECTORY, **change})


def test_plain_ldap_and_start_tls_are_allowed_when_asked_for():
    assert load(environ={**_DIRECTORY, "AUTHSVC_LDAP_URL": "ldap://h", "AUTHSVC_LDAP_START_TLS": "true"}).ldap_start_tls
    assert load(environ={**_DIRECTORY, "AUTHSVC_LDAP_URL": "ldap://h", "AUTHSVC_LDAP_ALLOW_PLAIN": "1"}).ldap_allow_plain
