"""Talking to the directory (LDAP / Active Directory) with ldap3: find a user, check their
password by binding as them, read their groups.

Kept apart from the verifier (:mod:`.directory`) so that the rules -- throttle, cache,
provisioning, how long groups count -- read without the protocol, and ``authsvc doctor`` can
use the same client.  Every failure to *talk* to the directory (refused or timed-out connection,
TLS failure, a busy or unwilling server) is :class:`DirectoryUnavailable`, never a wrong
password: a directory outage must not lock people out through the throttle, nor read as "bad
password".  Only "invalid credentials" (result 49) from the user's bind is a wrong password.

User input reaches the directory only escaped: names go into filters through
``escape_filter_chars`` and into DNs through ``escape_rdn``, after the user-name grammar has
already refused anything but ``[a-z0-9._@-]``.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import ssl
import time
from dataclasses import dataclass

from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPCertificateError, LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from ...settings import Settings, SettingsError
from ..errors import ServiceError
from .secret_file import read_secret_file

log = logging.getLogger("authsvc")

INVALID_CREDENTIALS = 49
#: Idle service-account connections a worker keeps (each thread takes one while it searches).
POOL_SIZE = 4
#: More groups than this for one person is a misconfigured filter, not a team.
MAX_GROUPS = 500


class DirectoryUnavailable(ServiceError):
    """The directory did not answer (in time): 503, not a wrong password, and not throttled.
    The code is the API's one code for a 503 (``UNAVAILABLE``, as for a database outage); the
    message names the directory."""
    code = "UNAVAILABLE"
    http_status = 503
    retry_after = 5

    def __init__(self, message: str = "the directory is unavailable; directory accounts cannot sign in "
                                      "right now, retry shortly", *, reason: str = ""):
        super().__init__(message)
        #: Why, for the log and ``authsvc doctor`` only (never the client): a certificate that
        #: does not verify must not read like a directory that is down.
        self.reason = reason


def failure_reason(exc: BaseException) -> str:
    """What went wrong talking to the directory, in one line for the log and ``authsvc doctor``.

    ldap3's socket and StartTLS errors are also the ``ssl`` errors they wrap, so a certificate
    problem is named as such ("certificate verify failed: self-signed certificate ..."), with the
    settings that decide it; anything else is the exception's name and its first line.
    """
    text = " ".join(str(exc).split())
    if isinstance(exc, ssl.SSLCertVerificationError | ssl.CertificateError | LDAPCertificateError):
        found = _VERIFY_FAILED.search(text)
        detail = found.group(0).rstrip(" ,)'\"") if found else f"certificate not accepted: {text}"
        return (f"TLS: {detail} (is ldap_tls_ca_file the CA that signed the directory's certificate, "
                "and does the certificate name the host in ldap_url?)")
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {text}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_VERIFY_FAILED = re.compile(r"(certificate verify failed|hostname mismatch)[^(]*")


@dataclass(frozen=True)
class DirectoryEntry:
    """A user as the directory describes them."""

    dn: str
    name: str
    email: str | None
    display_name: str | None


def _read_bind_password(settings: Settings) -> str:
    path = settings.ldap_bind_password_file
    return read_secret_file("ldap_bind_password_file", path) if path else settings.ldap_bind_password


def _server(settings: Settings) -> Server:
    scheme, _, rest = settings.ldap_url.partition("://")
    hostport = rest.split("/", 1)[0]
    host, _, port = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
    tls = None
    if scheme == "ldaps" or settings.ldap_start_tls:
        ca = settings.ldap_tls_ca_file
        if ca and not os.access(ca, os.R_OK):
            raise SettingsError(f"setting 'ldap_tls_ca_file': cannot read {ca}")
        tls = Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT, ca_certs_file=ca or None)
    try:
        port_number = int(port) if port else (636 if scheme == "ldaps" else 389)
    except ValueError:
        raise SettingsError(f"setting 'ldap_url': bad port in {settings.ldap_url!r}") from None
    return Server(host, port=port_number, use_ssl=scheme == "ldaps", tls=tls, get_info=NONE,
                  connect_timeout=settings.ldap_connect_timeout)


class DirectoryClient:
    """One directory, as the settings describe it; safe to share between a worker's threads."""

    def __init__(self, settings: Settings):
        self.settings = settings
        _server(settings)  # refuse bad TLS settings (an unreadable CA file) at start
        self.bind_password = _read_bind_password(settings) if settings.ldap_bind_dn else ""
        self._pool: queue.LifoQueue[Connection] = queue.LifoQueue(maxsize=POOL_SIZE)
        self._pid = os.getpid()

    @property
    def can_search(self) -> bool:
        """Whether users can be looked up without their password (a service account is set):
        what re-reading a stand-in credential's groups needs."""
        return bool(self.settings.ldap_bind_dn)

    # -- connections -------------------------------------------------------------------------

    def _open(self, user: str, password: str) -> Connection | None:
        """A connection bound as ``user``; None when the directory says "invalid credentials"."""
        # A new Server each time: ldap3 marks an address that once failed as unavailable for 5 s,
        # which would stretch a directory restart into 5 more seconds of 503s.
        connection = Connection(_server(self.settings), user=user, password=password, auto_bind=False,
                                receive_timeout=self.settings.ldap_receive_timeout, auto_referrals=False,
                                raise_exceptions=False, read_only=True)
        try:
            connection.open()
            if self.settings.ldap_start_tls and not connection.start_tls():
                raise DirectoryUnavailable(reason="StartTLS was refused")
            if connection.bind():
                return connection
            result = connection.result.get("result") if connection.result else None
        except LDAPException as exc:
            reason = failure_reason(exc)
            log.warning("directory unavailable: %s", reason)
            _close(connection)
            raise DirectoryUnavailable(reason=reason) from None
        except DirectoryUnavailable as exc:
            log.warning("directory unavailable: %s", exc.reason)
            _close(connection)
            raise
        _close(connection)
        if result == INVALID_CREDENTIALS:
            return None
        log.warning("directory bind refused with result %s", result)
        raise DirectoryUnavailable(reason=f"the bind was refused with result {result}")

    def _with_service(self, work):
        """``work(connection)`` on a pooled connection bound as the service account.

        A kept connection may have been closed by the directory meanwhile (a restart, an idle
        timeout): if it fails at once, the work is tried once more on a new connection.  A
        connection that failed is never given back.
        """
        if self._pid != os.getpid():  # a forked worker never uses its parent's sockets
            self._pool, self._pid = queue.LifoQueue(maxsize=POOL_SIZE), os.getpid()
        try:
            connection, reused = self._pool.get_nowait(), True
        except queue.Empty:
            connection, reused = self._bind_service(), False
        started = time.monotonic()
        try:
            result = work(connection)
        except DirectoryUnavailable:
            _close(connection)
            if not reused or time.monotonic() - started > self.settings.ldap_receive_timeout / 2:
                raise
            connection = self._bind_service()
            try:
                result = work(connection)
            except DirectoryUnavailable:
                _close(connection)
                raise
        try:
            self._pool.put_nowait(connection)
        except queue.Full:
            _close(connection)
        return result

    def _bind_service(self) -> Connection:
        connection = self._open(self.settings.ldap_bind_dn, self.bind_password)
        if connection is None:
            log.error("the directory refused the service account %s (ldap_bind_dn)", self.settings.ldap_bind_dn)
            raise DirectoryUnavailable(reason=f"the directory refused the service account {self.settings.ldap_bind_dn} "
                                              "(ldap_bind_dn and its password)")
        return connection

    # -- reads ---------------------------------------------------------------------------------

    def _search(self, connection: Connection, base: str, ldap_filter: str, attributes: list[str], *,
                scope=SUBTREE, limit: int = 2) -> list[dict]:
        try:
            connection.search(base, ldap_filter, search_scope=scope, attributes=attributes, size_limit=limit,
                              time_limit=self.settings.ldap_receive_timeout)
        except LDAPException as exc:
            reason = failure_reason(exc)
            log.warning("directory search failed: %s", reason)
            raise DirectoryUnavailable(reason=f"search failed: {reason}") from None
        result = connection.result.get("result") if connection.result else None
        if result not in (0, 4, 32):  # success, size limit exceeded, no such object
            log.warning("directory search refused with result %s", result)
            raise DirectoryUnavailable(reason=f"a search was refused with result {result}")
        return [entry for entry in connection.response or [] if entry.get("type") == "searchResEntry"]

    def _entry(self, raw: dict) -> DirectoryEntry:
        attributes = raw.get("attributes", {})
        s = self.settings
        return DirectoryEntry(raw["dn"], _first(attributes.get(s.ldap_name_attribute)) or "",
                              _first(attributes.get(s.ldap_mail_attribute)),
                              _first(attributes.get(s.ldap_display_name_attribute)))

    @property
    def _user_attributes(self) -> list[str]:
        s = self.settings
        return [s.ldap_name_attribute, s.ldap_mail_attribute, s.ldap_display_name_attribute]

    def find(self, name: str) -> DirectoryEntry | None:
        """The one user entry whose name attribute is ``name`` (service account); None for none or
        several (an ambiguous filter must not let one person sign in as another)."""
        ldap_filter = self.settings.ldap_user_filter.replace("{name}", escape_filter_chars(name))
        found = self._with_service(lambda connection: self._search(
            connection, self.settings.ldap_user_base_dn, ldap_filter, self._user_attributes))
        if len(found) != 1:
            return None
        entry = self._entry(found[0])
        return entry if entry.name.lower() == name else None

    def authenticate(self, name: str, password: str) -> tuple[DirectoryEntry, frozenset[str]] | None:
        """The user's entry and groups if ``password`` is theirs; None for unknown or wrong alike."""
        if not password or "\0" in password:  # an empty password is an *unauthenticated* bind: refuse
            return None
        if self.settings.ldap_user_dn_template:
            dn = self.settings.ldap_user_dn_template.replace("{name}", escape_rdn(name))
            entry = None
        else:
            entry = self.find(name)
            if entry is None:
                # Cost what a wrong password costs (a bind), so timing does not tell them apart.
                self._open(f"cn={escape_rdn(name)}-absent,{self.settings.ldap_user_base_dn}", password)
                return None
            dn = entry.dn
        connection = self._open(dn, password)
        if connection is None:
            return None
        try:
            if entry is None:  # DN template: read the entry as the user
                found = self._search(connection, dn, "(objectClass=*)", self._user_attributes, scope=BASE, limit=1)
                entry = self._entry(found[0]) if found else None
                if entry is None or entry.name.lower() != name:
                    return None
            if self.can_search:
                return entry, self._with_service(lambda service: self._groups(service, entry))
            return entry, self._groups(connection, entry)
        finally:
            _close(connection)

    def group_exists(self, group: str) -> bool:
        """Whether a group of that name (``ldap_group_name_attribute``, compared as the directory
        compares it) is under ``ldap_group_base_dn`` (service account).  For ``member add-group``."""
        s = self.settings
        ldap_filter = f"({s.ldap_group_name_attribute}={escape_filter_chars(group)})"
        return bool(self._with_service(lambda connection: self._search(
            connection, s.ldap_group_base_dn, ldap_filter, [s.ldap_group_name_attribute], limit=1)))

    def groups_of(self, name: str) -> frozenset[str] | None:
        """``name``'s groups, read with the service account; None when the directory no longer has
        them.  For stand-in credentials (refresh and API tokens) whose groups have aged out."""
        entry = self.find(name)
        if entry is None:
            return None
        return self._with_service(lambda connection: self._groups(connection, entry))

    def _groups(self, connection: Connection, entry: DirectoryEntry) -> frozenset[str]:
        s = self.settings
        if not s.ldap_group_base_dn:
            return frozenset()
        ldap_filter = (s.ldap_group_filter.replace("{dn}", escape_filter_chars(entry.dn))
                       .replace("{name}", escape_filter_chars(entry.name)))
        found = self._search(connection, s.ldap_group_base_dn, ldap_filter, [s.ldap_group_name_attribute],
                             limit=MAX_GROUPS)
        names = (_first(raw.get("attributes", {}).get(s.ldap_group_name_attribute)) for raw in found)
        # Only names a project group can have (services/access/project_groups.py): one per line
        # on the user's row, so no control characters.
        return frozenset(name.lower() for name in names
                         if name and len(name) <= 200 and not any(ord(c) < 32 or ord(c) == 127 for c in name))

    def check(self) -> str:
        """For ``authsvc doctor``: connect and bind as the service account; a summary, or raises."""
        if not self.can_search:
            connection = Connection(_server(self.settings), auto_bind=False,
                                    receive_timeout=self.settings.ldap_receive_timeout)
            try:
                connection.open()
                if self.settings.ldap_start_tls and not connection.start_tls():
                    raise DirectoryUnavailable("StartTLS was refused", reason="StartTLS was refused")
            except LDAPException as exc:
                reason = failure_reason(exc)
                raise DirectoryUnavailable(f"cannot connect: {reason}", reason=f"cannot connect: {reason}") from None
            finally:
                _close(connection)
            return "connected (no service account: users are bound through ldap_user_dn_template)"
        self._with_service(lambda connection: None)
        return f"connected and bound as {self.settings.ldap_bind_dn}"

    def sample_search(self) -> int:
        """For ``authsvc doctor``: how many user entries the user filter finds (up to 5)."""
        ldap_filter = self.settings.ldap_user_filter.replace("{name}", "*")
        return len(self._with_service(lambda connection: self._search(
            connection, self.settings.ldap_user_base_dn, ldap_filter, [self.settings.ldap_name_attribute], limit=5)))


def _first(value) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value not in (None, "") else None


def _close(connection: Connection) -> None:
    try:
        connection.unbind()
    except Exception:  # noqa: BLE001 - closing a connection that may already be broken
        pass
