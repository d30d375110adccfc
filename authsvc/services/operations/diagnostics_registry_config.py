"""``authsvc doctor --registry-config FILE``: the registry's own config.yml, compared with ours.

The live checks say *that* a registry rejects our tokens; its config file
says *why* without reading its log: which realm, service and issuer it was
given, and which certificates its ``rootcertbundle`` (and registry 3's
``jwks``) actually hold.  Only the file is read: values the registry takes
from ``REGISTRY_AUTH_TOKEN_*`` environment variables override it and are
not seen here, which the live ``--registry`` checks cover.

Its ``notifications`` section says whether the registry feeds the repository inventory: an
endpoint posting to our events path with our secret.  A registry that sends nothing leaves
``authsvc repo list`` empty, and one whose secret we do not share (or that posts to an authsvc
without ``notification_secret``) retries every event for ever; both are warnings, since images
still push and pull.  When the file names such an endpoint, that endpoint is asked, with the
registry's own header, to take an envelope without events (which changes nothing): the running
authsvc may disagree with the settings doctor reads, e.g. one started before the secret was set.

The file is parsed with PyYAML, not by hand: operators write registry
configs in every YAML style (flow maps, anchors, quoting), and a doctor
that misreads one would send them chasing a problem that is not there.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from urllib.parse import urlsplit

from ...settings import Settings
from ...signing import keys
from ...signing.jwt import TokenSigner
from ..inventory import EVENTS_PATH
from . import registry_probe
from .diagnostic_checks import FAIL, OK, SKIP, WARN, Check, certificates_in, missing_from
from .registry_config import default_events_url

REGENERATE = "compare with 'authsvc registry-config' (it prints the auth.token section that trusts us), then " \
             "restart the registry"


def registry_config_checks(path: Path, s: Settings, material: keys.SigningMaterial | None,
                           next_material: keys.SigningMaterial | None, *, timeout: float = 5.0,
                           ca_file: str | None = None) -> list[Check]:
    import yaml

    try:
        config = yaml.safe_load(path.read_text())
    except OSError as exc:
        return [Check("registry-config", FAIL, f"cannot read {path}: {exc.strerror}",
                      "give the path of the registry's config.yml (often /etc/docker/registry/config.yml)")]
    except yaml.YAMLError as exc:
        return [Check("registry-config", FAIL, f"{path} is not valid YAML: {str(exc).splitlines()[0]}",
                      "fix the file; the registry itself refuses to start with it")]
    auth = config.get("auth") if isinstance(config, dict) else None
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, dict):
        kinds = ", ".join(auth) if isinstance(auth, dict) and auth else "none"
        return [Check("registry-config", FAIL, f"{path} has no auth.token section (auth: {kinds}): the "
                      "registry does not use token auth", REGENERATE)]
    checks = [Check("registry-config", OK, f"{path} has an auth.token section")]
    checks.append(_same("registry-config-realm", "realm", token.get("realm"), s.realm, "realm"))
    service = token.get("service")
    if service in s.services:
        checks.append(Check("registry-config-service", OK, f"service {service!r} is one of ours"))
    else:
        checks.append(Check("registry-config-service", FAIL, f"auth.token.service is {service!r}, not among our "
                            f"services {list(s.services)}", f"set auth.token.service to {s.services[0]!r}, or "
                            f"add {service!r} to our services setting"))
    checks.append(_same("registry-config-issuer", "issuer", token.get("issuer"), s.issuer, "issuer"))
    checks.append(notifications_check(config, s, timeout=timeout, ca_file=ca_file))
    if material is None:
        checks.append(Check("registry-config-bundle", SKIP, "our signing key did not load"))
        return checks
    checks.append(_bundle(path, token.get("rootcertbundle"), s, material, next_material))
    if token.get("jwks") is not None:
        checks.append(_jwks(path, token["jwks"], s, material, next_material))
    if token.get("signingalgorithms") is not None:
        checks.append(_algorithms(token, s, material, next_material))
    return checks


def _algorithms(token: dict, s: Settings, material, next_material) -> Check:
    """Registry 3's ``signingalgorithms`` is an allow-list: a key whose algorithm it lacks is refused
    (a rotation to another ``signing_algorithm`` needs it listed before activation).  Its presence
    also says this is a registry 3, which without ``x5c`` finds our key only in its ``jwks``."""
    listed = token["signingalgorithms"]
    listed = [str(a) for a in listed] if isinstance(listed, list) else [str(listed)]
    fix = "set auth.token.signingalgorithms as 'authsvc registry-config --registry-version 3' prints it " \
          "and restart the registry"
    if not s.token_x5c and token.get("jwks") is None:
        return Check("registry-config-algorithms", FAIL, "token_x5c is false but this registry 3 config has no "
                     "auth.token.jwks: it cannot find our key by its libtrust kid and rejects every token",
                     f"set auth.token.jwks to {s.jwks_path} and restart the registry (or set token_x5c = true)")
    if material.algorithm not in listed:
        return Check("registry-config-algorithms", FAIL, f"auth.token.signingalgorithms {listed} lacks "
                     f"{material.algorithm}, our active key's: the registry rejects every token we sign", fix)
    if next_material is not None and next_material.algorithm not in listed:
        return Check("registry-config-algorithms", WARN, f"auth.token.signingalgorithms {listed} lacks "
                     f"{next_material.algorithm}, our staged next key's: activating the rotation now would "
                     "break this registry", fix + " before 'authsvc keys activate'")
    return Check("registry-config-algorithms", OK, f"auth.token.signingalgorithms {listed} allows our key(s)")


def _same(name: str, key: str, theirs, ours: str, setting: str) -> Check:
    if theirs == ours:
        return Check(name, OK, f"auth.token.{key} is {ours!r}")
    return Check(name, FAIL, f"auth.token.{key} is {theirs!r}, ours is {ours!r}",
                 f"set auth.token.{key} to {ours!r}, or set our {setting} setting to {theirs!r}")


def _resolve(config_path: Path, value: str) -> Path:
    """A relative path is relative to the registry's working directory, which is unknown here;
    the config file's directory is the likeliest guess."""
    path = Path(value)
    return path if path.is_absolute() else config_path.parent / path


def _bundle(config_path: Path, value, s: Settings, material, next_material) -> Check:
    fix = f"set auth.token.rootcertbundle to {s.trust_bundle_path} (authsvc's trust bundle) and restart the registry"
    if not value:
        return Check("registry-config-bundle", FAIL, "auth.token.rootcertbundle is not set: the registry "
                     "trusts no signer", fix)
    path = _resolve(config_path, str(value))
    try:
        bundle = certificates_in(path)
    except (OSError, ValueError) as exc:
        return Check("registry-config-bundle", FAIL, f"cannot read certificates from rootcertbundle {path}: "
                     f"{getattr(exc, 'strerror', None) or exc}", fix)
    missing = missing_from(bundle, {"active": material, "next (staged)": next_material})
    if "active" in missing:
        return Check("registry-config-bundle", FAIL, f"rootcertbundle {path} does not hold our active "
                     "certificate: the registry rejects every token we sign", fix)
    if missing:
        return Check("registry-config-bundle", WARN, f"rootcertbundle {path} lacks our staged next "
                     "certificate: activating the rotation now would break this registry",
                     f"point it at {s.trust_bundle_path} (re-published by 'authsvc keys rotate') and restart "
                     "the registry before 'authsvc keys activate'")
    return Check("registry-config-bundle", OK, f"rootcertbundle {path} holds our active"
                 f"{' and next' if next_material else ''} certificate")


def _jwks(config_path: Path, value, s: Settings, material, next_material) -> Check:
    path = _resolve(config_path, str(value))
    fix = f"set auth.token.jwks to {s.jwks_path} (written by 'authsvc registry-config --registry-version 3' " \
          "and by key rotation) and restart the registry"
    try:
        document = json.loads(path.read_text())
        kids = {k.get("kid") for k in document.get("keys", []) if isinstance(k, dict)}
    except (OSError, ValueError, AttributeError) as exc:
        return Check("registry-config-jwks", FAIL, f"cannot read JWKS {path}: "
                     f"{getattr(exc, 'strerror', None) or exc}", fix)
    ours = {role: TokenSigner(m, issuer=s.issuer, lifetime=60, kid_format=s.kid_format).kid
            for role, m in (("active", material), ("next", next_material)) if m is not None}
    missing = [f"{role} ({kid})" for role, kid in ours.items() if kid not in kids]
    if missing:
        return Check("registry-config-jwks", FAIL, f"JWKS {path} lacks our {' and '.join(missing)} key id",
                     fix)
    return Check("registry-config-jwks", OK, f"JWKS {path} holds our key id(s)")


SET_SECRET = ("set notification_secret (16+ printable characters, e.g. `openssl rand -hex 32`; the same on every "
              "instance) and restart authsvc, then regenerate the registry's config with 'authsvc registry-config' "
              "(it adds the notifications endpoint) and restart the registry")


def notifications_check(config: dict, s: Settings, *, timeout: float = 5.0, ca_file: str | None = None) -> Check:
    """Does this registry config feed the repository inventory, and would authsvc take what it sends?"""
    name = "registry-config-notifications"
    section = config.get("notifications")
    endpoints = section.get("endpoints") if isinstance(section, dict) else None
    ours = [e for e in endpoints or [] if isinstance(e, dict)
            and urlsplit(str(e.get("url") or "")).path.rstrip("/").endswith(EVENTS_PATH)]
    if not ours:
        why = ("although our notification_secret is set" if s.notification_secret
               else "and our notification_secret is not set")
        return Check(name, WARN, f"the registry sends no notifications to authsvc (no endpoint posting to "
                     f"{default_events_url(s)}) {why}: the repository inventory ('authsvc repo list', 'tag list') "
                     "stays empty", SET_SECRET if not s.notification_secret else
                     "regenerate the registry's config with 'authsvc registry-config' and restart the registry")
    endpoint = ours[0]
    url = str(endpoint["url"])
    if endpoint.get("disabled") is True:
        return Check(name, WARN, f"the registry's notifications endpoint {url} is disabled: the repository "
                     "inventory stays empty", "remove 'disabled: true' and restart the registry")
    header = _authorization(endpoint.get("headers"))
    retries = "the registry retries every event for ever and the repository inventory stays empty"
    if not s.notification_secret:
        return Check(name, WARN, f"the registry posts notifications to {url}, but our notification_secret is "
                     f"not set, so authsvc refuses them (404): {retries}",
                     "set notification_secret to the secret after 'Bearer ' in the registry's Authorization "
                     "header and restart authsvc (or " + SET_SECRET + ")")
    if not hmac.compare_digest((header or "").encode("utf-8", "replace"),
                               f"Bearer {s.notification_secret}".encode()):
        return Check(name, WARN, f"the registry posts notifications to {url} with "
                     f"{'another secret than' if header else 'no Authorization header, not'} our "
                     f"notification_secret, so authsvc refuses them (401): {retries}",
                     "regenerate the registry's config with 'authsvc registry-config' and restart the registry")
    return _live(name, url, header, timeout, ca_file)


def _live(name: str, url: str, header: str, timeout: float, ca_file: str | None) -> Check:
    """The file agrees with our settings; ask the running authsvc, which may not (started before the
    secret was set, or with another one)."""
    try:
        status = registry_probe.events_status(url, header, timeout=timeout, ca_file=ca_file)
    except registry_probe.RegistryUnreachable as exc:
        return Check(name, OK, f"the registry posts its notifications to {url} with our secret (that URL "
                     f"does not answer from here, so the running authsvc was not asked: {exc})")
    if 200 <= status < 300:
        return Check(name, OK, f"the registry posts its notifications to {url} with our secret, and "
                     "authsvc there accepts them")
    what = {404: "has no notification_secret", 401: "has another notification_secret"}.get(
        status, f"answers HTTP {status}")
    return Check(name, WARN, f"the registry posts its notifications to {url} with our secret, but the authsvc "
                 f"answering there {what}: the registry retries every event for ever and the repository "
                 "inventory stays empty", "restart authsvc with these settings (it reads notification_secret "
                 "only at start)")


def _authorization(headers) -> str | None:
    """The endpoint's Authorization header (a list of values in the registry's config, or one)."""
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if str(key).lower() == "authorization":
            value = value[0] if isinstance(value, list) and value else value
            return str(value) if isinstance(value, str) else None
    return None
