"""A real OpenLDAP ``slapd`` for the directory-account tests: throw-away config, data and port.

Debian's slapd is started from a slapd.conf-style file (``-f``) with an MDB database under a
temporary directory, loaded with ``slapadd`` before it starts, and listening only on free
127.0.0.1 ports: plain ``ldap://`` (with StartTLS) and ``ldaps://``, both with a server
certificate from a test CA made here with ``cryptography``.  Whatever slapd the package's
postinst may run on port 389 is never touched.  Changes go through the real ``ldapmodify``.

The directory (suffix ``dc=example,dc=org``): people under ``ou=people`` -- ``dana`` and
``eve`` (in ``payments-dev``), ``frank`` (in ``registry-admins``), ``grace`` (in no group),
``clash`` (whose name a local account takes in the tests) -- and ``groupOfNames`` under
``ou=groups``; the service account ``cn=reader,dc=example,dc=org``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SUFFIX = "dc=example,dc=org"
ROOT_DN, ROOT_PASSWORD = f"cn=admin,{SUFFIX}", "admin-secret-1"
READER_DN, READER_PASSWORD = f"cn=reader,{SUFFIX}", "reader-secret-1"
PEOPLE, GROUPS = f"ou=people,{SUFFIX}", f"ou=groups,{SUFFIX}"
PASSWORDS = {"dana": "dana-dir-pass-1", "eve": "eve-dir-pass-1", "frank": "frank-dir-pass-1",
             "grace": "grace-dir-pass-1", "clash": "clash-dir-pass-1"}
GROUP_MEMBERS = {"payments-dev": ("dana", "eve"), "registry-admins": ("frank",), "empty": ()}
STARTUP_TIMEOUT = 15.0


def binaries() -> dict[str, str | None]:
    return {name: shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
            for name in ("slapd", "slapadd", "ldapmodify")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def user_dn(name: str) -> str:
    return f"uid={name},{PEOPLE}"


def _ldif() -> str:
    entries = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example",
               f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
               f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
               f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
               f"cn: reader\nuserPassword: {READER_PASSWORD}"]
    for name, password in PASSWORDS.items():
        entries.append(f"dn: {user_dn(name)}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: {name.title()}\n"
                       f"sn: {name.title()}\ndisplayName: {name.title()} Example\nmail: {name}@example.org\n"
                       f"userPassword: {password}")
    for group, members in GROUP_MEMBERS.items():
        # groupOfNames needs a member: an empty group keeps the admin as a placeholder.
        member_lines = "\n".join(f"member: {user_dn(m)}" for m in members) or f"member: {ROOT_DN}"
        entries.append(f"dn: cn={group},{GROUPS}\nobjectClass: groupOfNames\ncn: {group}\n{member_lines}")
    return "\n\n".join(entries) + "\n"


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost: (ca, cert, key) paths."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authsvc test directory CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(paths[2], 0o600)
    return paths


class Slapd:
    """One slapd under ``root``; :meth:`stop` and :meth:`start` again keep its data (an outage)."""

    def __init__(self, root: Path, bins: dict[str, str]):
        self.root, self.bins = root, bins
        self.root.mkdir(parents=True, exist_ok=True)
        self.ca, cert, key = make_ca(self.root)
        (self.root / "data").mkdir(exist_ok=True)
        self.conf = self.root / "slapd.conf"
        self.conf.write_text("\n".join([
            *(f"include /etc/ldap/schema/{s}.schema" for s in ("core", "cosine", "inetorgperson")),
            "modulepath /usr/lib/ldap", "moduleload back_mdb",
            f"pidfile {self.root / 'slapd.pid'}", f"argsfile {self.root / 'slapd.args'}",
            f"TLSCACertificateFile {self.ca}", f"TLSCertificateFile {cert}", f"TLSCertificateKeyFile {key}",
            "database mdb", f'suffix "{SUFFIX}"', f'rootdn "{ROOT_DN}"', f"rootpw {ROOT_PASSWORD}",
            f"directory {self.root / 'data'}", "maxsize 10485760",
            # People may read their own entry and the groups; the reader everything; no anonymous reads.
            "access to attrs=userPassword by self =w by anonymous auth by * none",
            f'access to * by dn.exact="{READER_DN}" read by self read by users read by * none', ""]))
        loaded = subprocess.run([bins["slapadd"], "-f", str(self.conf), "-b", SUFFIX], input=_ldif(), text=True,
                                capture_output=True, timeout=30)
        if loaded.returncode != 0:
            raise RuntimeError(f"slapadd failed: {loaded.stderr}")
        self.port, self.tls_port = _free_port(), _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def settings(self, **extra) -> dict:
        """authsvc settings for this directory: plain LDAP (tests only) unless ``extra`` says otherwise."""
        return {"ldap_url": self.url, "ldap_allow_plain": True, "ldap_bind_dn": READER_DN,
                "ldap_bind_password": READER_PASSWORD, "ldap_user_base_dn": PEOPLE, "ldap_group_base_dn": GROUPS,
                "ldap_admin_group": "registry-admins", "ldap_connect_timeout": 1.0, "ldap_receive_timeout": 2,
                **extra}

    def start(self) -> None:
        log = open(self.root / "slapd.log", "ab")  # noqa: SIM115 - kept open by the child
        self.process = subprocess.Popen(
            [self.bins["slapd"], "-f", str(self.conf), "-h", f"{self.url}/ {self.ldaps_url}/", "-d", "0"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited at start:\n{(self.root / 'slapd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5), \
                        socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("slapd did not listen within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def modify(self, ldif: str) -> None:
        """Apply an LDIF change with the real ldapmodify, as the directory's administrator."""
        done = subprocess.run([self.bins["ldapmodify"], "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
                              input=ldif, text=True, capture_output=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"ldapmodify failed: {done.stderr}")

    def remove_from_group(self, user: str, group: str) -> None:
        self.modify(f"dn: cn={group},{GROUPS}\nchangetype: modify\ndelete: member\nmember: {user_dn(user)}\n")

    def add_to_group(self, user: str, group: str) -> None:
        self.modify(f"dn: cn={group},{GROUPS}\nchangetype: modify\nadd: member\nmember: {user_dn(user)}\n")
