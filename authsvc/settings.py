"""Settings: defaults, then a TOML file, then ``AUTHSVC_*`` variables.

The file is the one ``AUTHSVC_CONFIG`` names (set but empty: no file), or else the user's own
``$XDG_CONFIG_HOME/authsvc/authsvc.toml`` (``~/.config/authsvc/authsvc.toml``) if it exists --
where ``deploy/local/up.sh`` points the CLI at its stack, so that a plain ``authsvc user list``
reads the stack's database rather than creating advice about an empty one elsewhere.  Only the
user's directory is searched, not ``/etc``: a server is always told its file explicitly
(systemd, containers and Kubernetes set ``AUTHSVC_CONFIG``), and a system-wide file would leak
into every other installation and test run on the host.

Every key can be set in all three places; the environment wins so that a
container or systemd unit can override one value without a file.  Values
are validated once, at start, and a bad one stops the service with a
message naming the key; a typo in a key name is an error too, because a
silently ignored ``token_tll = 3600`` is worse than a refusal to start.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .settings_sources import validate_directory, validate_oidc


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the key."""


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "authsvc")


@dataclass(frozen=True)
class Settings:
    #: Where the SQLite file and the signing key live unless set otherwise.
    data_dir: str = field(default_factory=_default_data_dir)
    #: SQLAlchemy URL; empty means SQLite in ``data_dir``.
    database_url: str = ""
    #: The ``iss`` claim; the registry's ``auth.token.issuer`` must be the same.
    issuer: str = "authsvc"
    #: Service names we issue tokens for (the registry's ``auth.token.service``).
    services: tuple[str, ...] = ("registry",)
    #: The public URL of the token endpoint, as the registry's ``auth.token.realm``.
    realm: str = "http://127.0.0.1:5001/token"
    #: Path the token endpoint is served on.
    token_path: str = "/token"
    #: Access-token lifetime in seconds.
    token_ttl: int = 300
    #: Paths of the signing key and certificate; empty means inside ``data_dir``.
    signing_key: str = ""
    signing_cert: str = ""
    #: Validity of a generated self-signed certificate.
    cert_validity_days: int = 1095
    #: ``libtrust`` (registry 2.8 and 3.x through x5c) or ``thumbprint`` (RFC 7638).
    kid_format: str = "libtrust"
    #: The type of key authsvc *generates* (init, first start, ``keys rotate``): ``ES256`` (P-256)
    #: or ``RS256`` (RSA 2048).  Both registry generations accept both; an existing key of the
    #: other type keeps signing until the next rotation.  docs/operations.md, "Token signing".
    signing_algorithm: str = "ES256"
    #: Whether tokens carry the ``x5c`` certificate chain.  Without it (the default) registry 2.8
    #: finds the key by the libtrust ``kid`` and registry 3.x by ``kid`` in its ``jwks`` file, and
    #: neither parses and chains a certificate on every request: about half of what checking a
    #: token costs either registry (docs/performance.md, "The registry's cost of checking a token").
    token_x5c: bool = False
    #: bcrypt work factor for new password hashes.
    bcrypt_rounds: int = 12
    #: Whether callers without credentials may pull from public projects.
    anonymous_pull: bool = True
    #: Seconds a verified password is remembered (keyed hash, never the password); 0 disables.
    credential_cache_ttl: int = 60
    #: The registry as clients name it (host[:port]), for generated pull secrets.
    registry_host: str = ""
    #: Who may create projects: ``admins`` (system administrators) or ``everyone`` logged in.
    project_creation: str = "admins"
    #: Audience of tokens for the REST API (``/token?service=<this>``), never a registry's service.
    api_audience: str = "authsvc-api"
    #: Failed password attempts per (account, source) before throttling starts; 0 disables.
    throttle_threshold: int = 5
    #: Seconds over which failures are counted.
    throttle_window: int = 900
    #: First block, doubled by each further failure, capped at ``throttle_max_delay``.
    throttle_base_delay: int = 2
    throttle_max_delay: int = 300
    #: Reverse proxies in front of authsvc whose X-Forwarded-For is trusted (0: use the peer address).
    proxy_hops: int = 0
    #: Record every token grant in the audit log (failed logins and changes are always recorded).
    audit_token_grants: bool = True
    #: An identical decision (same caller, service and granted access) within this many seconds
    #: gets the token signed for it again instead of a new signature; 0 signs every token.
    token_reuse_seconds: int = 5
    #: Answer the token endpoint's everyday requests in front of Flask (web/fast_token.py); the
    #: rest, and everything when false, goes through the Flask view.  Same answers either way.
    token_fast_path: bool = True
    #: Token grants are written in batches by each worker, at the latest this many seconds after
    #: the answer (a crash loses at most that much of them); 0 writes each one with its request.
    audit_flush_interval: float = 0.1
    #: Seconds a request may take before it is abandoned with 503 (a hung database); 0 disables.
    request_deadline: int = 5
    #: Days a refresh token (docker's stored identity token) lives; then docker login again. 0: forever.
    refresh_token_days: int = 90
    #: Whether ``offline_token=true`` / ``access_type=offline`` yields a refresh token.
    refresh_tokens: bool = True
    #: Shared secret the registry sends (``Authorization: Bearer …``) with its notifications, which
    #: keep the repository inventory; empty disables the endpoint.
    notification_secret: str = ""
    #: Serve Prometheus metrics at ``/metrics`` (otherwise 404).
    metrics_enabled: bool = True
    #: If set, ``/metrics`` requires ``Authorization: Bearer <this>``; empty: open to whoever reaches it.
    metrics_token: str = ""
    #: Log lines as ``text`` (one line, key=value) or ``json`` (one object per line).
    log_format: str = "text"
    #: The web console signs people out after this many minutes without a request.
    console_idle_minutes: int = 30
    #: ... and this many hours after they signed in, however active they were.
    console_max_hours: int = 12

    # -- directory accounts (LDAP / Active Directory); docs/operations.md, "Directory accounts" --
    #: ``ldaps://host:636`` or ``ldap://host:389`` (with ``ldap_start_tls`` or ``ldap_allow_plain``);
    #: empty: no directory, local accounts only.
    ldap_url: str = ""
    #: The service account that finds users and reads groups; empty: bind as the user through
    #: ``ldap_user_dn_template`` (then stand-in credentials cannot re-read groups: see the docs).
    ldap_bind_dn: str = ""
    #: Its password, or better a file holding it (mode 0600, like a key file); never both.
    ldap_bind_password: str = ""
    ldap_bind_password_file: str = ""
    #: Where users are searched, and the filter (``{name}`` is the escaped login name).
    ldap_user_base_dn: str = ""
    ldap_user_filter: str = "(&(objectClass=inetOrgPerson)(uid={name}))"
    #: Instead of a search: the user's DN with ``{name}``, e.g. ``uid={name},ou=people,dc=example,dc=org``.
    ldap_user_dn_template: str = ""
    #: Where groups are searched (empty: groups are not read), and the filter naming the user's
    #: groups (``{dn}``: the user's escaped DN; ``{name}``: the escaped login name).
    ldap_group_base_dn: str = ""
    ldap_group_filter: str = "(&(objectClass=groupOfNames)(member={dn}))"
    #: Attributes: the login name, e-mail address and display name of a user, a group's name.
    ldap_name_attribute: str = "uid"
    ldap_mail_attribute: str = "mail"
    ldap_display_name_attribute: str = "displayName"
    ldap_group_name_attribute: str = "cn"
    #: Members of this directory group are system administrators (while they are in it).
    ldap_admin_group: str = ""
    #: CA certificate(s) (PEM) the directory's certificate must chain to; empty: the system's.
    ldap_tls_ca_file: str = ""
    #: Upgrade an ``ldap://`` connection with StartTLS.
    ldap_start_tls: bool = False
    #: Allow ``ldap://`` without StartTLS: passwords cross the network in clear text.  Tests only.
    ldap_allow_plain: bool = False
    #: Seconds to connect, and to wait for each answer, before "directory unavailable" (503).
    ldap_connect_timeout: float = 3.0
    ldap_receive_timeout: int = 5

    # -- OpenID Connect sign-in; docs/operations.md, "OpenID Connect sign-in" ---------
    #: The provider's issuer URL (its discovery document must name exactly this); empty: off.
    oidc_issuer: str = ""
    #: Shown on the console's button, "Sign in with <this>".
    oidc_provider_name: str = "single sign-on"
    #: The client registered at the provider, and a file holding its secret (mode 0600).
    oidc_client_id: str = ""
    oidc_client_secret_file: str = ""
    #: Scopes asked for (``openid`` is required; some providers need ``groups`` for the groups).
    oidc_scopes: tuple[str, ...] = ("openid", "profile", "email")
    #: Claims that give the user name, e-mail address, display name and the list of groups.
    oidc_username_claim: str = "preferred_username"
    oidc_email_claim: str = "email"
    oidc_display_name_claim: str = "name"
    oidc_groups_claim: str = "groups"
    #: Put before every provider group's name (e.g. ``oidc:``), so that they never meet a
    #: directory group of the same name in a project's group members.
    oidc_groups_prefix: str = ""
    #: Members of this provider group (prefix included) are system administrators.
    oidc_admin_group: str = ""
    #: If set, only people with a verified e-mail address in one of these domains may sign in.
    oidc_allowed_email_domains: tuple[str, ...] = ()
    #: If set, only members of one of these groups (prefix included) may sign in.
    oidc_allowed_groups: tuple[str, ...] = ()
    #: The callback URL registered at the provider; empty: the realm's origin + /login/oidc/callback.
    oidc_redirect_uri: str = ""
    #: CA certificate(s) (PEM) the provider's certificate must chain to; empty: the system's.
    oidc_ca_file: str = ""
    #: Seconds for each call to the provider before "the provider is unavailable".
    oidc_timeout: float = 5.0
    #: Allow an ``http://`` issuer: codes and tokens cross the network in clear text.  Tests only.
    oidc_allow_http: bool = False

    # -- derived values -------------------------------------------------

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir, 'authsvc.db')}"

    @property
    def oidc_callback_url(self) -> str:
        """Where the provider sends the browser back: ``oidc_redirect_uri``, else beside the realm."""
        if self.oidc_redirect_uri:
            return self.oidc_redirect_uri
        scheme, _, rest = self.realm.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/login/oidc/callback"

    @property
    def signing_key_path(self) -> Path:
        return Path(self.signing_key or Path(self.data_dir, "signing.key"))

    @property
    def signing_cert_path(self) -> Path:
        return Path(self.signing_cert or Path(self.data_dir, "signing.crt"))

    @property
    def jwks_path(self) -> Path:
        """Registry 3's ``auth.token.jwks``: public, so beside the certificate (which a deployment
        may keep apart from the private key, on a volume the registry mounts), not the key."""
        return self.signing_cert_path.with_name("jwks.json")

    # Key rotation (``authsvc keys rotate/activate/retire``) keeps up to three certificates in
    # the registry's trust: the next key's (staged, not yet signing), the active one, and the
    # previous one (until every token it signed has expired).  They live beside the active pair.

    @property
    def trust_bundle_path(self) -> Path:
        """The registry's ``rootcertbundle``: every certificate it must trust right now."""
        return self.signing_cert_path.with_name("trust-bundle.pem")

    @property
    def next_key_path(self) -> Path:
        return _sibling(self.signing_key_path, "next")

    @property
    def next_cert_path(self) -> Path:
        return _sibling(self.signing_cert_path, "next")

    @property
    def previous_cert_path(self) -> Path:
        return _sibling(self.signing_cert_path, "previous")


def _sibling(path: Path, tag: str) -> Path:
    """``signing.key`` -> ``signing.next.key``: same directory, same extension."""
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _convert(key: str, value: Any) -> Any:
    """Coerce a file or environment value to the field's type, or raise naming the key."""
    kind = _FIELDS[key].type
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind == "tuple[str, ...]":
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
        if not isinstance(value, (str, int, float)):
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {key!r}: cannot use {value!r} (expected {kind})") from None


def _validate(s: Settings) -> None:
    def bad(key: str, why: str) -> SettingsError:
        return SettingsError(f"setting {key!r}: {why}")

    if not 60 <= s.token_ttl <= 3600:
        raise bad("token_ttl", "must be between 60 and 3600 seconds")
    if not 0 <= s.credential_cache_ttl <= 3600:
        raise bad("credential_cache_ttl", "must be between 0 and 3600 seconds")
    if not 4 <= s.bcrypt_rounds <= 31:
        raise bad("bcrypt_rounds", "must be between 4 and 31")
    if not s.services:
        raise bad("services", "at least one service name is required")
    if not s.issuer:
        raise bad("issuer", "must not be empty")
    if not s.token_path.startswith("/"):
        raise bad("token_path", "must start with '/'")
    if not s.realm.startswith(("http://", "https://")):
        raise bad("realm", "must be an http:// or https:// URL")
    if s.kid_format not in ("libtrust", "thumbprint"):
        raise bad("kid_format", "must be 'libtrust' or 'thumbprint'")
    if s.signing_algorithm not in ("ES256", "RS256"):
        raise bad("signing_algorithm", "must be 'ES256' (P-256) or 'RS256' (RSA 2048)")
    if not s.token_x5c and s.kid_format != "libtrust":
        # Which registries trust us is not known here (registry-config is asked per generation),
        # and registry 2.8 finds a key without x5c only by its libtrust ID: refuse what it rejects.
        raise bad("token_x5c", "false needs kid_format = 'libtrust': without x5c registry 2.8 finds the key "
                  "only by its libtrust kid (registry 3.x by the jwks file 'registry-config --registry-version 3' "
                  "names)")
    if not 1 <= s.cert_validity_days <= 36500:
        raise bad("cert_validity_days", "must be between 1 and 36500")
    if not 0 <= s.throttle_threshold <= 1000:
        raise bad("throttle_threshold", "must be between 0 and 1000")
    if not 1 <= s.throttle_window <= 86400:
        raise bad("throttle_window", "must be between 1 and 86400 seconds")
    if not 1 <= s.throttle_base_delay <= s.throttle_max_delay <= 86400:
        raise bad("throttle_base_delay", "must be at least 1 and at most throttle_max_delay (<= 86400)")
    if not 0 <= s.token_reuse_seconds <= min(30, s.token_ttl // 10):
        raise bad("token_reuse_seconds", "must be between 0 and 30 seconds, and at most a tenth of token_ttl")
    if not 0 <= s.audit_flush_interval <= 5:
        raise bad("audit_flush_interval", "must be between 0 (write with the request) and 5 seconds")
    if not 0 <= s.request_deadline <= 300:
        raise bad("request_deadline", "must be between 0 and 300 seconds")
    if not 0 <= s.refresh_token_days <= 3650:
        raise bad("refresh_token_days", "must be between 0 and 3650")
    if not 0 <= s.proxy_hops <= 10:
        raise bad("proxy_hops", "must be between 0 and 10")
    if s.project_creation not in ("admins", "everyone"):
        raise bad("project_creation", "must be 'admins' or 'everyone'")
    if not s.api_audience or s.api_audience in s.services:
        raise bad("api_audience", "must be set and differ from every registry service name")
    if not s.data_dir:
        raise bad("data_dir", "must not be empty")
    if s.notification_secret and not (len(s.notification_secret) >= 16 and all(
            "!" <= c <= "~" for c in s.notification_secret)):
        raise bad("notification_secret", "must be empty (disabled) or at least 16 printable ASCII "
                  "characters without spaces, e.g. from `openssl rand -hex 32`")
    if s.metrics_token and not (len(s.metrics_token) >= 16 and all("!" <= c <= "~" for c in s.metrics_token)):
        raise bad("metrics_token", "must be empty (no token needed) or at least 16 printable ASCII "
                  "characters without spaces, e.g. from `openssl rand -hex 32`")
    if s.log_format not in ("text", "json"):
        raise bad("log_format", "must be 'text' or 'json'")
    if not 1 <= s.console_max_hours <= 720:
        raise bad("console_max_hours", "must be between 1 and 720 hours")
    if not 1 <= s.console_idle_minutes <= s.console_max_hours * 60:
        raise bad("console_idle_minutes", "must be at least 1 minute and at most console_max_hours")
    if s.ldap_url:
        validate_directory(s, bad)
    if s.oidc_issuer:
        validate_oidc(s, bad)


def user_config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """``$XDG_CONFIG_HOME/authsvc/authsvc.toml`` (``~/.config/...``), or None without a home."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the XDG default
        home = environ.get("HOME", "")
        if not home:
            return None
        base = os.path.join(home, ".config")
    return Path(base, "authsvc", "authsvc.toml")


def config_file(environ: Mapping[str, str] | None = None) -> str | None:
    """The settings file in force: ``AUTHSVC_CONFIG`` if it is set (empty: none at all), else the
    user's :func:`user_config_path` if that file exists, else None (defaults and environment)."""
    environ = os.environ if environ is None else environ
    if "AUTHSVC_CONFIG" in environ:
        return environ["AUTHSVC_CONFIG"] or None
    path = user_config_path(environ)
    return str(path) if path is not None and path.is_file() else None


def describe_source(environ: Mapping[str, str] | None = None) -> str:
    """Where settings come from, for messages that must say which installation they are about."""
    found = config_file(environ)
    if found:
        return f"settings from {found} and the environment"
    environ = os.environ if environ is None else environ
    if "AUTHSVC_CONFIG" in environ:
        return "settings from defaults and the environment: AUTHSVC_CONFIG is empty"
    searched = user_config_path(environ)
    return ("settings from defaults and the environment: no AUTHSVC_CONFIG"
            + (f", no {searched}" if searched else ""))


def load(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build validated settings from defaults, the config file, the environment and ``overrides``."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file(environ)
    if path:
        label = "AUTHSVC_CONFIG" if environ.get("AUTHSVC_CONFIG") else "settings file"
        try:
            with open(path, "rb") as fh:
                from_file = tomllib.load(fh)
        except OSError as exc:
            raise SettingsError(f"{label}: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{label}: {path} is not valid TOML: {exc}") from None
        for key, value in from_file.items():
            if key not in _FIELDS:
                raise SettingsError(f"setting {key!r} in {path} is not a known setting")
            values[key] = _convert(key, value)
    for name, value in environ.items():
        if name.startswith("AUTHSVC_") and name != "AUTHSVC_CONFIG":
            key = name[len("AUTHSVC_"):].lower()
            if key not in _FIELDS:
                raise SettingsError(f"environment variable {name} is not a known setting")
            values[key] = _convert(key, value)
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            raise SettingsError(f"setting {key!r} is not a known setting")
        values[key] = _convert(key, value)
    settings = Settings(**values)
    _validate(settings)
    return settings
