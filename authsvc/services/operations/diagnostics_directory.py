"""``authsvc doctor``'s directory checks (when ``ldap_url`` is set): can authsvc reach the
directory, bind as its service account, and find users with its filter?

Each is what a person would otherwise learn from directory users' 503s ("directory unavailable")
or from nobody being able to sign in: a wrong URL or port, a certificate the CA file does not
vouch for, a locked service account, a base DN or filter that finds no one.
"""

from __future__ import annotations

from ...settings import Settings, SettingsError
from ..authn.directory_client import DirectoryClient, DirectoryUnavailable
from .diagnostic_checks import FAIL, OK, SKIP, WARN, Check


def directory_checks(s: Settings) -> list[Check]:
    if not s.ldap_url:
        return []
    try:
        client = DirectoryClient(s)
        detail = client.check()
    except SettingsError as exc:
        return [Check("directory", FAIL, str(exc), "correct the ldap_* setting it names")]
    except DirectoryUnavailable as exc:
        return [Check("directory", FAIL, f"{s.ldap_url}: {exc.reason or exc.message}",
                      "check ldap_url (host, port, ldaps:// or ldap_start_tls), ldap_tls_ca_file, the "
                      "directory's certificate name, and ldap_bind_dn with its password; authsvc's log has "
                      "the error"),
                Check("directory-search", SKIP, "the directory could not be reached")]
    checks = [Check("directory", OK, f"{s.ldap_url}: {detail}")]
    if not client.can_search:
        return checks + [Check("directory-search", SKIP, "no service account (ldap_bind_dn): users are found "
                               "by ldap_user_dn_template, which needs a password to test")]
    try:
        found = client.sample_search()
    except DirectoryUnavailable as exc:
        return checks + [Check("directory-search", FAIL, exc.reason or exc.message,
                               "check ldap_user_base_dn and ldap_user_filter")]
    if not found:
        return checks + [Check("directory-search", WARN, f"ldap_user_filter finds no user under "
                               f"{s.ldap_user_base_dn!r}: nobody can sign in from the directory",
                               "check ldap_user_base_dn, ldap_user_filter and the service account's read rights")]
    return checks + [Check("directory-search", OK, f"ldap_user_filter finds users under {s.ldap_user_base_dn!r} "
                           f"({found}{'+' if found >= 5 else ''} in a sample)")]
