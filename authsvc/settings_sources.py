"""Checks of the settings for the identity sources beside local accounts: the directory
(LDAP / Active Directory) and the OpenID Connect provider.

Apart from settings.py only because they are long: what can be checked without the network is
checked at start (files when the clients are made, the connections by ``authsvc doctor``).
``bad(key, why)`` makes the error that names the key.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def validate_directory(s, bad) -> None:
    """The directory settings, when ``ldap_url`` is set: what can be checked without the network
    (files are checked as the directory client is made, the connection by ``authsvc doctor``)."""
    scheme, _, rest = s.ldap_url.partition("://")
    if scheme not in ("ldap", "ldaps") or not rest.strip("/"):
        raise bad("ldap_url", "must be ldaps://host[:port] or ldap://host[:port]")
    if scheme == "ldaps" and s.ldap_start_tls:
        raise bad("ldap_start_tls", "is for ldap:// URLs; ldaps:// is TLS from the start")
    if scheme == "ldap" and not (s.ldap_start_tls or s.ldap_allow_plain):
        raise bad("ldap_url", "ldap:// sends passwords in clear text: use ldaps://, or set ldap_start_tls = "
                  "true (or ldap_allow_plain = true, for a test directory only)")
    if s.ldap_bind_password and s.ldap_bind_password_file:
        raise bad("ldap_bind_password", "set ldap_bind_password or ldap_bind_password_file, not both")
    if s.ldap_bind_dn and not (s.ldap_bind_password or s.ldap_bind_password_file):
        raise bad("ldap_bind_dn", "needs ldap_bind_password_file (or ldap_bind_password)")
    if s.ldap_user_dn_template:
        if "{name}" not in s.ldap_user_dn_template:
            raise bad("ldap_user_dn_template", "must contain {name}")
    elif not (s.ldap_bind_dn and s.ldap_user_base_dn):
        raise bad("ldap_user_base_dn", "users are found by a search (ldap_bind_dn, ldap_user_base_dn and "
                  "ldap_user_filter) or by ldap_user_dn_template: set one of them")
    elif "{name}" not in s.ldap_user_filter or not s.ldap_user_filter.startswith("("):
        raise bad("ldap_user_filter", "must be an LDAP filter in parentheses containing {name}")
    if s.ldap_group_base_dn and not ("{dn}" in s.ldap_group_filter or "{name}" in s.ldap_group_filter):
        raise bad("ldap_group_filter", "must contain {dn} (the user's DN) or {name} (the login name)")
    if s.ldap_admin_group and not s.ldap_group_base_dn:
        raise bad("ldap_admin_group", "needs ldap_group_base_dn: groups are not read without it")
    for key in ("ldap_name_attribute", "ldap_mail_attribute", "ldap_display_name_attribute",
                "ldap_group_name_attribute"):
        if not getattr(s, key).replace("-", "").replace(";", "").isalnum():
            raise bad(key, "must be an attribute name (letters, digits, '-')")
    if not 0.1 <= s.ldap_connect_timeout <= 60:
        raise bad("ldap_connect_timeout", "must be between 0.1 and 60 seconds")
    if not 1 <= s.ldap_receive_timeout <= 60:  # whole seconds: the socket option ldap3 sets takes no fraction
        raise bad("ldap_receive_timeout", "must be between 1 and 60 seconds")


def validate_oidc(s, bad) -> None:
    """The provider settings, when ``oidc_issuer`` is set (the secret file is read, and its mode
    checked, as the provider client is made; discovery and keys by ``authsvc doctor``)."""
    issuer = urlsplit(s.oidc_issuer)
    if len(s.oidc_issuer) > 250:
        raise bad("oidc_issuer", "must be at most 250 characters")
    if issuer.scheme not in ("https", "http") or not issuer.hostname or issuer.query or issuer.fragment:
        raise bad("oidc_issuer", "must be the provider's https:// issuer URL, without a query or fragment")
    if issuer.scheme == "http" and not s.oidc_allow_http:
        raise bad("oidc_issuer", "http:// sends codes and tokens in clear text: use https:// (or set "
                  "oidc_allow_http = true, for a test provider only)")
    if not s.oidc_client_id:
        raise bad("oidc_client_id", "must be set: the client id registered at the provider")
    if not s.oidc_client_secret_file:
        raise bad("oidc_client_secret_file", "must name a file (mode 0600) holding the client secret")
    if "openid" not in s.oidc_scopes:
        raise bad("oidc_scopes", "must include 'openid'")
    if any(not scope.isprintable() or " " in scope for scope in s.oidc_scopes):
        raise bad("oidc_scopes", "scopes are single words, separated by commas")
    for key in ("oidc_username_claim", "oidc_email_claim", "oidc_display_name_claim", "oidc_groups_claim"):
        value = getattr(s, key)
        if not value or not value.isprintable() or len(value) > 100:
            raise bad(key, "must be a claim name")
    if s.oidc_redirect_uri:
        redirect = urlsplit(s.oidc_redirect_uri)
        if redirect.scheme not in ("https", "http") or not redirect.hostname or redirect.fragment:
            raise bad("oidc_redirect_uri", "must be an https:// URL (the console's /login/oidc/callback)")
    for key in ("oidc_groups_prefix", "oidc_admin_group", "oidc_provider_name"):
        if not getattr(s, key).isprintable() or len(getattr(s, key)) > 100:
            raise bad(key, "must be printable and at most 100 characters")
    if any("@" in domain or not domain.strip(".") for domain in s.oidc_allowed_email_domains):
        raise bad("oidc_allowed_email_domains", "must be domain names, such as example.com")
    if not 0.5 <= s.oidc_timeout <= 60:
        raise bad("oidc_timeout", "must be between 0.5 and 60 seconds")
