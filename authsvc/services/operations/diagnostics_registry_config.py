"""``authsvc doctor --registry-config FILE``: the registry's own config.yml, compared with ours.

The live checks say *that* a registry rejects our tokens; its config file
says *why* without reading its log: which realm, service and issuer it was
given, and which certificates its ``rootcertbundle`` (and registry 3's
``jwks``) actually hold.  Only the file is read: values the registry takes
from ``REGISTRY_AUTH_TOKEN_*`` environment variables override it and are
not seen here, which the live ``--registry`` checks cover.

The file is parsed with PyYAML, not by hand: operators write registry
configs in every YAML style (flow maps, anchors, quoting), and a doctor
that misreads one would send them chasing a problem that is not there.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...settings import Settings
from ...signing import keys
from ...signing.jwt import TokenSigner
from .diagnostic_checks import FAIL, OK, SKIP, WARN, Check, certificates_in, missing_from

REGENERATE = "compare with 'authsvc registry-config' (it prints the auth.token section that trusts us), then " \
             "restart the registry"


def registry_config_checks(path: Path, s: Settings, material: keys.SigningMaterial | None,
                           next_material: keys.SigningMaterial | None) -> list[Check]:
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
    if material is None:
        checks.append(Check("registry-config-bundle", SKIP, "our signing key did not load"))
        return checks
    checks.append(_bundle(path, token.get("rootcertbundle"), s, material, next_material))
    if token.get("jwks") is not None:
        checks.append(_jwks(path, token["jwks"], s, material, next_material))
    return checks


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
