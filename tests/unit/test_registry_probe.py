"""The registry probe: challenge parsing, and its HTTP behaviour against a tiny local server.

The real registry is exercised by tests/e2e/test_doctor.py; here a stdlib server gives the
answers a registry can give (and some it should not), so each branch is covered quickly.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from authsvc.services.operations.registry_probe import (
    RegistryUnreachable,
    fetch_challenge,
    parse_www_authenticate,
    token_accepted,
)

CHALLENGE = 'Bearer realm="https://auth.example.com/token?a=1,b=2",service="reg, \\"x\\"",scope="repository:p/r:pull,push"'


def test_parse_quoted_values_with_commas_and_escapes():
    scheme, params = parse_www_authenticate(CHALLENGE)
    assert scheme == "Bearer"
    assert params == {"realm": "https://auth.example.com/token?a=1,b=2", "service": 'reg, "x"',
                      "scope": "repository:p/r:pull,push"}


@pytest.mark.parametrize("header, scheme, params", [
    ('Basic realm="Registry Realm"', "Basic", {"realm": "Registry Realm"}),
    ('bearer  Realm = "r" , SERVICE=svc', "bearer", {"realm": "r", "service": "svc"}),
    ('Bearer realm="unterminated', "Bearer", {"realm": "unterminated"}),
    ('Bearer', "Bearer", {}),
    ('Bearer abc123==, realm="r"', "Bearer", {"realm": "r"}),
    ('', None, {}),
])
def test_parse_odd_headers(header, scheme, params):
    assert parse_www_authenticate(header) == (scheme, params)


class _Registry(BaseHTTPRequestHandler):
    accept = "good-token"

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path != "/v2/":
            self.send_response(404)
            self.end_headers()
            return
        auth = self.headers.get("Authorization", "")
        if auth == f"Bearer {self.accept}":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")
            return
        body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}).encode()
        self.send_response(401)
        header = CHALLENGE
        if auth:
            header += ',error="invalid_token"'
        self.send_header("WWW-Authenticate", header)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def registry():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("suffix", ["", "/", "/v2", "/v2/"])
def test_fetch_challenge(registry, suffix):
    challenge = fetch_challenge(registry + suffix, timeout=2)
    assert (challenge.status, challenge.scheme) == (401, "Bearer")
    assert challenge.realm == "https://auth.example.com/token?a=1,b=2"
    assert challenge.service == 'reg, "x"'
    assert challenge.raw == CHALLENGE


def test_token_accepted_and_rejected(registry):
    assert token_accepted(registry, "good-token", timeout=2) == (True, "accepted (HTTP 200)")
    ok, detail = token_accepted(registry, "bad-token", timeout=2)
    assert not ok
    assert detail == "rejected (HTTP 401): invalid_token, UNAUTHORIZED, authentication required"
    assert "bad-token" not in detail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_connection_is_unreachable():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(RegistryUnreachable, match="cannot reach .*refused"):
        fetch_challenge(url, timeout=2)
    with pytest.raises(RegistryUnreachable):
        token_accepted(url, "t", timeout=2)


def test_silent_server_times_out():
    with socket.socket() as listener:       # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with pytest.raises(RegistryUnreachable, match="timed out|no answer"):
            fetch_challenge(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5)


@pytest.mark.parametrize("url", ["127.0.0.1:5000", "ftp://x/", "http://"])
def test_bad_url_is_refused_clearly(url):
    with pytest.raises(RegistryUnreachable, match="not an http:// or https:// URL"):
        fetch_challenge(url)


@pytest.fixture
def tls_registry(tmp_path):
    """The same answers over HTTPS, with a self-signed certificate for 127.0.0.1."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test registry")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", str(tmp_path / "tls.crt")
    server.shutdown()
    server.server_close()


def test_tls_is_verified_against_the_system_store_or_a_ca_file(tls_registry, tmp_path):
    url, ca_file = tls_registry
    with pytest.raises(RegistryUnreachable, match="TLS certificate not trusted.*--ca-file"):
        fetch_challenge(url, timeout=2)
    assert fetch_challenge(url, timeout=2, ca_file=ca_file).scheme == "Bearer"
    assert token_accepted(url, "good-token", timeout=2, ca_file=ca_file) == (True, "accepted (HTTP 200)")
    with pytest.raises(RegistryUnreachable, match="cannot use CA file"):
        fetch_challenge(url, timeout=2, ca_file=str(tmp_path / "missing.pem"))
