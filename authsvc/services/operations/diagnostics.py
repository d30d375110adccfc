"""``authsvc doctor``: every way this installation and its registry can disagree, checked at once.

A token-auth registry fails closed and says little: a wrong realm, service,
issuer or trust bundle all end in "unauthorized" at the client, and the
reason is only in the registry's log.  These checks look at each piece from
authsvc's side (settings, database, key, certificate, trust bundle) and,
given a registry, from the registry's side (its challenge, whether it
accepts a token we sign, its config file), and pair each problem with the
command or setting that fixes it.

Read-only on purpose: no app is built (``create_app`` would create the data
directory and the SQLite file), nothing is migrated or generated -- a doctor
that "fixed" a wrong data dir by initialising an empty one would hide the
problem it is there to find.  The checks return data; the CLI renders it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ... import settings as settings_module
from ...settings import Settings, SettingsError
from ...signing import keys
from ...signing.jwt import TokenSigner
from ...signing.rotation import EXPIRY_WARNING_DAYS
from . import registry_probe
from .diagnostic_checks import FAIL, OK, SKIP, WARN, Check, certificates_in, missing_from
from .diagnostics_directory import directory_checks
from .diagnostics_oidc import oidc_checks
from .key_mounts import judge_key_mode, read_only_mount

#: The ``sub`` of the test token; it carries no access, so it can do nothing if it leaked.
PROBE_SUBJECT = "authsvc-doctor"
INIT_FIX = "run 'authsvc init' with the same settings (AUTHSVC_CONFIG / AUTHSVC_*) as the server"
ROTATE_FIX = ("stage a new key with 'authsvc keys rotate', restart the registries so they load the new "
              "trust bundle, then 'authsvc keys activate'")


@dataclass
class _State:
    """What earlier checks learned that later ones need."""

    settings: Settings | None = None
    material: keys.SigningMaterial | None = None
    next_material: keys.SigningMaterial | None = None


def run_checks(*, environ: Mapping[str, str] | None = None, registry_url: str | None = None,
               registry_config: str | None = None, service: str | None = None, ca_file: str | None = None,
               timeout: float = 5.0, now: dt.datetime | None = None) -> list[Check]:
    """Every check, in the order a person would fix things (configuration first)."""
    now = now or dt.datetime.now(dt.UTC)
    state = _State()
    out: list[Check] = []
    try:
        state.settings = settings_module.load(environ)
    except SettingsError as exc:
        out.append(Check("config", FAIL, str(exc), "correct that value in the file named by AUTHSVC_CONFIG "
                         "or in the AUTHSVC_* environment (config/authsvc.example.toml documents every key)"))
        if registry_url:  # what the registry says is still worth knowing; nothing to compare it with
            out += _challenge_checks(registry_url, None, timeout, ca_file)[0]
        return out
    s = state.settings
    source = settings_module.config_file(environ)
    out.append(Check("config", OK, f"settings from {source or 'defaults'} and the environment; "
                     f"data_dir {s.data_dir}, issuer {s.issuer!r}, services {', '.join(s.services)}"))
    out += _database_checks(s)
    out += _key_checks(s, state, now)
    out += _bundle_checks(s, state)
    out += directory_checks(s)
    out += oidc_checks(s)
    if registry_url:
        out += _registry_checks(registry_url, state, service, timeout, ca_file)
    if registry_config:
        from .diagnostics_registry_config import registry_config_checks
        out += registry_config_checks(Path(registry_config), s, state.material, state.next_material,
                                      timeout=timeout, ca_file=ca_file)
    return out


def exit_status(checks: list[Check]) -> int:
    """1 if anything failed; warnings alone are not a failure (they need attention, not a page)."""
    return 1 if any(c.status == FAIL for c in checks) else 0


# -- database -------------------------------------------------------------------------------


def _database_checks(s: Settings) -> list[Check]:
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from ...store import schema
    from ...store.models import User

    where = make_url(s.sqlalchemy_url).render_as_string(hide_password=True)
    if not s.database_url:
        path = Path(s.data_dir, "authsvc.db")
        if not path.exists():
            return [Check("database", FAIL, f"{path} does not exist (data_dir {s.data_dir})",
                          f"{INIT_FIX}; or set data_dir / database_url to where the data is")]
    try:
        schema.require_driver(s.sqlalchemy_url)
    except schema.MissingDriver as exc:
        return [Check("database", FAIL, exc.reason, exc.fix)]
    connect_args = {"connect_timeout": 3} if s.sqlalchemy_url.startswith("postgresql") else {}
    engine = create_engine(s.sqlalchemy_url, connect_args=connect_args)
    try:
        current, head = schema.current_revision(engine), schema.head_revision()
        if current != head:
            if current is None:
                return [Check("database", FAIL, f"{where} has no authsvc schema", INIT_FIX)]
            if _known_revision(current):
                return [Check("database", FAIL, f"{where}: schema at {current}, this release needs {head}",
                              "run 'authsvc db upgrade' (back the database up first)")]
            return [Check("database", FAIL, f"{where}: schema at {current}, newer than this release ({head})",
                          "run the authsvc release that migrated this database")]
        with engine.connect() as connection:
            admins = connection.execute(select(func.count()).select_from(User)
                                        .where(User.is_admin.is_(True), User.is_active.is_(True))).scalar_one()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return [Check("database", FAIL, f"cannot use {where}: {reason}",
                      "check database_url and that the database server runs and accepts this user")]
    finally:
        engine.dispose()
    checks = [Check("database", OK, f"{where}, schema at {current}")]
    if admins:
        checks.append(Check("administrators", OK, f"{admins} active system administrator(s)"))
    else:
        checks.append(Check("administrators", WARN, "no active system administrator: nobody can manage "
                            "users through the API", "authsvc user create NAME --admin"))
    return checks


def _known_revision(revision: str) -> bool:
    """Whether this release ships ``revision`` (an older schema) or not (a newer release wrote it)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from ...store import schema
    try:
        return ScriptDirectory(str(schema.MIGRATIONS)).get_revision(revision) is not None
    except CommandError:
        return False


# -- key, certificate, trust bundle ---------------------------------------------------------


def _key_checks(s: Settings, state: _State, now: dt.datetime) -> list[Check]:
    key_path, cert_path = s.signing_key_path, s.signing_cert_path
    try:
        state.material = keys.load(key_path, cert_path)
    except keys.KeyFileError as exc:
        if not key_path.exists() and not cert_path.exists():
            fix = INIT_FIX
        elif not key_path.exists() or not cert_path.exists():
            fix = ("restore the missing file from backup ('authsvc init' refuses to overwrite half a pair); "
                   "failing that, move the other away and run 'authsvc init', then give the registries the "
                   "new trust bundle")
        else:
            fix = "restore the matching key and certificate from backup"
        return [Check("signing-key", FAIL, str(exc), fix)]
    checks = [Check("signing-key", OK, f"{state.material.algorithm} key {key_path} matches {cert_path}")]
    if state.material.algorithm != s.signing_algorithm:
        checks.append(Check("signing-algorithm", WARN, f"the active key is {state.material.algorithm} but "
                            f"signing_algorithm is {s.signing_algorithm}: tokens are signed "
                            f"{state.material.algorithm} until the next key rotation",
                            "to switch now: 'authsvc keys rotate' (it makes a " + s.signing_algorithm + " key), "
                            "restart the registries (a registry 3 config from 'authsvc registry-config "
                            "--registry-version 3' must list both algorithms), then 'authsvc keys activate'"))
    verdict = judge_key_mode(key_path)
    checks.append(Check("key-permissions", OK if verdict.ok else FAIL, verdict.detail, verdict.fix))
    checks.append(_expiry(state.material.certificate, cert_path, now))
    if s.next_key_path.exists() or s.next_cert_path.exists():
        try:
            state.next_material = keys.load(s.next_key_path, s.next_cert_path)
        except keys.KeyFileError as exc:
            checks.append(Check("next-key", FAIL, f"a staged rotation is broken: {exc}",
                                "run 'authsvc keys rotate' again to stage a fresh next key"))
    return checks


def _expiry(cert: x509.Certificate, path: Path, now: dt.datetime) -> Check:
    before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
    stamp = after.strftime("%Y-%m-%d %H:%M UTC")
    if now < before:
        return Check("certificate", FAIL, f"{path} is not valid before {before:%Y-%m-%d %H:%M} UTC: the "
                     "registry rejects every token (is this machine's clock right?)",
                     "correct the clock, or " + ROTATE_FIX)
    if now >= after:
        return Check("certificate", FAIL, f"{path} expired on {stamp}: the registry rejects every token",
                     ROTATE_FIX)
    days = (after - now).days
    if days < EXPIRY_WARNING_DAYS:
        return Check("certificate", WARN, f"{path} expires on {stamp} ({days} days left)", ROTATE_FIX)
    return Check("certificate", OK, f"valid until {stamp} ({days} days left)")


def _holds(bundle: list[x509.Certificate], cert_path: Path) -> bool:
    try:
        wanted = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    return wanted.public_bytes(serialization.Encoding.DER) in {
        c.public_bytes(serialization.Encoding.DER) for c in bundle}


def _bundle_checks(s: Settings, state: _State) -> list[Check]:
    path = s.trust_bundle_path
    republish = f"run 'authsvc keys rotate' (it re-publishes {path}), then restart the registries"
    if state.material is None:
        return [Check("trust-bundle", SKIP, "the signing key did not load")]
    if not path.exists():
        mount = read_only_mount(s.signing_cert_path)
        if mount is not None:  # a Secret with the key pair only: the registry mounts the bundle elsewhere
            return [Check("trust-bundle", SKIP, f"{path} is not here: the certificate is on {mount}, which "
                          "holds the key pair only; the registry reads the bundle from its own mount "
                          "(--registry URL checks that it trusts our key)")]
        return [Check("trust-bundle", FAIL, f"{path} does not exist: a registry pointed at it cannot start "
                      "or trusts nothing", republish)]
    try:
        bundle = certificates_in(path)
    except (OSError, ValueError) as exc:
        return [Check("trust-bundle", FAIL, f"cannot read certificates from {path}: {exc}", republish)]
    missing = missing_from(bundle, {"active": state.material, "next (staged)": state.next_material})
    if missing:
        return [Check("trust-bundle", FAIL, f"{path} lacks the {' and the '.join(missing)} certificate: "
                      "registries using it reject tokens signed with that key", republish)]
    if s.previous_cert_path.exists() and not _holds(bundle, s.previous_cert_path):
        return [Check("trust-bundle", WARN, f"{path} lacks the previous certificate "
                      f"({s.previous_cert_path}): tokens signed before the last activation are rejected "
                      "until they expire", republish)]
    return [Check("trust-bundle", OK, f"{path} holds the active"
                  f"{' and next' if state.next_material else ''} certificate ({len(bundle)} in all)")]


# -- a live registry ------------------------------------------------------------------------


def _is_local(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _challenge_checks(url: str, s: Settings | None, timeout: float,
                      ca_file: str | None) -> tuple[list[Check], registry_probe.Challenge | None]:
    """registry-challenge (and, with settings, registry-realm and registry-service), and the
    challenge itself if the registry answered."""
    try:
        challenge = registry_probe.fetch_challenge(url, timeout=timeout, ca_file=ca_file)
    except registry_probe.RegistryUnreachable as exc:
        return [Check("registry-challenge", FAIL, str(exc), "check the URL and that the registry runs and "
                      "listens there (firewall, DNS); for a private CA give --ca-file")], None
    configure = "give the registry the auth.token section 'authsvc registry-config' prints, and restart it"
    if challenge.status == 200:
        return [Check("registry-challenge", FAIL, f"{url} answers /v2/ without credentials: it has no "
                      "authentication, anyone may push and pull", configure)], challenge
    if challenge.status != 401 or (challenge.scheme or "").lower() != "bearer":
        what = f"HTTP {challenge.status}" + (f", {challenge.scheme} auth" if challenge.scheme else "")
        return [Check("registry-challenge", FAIL, f"{url}/v2/ answered {what}, not a 401 Bearer challenge: "
                      "is this a registry with token auth?", configure)], challenge
    checks = [Check("registry-challenge", OK, f"401 Bearer, realm {challenge.realm!r}, "
                    f"service {challenge.service!r}")]
    if s is None:
        return checks, challenge
    if challenge.realm == s.realm:
        checks.append(Check("registry-realm", OK, f"the registry sends clients to {s.realm}"))
    else:
        checks.append(Check("registry-realm", FAIL, f"the registry sends clients to {challenge.realm!r}, "
                            f"our realm is {s.realm!r}",
                            f"set the registry's auth.token.realm to {s.realm} (as 'authsvc registry-config' "
                            "prints), or set our realm setting if theirs is our public URL"))
    if challenge.service in s.services:
        checks.append(Check("registry-service", OK, f"service {challenge.service!r} is one of ours"))
    else:
        checks.append(Check("registry-service", FAIL, f"the registry's service {challenge.service!r} is not "
                            f"among our services {list(s.services)}: we refuse its clients' token requests",
                            f"set the registry's auth.token.service to {s.services[0]!r}, or add "
                            f"{challenge.service!r} to our services setting"))
    return checks, challenge


def _registry_checks(url: str, state: _State, service: str | None, timeout: float,
                     ca_file: str | None) -> list[Check]:
    s = state.settings
    checks: list[Check] = []
    parts = urlsplit(url)
    if parts.scheme == "http" and not _is_local(parts.hostname):
        checks.append(Check("registry-url", WARN, f"{url} is plain HTTP: passwords and tokens cross the "
                            "network readable", "serve the registry (and authsvc) over https"))
    found, challenge = _challenge_checks(url, s, timeout, ca_file)
    checks += found
    if challenge is None:
        checks.append(Check("registry-token", SKIP, "the registry did not answer"))
        return checks
    if found[0].status == FAIL:
        checks.append(Check("registry-token", SKIP, "the registry does not ask for bearer tokens"))
        return checks
    if state.material is None:
        checks.append(Check("registry-token", SKIP, "no signing key to sign a test token with"))
        return checks
    if service is None:
        service = challenge.service if challenge.service in s.services else s.services[0]
    elif service not in s.services:
        checks.append(Check("registry-token", FAIL, f"--service {service!r} is not among our services "
                            f"{list(s.services)}", "name one of our services, or add it to the services setting"))
        return checks
    signer = TokenSigner(state.material, issuer=s.issuer, lifetime=60, kid_format=s.kid_format, x5c=s.token_x5c)
    token = signer.issue(subject=PROBE_SUBJECT, audience=service, access=[]).token
    try:
        accepted, detail = registry_probe.token_accepted(url, token, timeout=timeout, ca_file=ca_file)
    except registry_probe.RegistryUnreachable as exc:
        checks.append(Check("registry-token", FAIL, str(exc), "check that the registry stays up"))
        return checks
    if accepted:
        checks.append(Check("registry-token", OK, f"a token we signed (audience {service!r}) is accepted"))
        if state.next_material is not None:
            checks.append(_next_key_check(url, state, service, timeout, ca_file))
    else:
        checks.append(Check("registry-token", FAIL, f"a token we signed (issuer {s.issuer!r}, audience "
                            f"{service!r}, kid {signer.kid}) is {detail}",
                            f"likely causes, in order: the registry's auth.token.rootcertbundle is not our "
                            f"trust bundle {s.trust_bundle_path} ('authsvc keys bundle' prints it), on registry 3 its "
                            f"auth.token.jwks is not {s.jwks_path}, or the "
                            f"registry was not restarted since it changed; its auth.token.issuer is not "
                            f"{s.issuer!r}; its auth.token.service is not {service!r}; its clock and ours differ by "
                            "minutes. The registry's log names the reason"))
    return checks


def _next_key_check(url: str, state: _State, service: str, timeout: float, ca_file: str | None) -> Check:
    """During a rotation: may ``keys activate`` switch yet, i.e. does the registry trust the staged key?"""
    s = state.settings
    token = TokenSigner(state.next_material, issuer=s.issuer, lifetime=60, kid_format=s.kid_format,
                        x5c=s.token_x5c).issue(subject=PROBE_SUBJECT, audience=service, access=[]).token
    try:
        accepted, _ = registry_probe.token_accepted(url, token, timeout=timeout, ca_file=ca_file)
    except registry_probe.RegistryUnreachable as exc:
        return Check("registry-next-key", FAIL, str(exc), "check that the registry stays up")
    if accepted:
        return Check("registry-next-key", OK, "the registry already trusts the staged next key: "
                     f"'authsvc keys activate --registry {url}' may switch")
    return Check("registry-next-key", WARN, "the registry does not trust the staged next key yet: "
                 "activating it now would fail every pull",
                 f"restart the registry so it reads {s.trust_bundle_path}, then authsvc keys activate --registry {url}")
