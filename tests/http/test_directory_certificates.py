"""Issue 20: a directory whose certificate does not verify is not "down".

The client's answer stays the generic 503 (a certificate's details are for the operator, not
for whoever sends a password), but the log line and ``authsvc doctor`` name the certificate
problem.  Real TLS handshakes: the session's slapd (tests/support/slapd.py) presents a server
certificate from a CA made for the test run, which authsvc is not told to trust here.
"""

from __future__ import annotations

import logging

import pytest

from tests.http.conftest import served
from tests.support.http import basic
from tests.support.slapd import PASSWORDS

VERIFY_FAILED = "certificate verify failed"


@pytest.mark.parametrize("how", ["ldaps", "starttls"])
def test_an_untrusted_certificate_is_a_generic_503_but_named_in_the_log(tmp_path, slapd, caplog, how):
    tls = {"ldap_url": slapd.ldaps_url} if how == "ldaps" else {"ldap_start_tls": True}
    with served(tmp_path, **slapd.settings(ldap_allow_plain=False, **tls)) as application:
        client = application.test_client()
        with caplog.at_level(logging.WARNING, logger="authsvc"):
            refused = client.get("/token", query_string={"service": "registry"},
                                 headers=basic("dana", PASSWORDS["dana"]))
    assert refused.status_code == 503
    error = refused.get_json()["errors"][0]
    assert error["code"] == "UNAVAILABLE" and error["message"].startswith("the directory is unavailable")
    assert "certificate" not in refused.get_data(as_text=True).lower()
    logged = [r.getMessage() for r in caplog.records if r.name == "authsvc" and "directory" in r.getMessage()]
    assert any(VERIFY_FAILED in line and "ldap_tls_ca_file" in line for line in logged), logged
