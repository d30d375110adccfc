"""What the registry needs from us: its ``auth.token`` config, the certificate bundle, a JWKS.

The registry is configured from what ``authsvc`` prints, so the realm,
service, issuer and trust anchor can never drift apart by hand-editing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click

from .common import fail, with_app


def write_jwks(ctx) -> None:
    """Keep ``jwks.json`` (registry 3.x's ``auth.token.jwks``) in step with the signing key."""
    path = ctx.settings.jwks_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(ctx.signing_material.jwks(ctx.signer.kid), indent=2) + "\n")
    os.replace(tmp, path)


def _registry_http_secret(ctx) -> str:
    """The registry's ``http.secret``, made once and kept (0600) in the data dir.

    Registries behind one load balancer must share it, or uploads that hop
    between them fail; a random one per start would break exactly that.
    """
    path = Path(ctx.settings.data_dir, "registry-http-secret")
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _q(value: str) -> str:
    """A YAML scalar: JSON strings are valid double-quoted YAML."""
    return json.dumps(value)


def auth_section(ctx, *, service: str, registry_version: int, indent: str = "") -> str:
    s = ctx.settings
    lines = ["auth:", "  token:", f"    realm: {_q(s.realm)}", f"    service: {_q(service)}",
             f"    issuer: {_q(s.issuer)}", f"    rootcertbundle: {_q(str(s.signing_cert_path.resolve()))}"]
    if registry_version >= 3:
        lines += [f"    jwks: {_q(str(s.jwks_path.resolve()))}",
                  f"    signingalgorithms: [{_q(ctx.signing_material.algorithm)}]"]
    return "\n".join(indent + line for line in lines) + "\n"


def default_events_url(settings) -> str:
    """Where the registry posts its notifications: authsvc's base URL (``realm`` without the token
    path) and the events path, e.g. ``https://auth.example.com/token`` -> ``…/registry/events``."""
    from ..web.notifications import EVENTS_PATH
    scheme, netloc, path, _, _ = urlsplit(settings.realm)
    path = path[:-len(settings.token_path)] if path.endswith(settings.token_path) else path.rpartition("/")[0]
    return urlunsplit((scheme, netloc, path.rstrip("/") + EVENTS_PATH, "", ""))


def notifications_section(ctx, *, url: str) -> str:
    """The registry's ``notifications`` endpoint for the repository inventory.

    Blobs (``application/octet-stream``) and pulls change no inventory, so the registry is told not
    to send them (distribution 2.8 honours ``ignore.actions`` only beside ``ignoredmediatypes``).
    The registry retries an unanswered event every ``backoff`` after ``threshold`` failures, forever,
    holding later events back meanwhile; authsvc answers 200 to every well-formed envelope.
    """
    bearer = _q("Bearer " + ctx.settings.notification_secret)
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
@with_app
def registry_config(ctx, service: str | None, registry_version: int, full: bool, addr: str,
                    storage: str, events_url: str | None) -> None:
    """Print the registry's auth.token configuration (YAML) that trusts this authsvc.

    With notification_secret set, also the notifications endpoint that keeps the repository
    inventory.
    """
    service = service or ctx.settings.services[0]
    if service not in ctx.settings.services:
        fail(f"service {service!r} is not among the configured services {list(ctx.settings.services)}")
    if events_url is not None and not ctx.settings.notification_secret:
        fail("--events-url needs notification_secret: set it (e.g. AUTHSVC_NOTIFICATION_SECRET) first")
    if events_url is not None and not events_url.startswith(("http://", "https://")):
        fail("--events-url must be an http:// or https:// URL")
    if registry_version >= 3:
        write_jwks(ctx)
    out = ""
    if full:
        out += ("version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {_q(storage)}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {_q(addr)}\n  secret: {_q(_registry_http_secret(ctx))}\n"
                "  headers:\n    X-Content-Type-Options: [nosniff]\n")
    out += auth_section(ctx, service=service, registry_version=registry_version)
    if ctx.settings.notification_secret:
        out += notifications_section(ctx, url=events_url or default_events_url(ctx.settings))
    click.echo(out, nl=False)


@click.group("keys")
def keys_group() -> None:
    """The token-signing key and its certificate."""


@keys_group.command("show")
@click.option("--json", "as_json", is_flag=True)
@with_app
def keys_show(ctx, as_json: bool) -> None:
    """Key ids (libtrust for registry 2.8, RFC 7638 thumbprint for 3.x) and certificate validity."""
    material = ctx.signing_material
    cert = material.certificate
    not_after = cert.not_valid_after_utc
    info = {
        "algorithm": material.algorithm,
        "kid": ctx.signer.kid,
        "libtrust_kid": material.libtrust_kid,
        "jwk_thumbprint": material.thumbprint,
        "certificate": str(ctx.settings.signing_cert_path),
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": (not_after - dt.datetime.now(dt.timezone.utc)).days,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            click.echo(f"{key}: {value}")


@keys_group.command("bundle")
@with_app
def keys_bundle(ctx) -> None:
    """Print the certificate bundle (PEM) for the registry's rootcertbundle."""
    click.echo(ctx.signing_material.certificate_pem.decode(), nl=False)


@keys_group.command("jwks")
@with_app
def keys_jwks(ctx) -> None:
    """Print the JWKS document for registry 3.x's auth.token.jwks."""
    click.echo(json.dumps(ctx.signing_material.jwks(ctx.signer.kid), indent=2))
