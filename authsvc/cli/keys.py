"""What the registry needs from us: its ``auth.token`` config, the certificate bundle, a JWKS.

The registry is configured from what ``authsvc`` prints, so the realm,
service, issuer and trust anchor can never drift apart by hand-editing.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click

from ..services import key_rotation
from ..signing import rotation
from .common import fail, with_app


def _registry_http_secret(uow) -> str:
    """The registry's ``http.secret``, made once and kept (0600) in the data dir.

    Registries behind one load balancer must share it, or uploads that hop
    between them fail; a random one per start would break exactly that.
    """
    path = Path(uow.settings.data_dir, "registry-http-secret")
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _q(value: str) -> str:
    """A YAML scalar: JSON strings are valid double-quoted YAML."""
    return json.dumps(value)


def auth_section(uow, *, service: str, registry_version: int, indent: str = "",
                 trust_bundle: str | None = None, jwks: str | None = None) -> str:
    """``trust_bundle``/``jwks``: the files' paths as the registry sees them (a container's mount),
    when not the paths on this machine."""
    s = uow.settings
    bundle = trust_bundle or str(s.trust_bundle_path.resolve())
    lines = ["auth:", "  token:", f"    realm: {_q(s.realm)}", f"    service: {_q(service)}",
             f"    issuer: {_q(s.issuer)}", f"    rootcertbundle: {_q(bundle)}"]
    if registry_version >= 3:
        lines += [f"    jwks: {_q(jwks or str(s.jwks_path.resolve()))}",
                  f"    signingalgorithms: [{_q(uow.context.signing_material.algorithm)}]"]
    return "\n".join(indent + line for line in lines) + "\n"


def default_events_url(settings) -> str:
    """Where the registry posts its notifications: authsvc's base URL (``realm`` without the token
    path) and the events path, e.g. ``https://auth.example.com/token`` -> ``…/registry/events``."""
    from ..web.notifications import EVENTS_PATH
    scheme, netloc, path, _, _ = urlsplit(settings.realm)
    path = path[:-len(settings.token_path)] if path.endswith(settings.token_path) else path.rpartition("/")[0]
    return urlunsplit((scheme, netloc, path.rstrip("/") + EVENTS_PATH, "", ""))


def notifications_section(uow, *, url: str) -> str:
    """The registry's ``notifications`` endpoint for the repository inventory.

    Blobs (``application/octet-stream``) and pulls change no inventory, so the registry is told not
    to send them (distribution 2.8 honours ``ignore.actions`` only beside ``ignoredmediatypes``).
    The registry retries an unanswered event every ``backoff`` after ``threshold`` failures, forever,
    holding later events back meanwhile; authsvc answers 200 to every well-formed envelope.
    """
    bearer = _q("Bearer " + uow.settings.notification_secret)
    lines = ["notifications:", "  endpoints:", '    - name: "authsvc"', f"      url: {_q(url)}", "      headers:",
             f"        Authorization: [{bearer}]", "      timeout: 5s", "      threshold: 5", "      backoff: 1s",
             '      ignoredmediatypes: ["application/octet-stream"]', "      ignore:",
             '        mediatypes: ["application/octet-stream"]', '        actions: ["pull"]']
    return "\n".join(lines) + "\n"


@click.command("registry-config")
@click.option("--service", help="The registry's service name (default: the first configured).")
@click.option("--registry-version", type=click.IntRange(2, 3), default=2, show_default=True,
              help="3 adds the jwks and signingalgorithms keys of distribution v3.")
@click.option("--full", is_flag=True, help="Print a whole registry config, not only auth.")
@click.option("--addr", default="127.0.0.1:5000", show_default=True, help="With --full: http.addr.")
@click.option("--storage", default="/var/lib/docker-registry", show_default=True,
              help="With --full: filesystem storage root.")
@click.option("--events-url", help="Where the registry posts notifications (default: from realm).")
@click.option("--trust-bundle", metavar="PATH",
              help="rootcertbundle as the registry sees it (e.g. its container's mount of the bundle).")
@click.option("--jwks-path", metavar="PATH", help="With --registry-version 3: jwks as the registry sees it.")
@click.option("--no-http-secret", is_flag=True,
              help="With --full: leave http.secret out (give the registry REGISTRY_HTTP_SECRET instead).")
@with_app
def registry_config(uow, service: str | None, registry_version: int, full: bool, addr: str,
                    storage: str, events_url: str | None, trust_bundle: str | None, jwks_path: str | None,
                    no_http_secret: bool) -> None:
    """Print the registry's auth.token configuration (YAML) that trusts this authsvc.

    With notification_secret set, also the notifications endpoint that keeps the repository
    inventory.
    """
    service = service or uow.settings.services[0]
    if service not in uow.settings.services:
        fail(f"service {service!r} is not among the configured services {list(uow.settings.services)}")
    if events_url is not None and not uow.settings.notification_secret:
        fail("--events-url needs notification_secret: set it (e.g. AUTHSVC_NOTIFICATION_SECRET) first")
    if events_url is not None and not events_url.startswith(("http://", "https://")):
        fail("--events-url must be an http:// or https:// URL")
    for option, value in (("--trust-bundle", trust_bundle), ("--jwks-path", jwks_path)):
        if value is not None and not value.startswith("/"):
            fail(f"{option} must be an absolute path (as the registry sees it)")
    uow.context.publish_trust()  # the bundle (and JWKS) named below exist and are current
    out = ""
    if full:
        out += ("version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {_q(storage)}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {_q(addr)}\n"
                + ("" if no_http_secret else f"  secret: {_q(_registry_http_secret(uow))}\n")
                + "  headers:\n    X-Content-Type-Options: [nosniff]\n")
    out += auth_section(uow, service=service, registry_version=registry_version, trust_bundle=trust_bundle,
                        jwks=jwks_path)
    if uow.settings.notification_secret:
        out += notifications_section(uow, url=events_url or default_events_url(uow.settings))
    click.echo(out, nl=False)


@click.group("keys")
def keys_group() -> None:
    """The token-signing key and its certificate."""


@keys_group.command("show")
@click.option("--json", "as_json", is_flag=True)
@with_app
def keys_show(uow, as_json: bool) -> None:
    """The signing key (kids for both registry generations), certificate expiry, rotation state."""
    material = uow.context.signing_material
    not_after = material.certificate.not_valid_after_utc
    state = key_rotation.status(uow)
    info = {
        "algorithm": material.algorithm,
        "kid": uow.signer.kid,
        "libtrust_kid": material.libtrust_kid,
        "jwk_thumbprint": material.thumbprint,
        "certificate": str(uow.settings.signing_cert_path),
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": int(rotation.days_left(material.certificate)),
        "trust_bundle": state["bundle"],
        "trusted": state["keys"],
        "next_step": state["next_step"],
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            if key == "trusted":
                for entry in value:
                    click.echo(f"trusted: {entry['role']} {entry['kid']} until {entry['not_after']}")
            elif value is not None:
                click.echo(f"{key}: {value}")
    _warn_about_expiry(info["days_left"])
    if not state["bundle_current"]:
        click.echo(f"authsvc: warning: {state['bundle']} is missing or stale; run 'authsvc init' to "
                   "rewrite it, then restart the registry", err=True)


def _warn_about_expiry(days_left: int) -> None:
    if days_left < rotation.EXPIRY_WARNING_DAYS:
        what = "has EXPIRED" if days_left < 0 else f"expires in {days_left} days"
        click.echo(f"authsvc: warning: the signing certificate {what}: registries reject tokens after that; "
                   "run 'authsvc keys rotate' (see docs/operations.md, Key rotation)", err=True)


@keys_group.command("bundle")
@with_app
def keys_bundle(uow) -> None:
    """Print the trust bundle (PEM): every certificate the registry's rootcertbundle must hold."""
    click.echo(rotation.bundle_pem(rotation.trusted_keys(uow.context.key_paths)).decode(), nl=False)


@keys_group.command("jwks")
@with_app
def keys_jwks(uow) -> None:
    """Print the JWKS document for registry 3.x's auth.token.jwks (every trusted key)."""
    document = rotation.jwks_document(rotation.trusted_keys(uow.context.key_paths), kid_format=uow.settings.kid_format)
    click.echo(json.dumps(document, indent=2))


registry_option = click.option("--registry", "registries", multiple=True, metavar="URL",
                               help="A registry that must accept the new key first (repeat for each).")
ca_option = click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
                         help="CA certificate(s) for a registry with a private TLS CA.")


@keys_group.command("rotate")
@registry_option
@click.option("--wait", type=click.IntRange(0, 86400), default=0, show_default=True, metavar="SECONDS",
              help="With --registry: how long to wait for the registries to be restarted.")
@ca_option
@with_app
def keys_rotate(uow, registries: tuple[str, ...], wait: int, ca_file: str | None) -> None:
    """Start a key rotation: create the next key and publish a bundle trusting old and new.

    Then restart the registries (they read the bundle at start).  With --registry, the switch to
    the new key happens here as soon as every registry named accepts it; without, run
    'authsvc keys activate --registry URL' after the restart.
    """
    kid, created = key_rotation.stage(uow)
    paths = uow.context.key_paths
    click.echo(f"next key: {kid} ({'created' if created else 'already staged'}) in {paths.next_key}")
    click.echo(f"published: {paths.bundle} and {paths.jwks} (active + next)")
    if not registries:
        click.echo("next: restart every registry that uses the bundle, then run "
                   "'authsvc keys activate --registry URL'")
        return
    verdicts = key_rotation.wait_until_trusted(uow, list(registries), timeout=wait, ca_file=ca_file)
    _activate_if_trusted(uow, verdicts)


@keys_group.command("activate")
@registry_option
@click.option("--skip-registry-check", is_flag=True,
              help="Switch without asking any registry (every pull fails until they trust the new key).")
@ca_option
@with_app
def keys_activate(uow, registries: tuple[str, ...], skip_registry_check: bool, ca_file: str | None) -> None:
    """Sign with the staged key from now on, once the registries accept it.

    Running authsvc workers switch within seconds; the old certificate stays in the bundle
    until 'authsvc keys retire'.
    """
    if not registries and not skip_registry_check:
        fail("name every registry that must trust the new key with --registry URL "
             "(or --skip-registry-check to switch without asking them)")
    verdicts = key_rotation.probe_next_key(uow, list(registries), ca_file=ca_file) if registries else []
    _activate_if_trusted(uow, verdicts)


def _activate_if_trusted(uow, verdicts) -> None:
    for verdict in verdicts:
        mark = "accepts" if verdict.accepted else "does NOT accept"
        click.echo(f"registry {verdict.url} {mark} the new key ({verdict.detail})")
    if not all(v.accepted for v in verdicts):
        fail("not switching: restart the registries above with the new bundle "
             f"({uow.context.key_paths.bundle}), then run 'authsvc keys activate --registry URL'")
    kid = key_rotation.activate(uow)
    click.echo(f"signing with {kid} now; running workers switch within seconds")
    click.echo(f"later: 'authsvc keys retire' after {uow.settings.token_ttl + 10} s, when the old key's "
               "tokens have expired; then restart the registries")


@keys_group.command("retire")
@click.option("--force", is_flag=True, help="Drop the old key now, failing its unexpired tokens.")
@with_app
def keys_retire(uow, force: bool) -> None:
    """Finish a rotation: drop the previous key from the bundle once its tokens have expired."""
    kid = key_rotation.retire(uow, force=force)
    click.echo(f"retired {kid}; {uow.context.key_paths.bundle} now holds "
               f"{len(rotation.trusted_keys(uow.context.key_paths))} certificate(s): restart the registries to stop "
               "trusting it")
