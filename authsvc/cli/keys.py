"""What the registry needs from us: its configuration, the certificate bundle, a JWKS; and the keys.

The registry is configured from what ``authsvc`` prints, so the realm,
service, issuer and trust anchor can never drift apart by hand-editing
(the generator is ``services/registry_config.py``).
"""

from __future__ import annotations

import json

import click

from ..services.operations import key_rotation
from ..services.operations import registry_config as registry_config_service
from ..signing import rotation
from .common import fail, with_app


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
    click.echo(registry_config_service.registry_config(
        uow, service=service, registry_version=registry_version, full=full, addr=addr, storage=storage,
        events_url=events_url, trust_bundle=trust_bundle, jwks_path=jwks_path, no_http_secret=no_http_secret),
        nl=False)


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
