"""What the registry needs from us: its configuration (``auth.token``, and the notifications that
keep the inventory), generated here beside the checks of that configuration
(:mod:`.diagnostics_registry_config`), so that what ``authsvc registry-config`` prints and what
``authsvc doctor`` expects can never drift apart.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ...signing import rotation
from ..errors import Invalid
from ..inventory import EVENTS_PATH
from ..unit_of_work import UnitOfWork


def registry_http_secret(uow: UnitOfWork) -> str:
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


def auth_section(uow: UnitOfWork, *, service: str, registry_version: int, indent: str = "",
                 trust_bundle: str | None = None, jwks: str | None = None) -> str:
    """``trust_bundle``/``jwks``: the files' paths as the registry sees them (a container's mount),
    when not the paths on this machine.

    Registry 3 gets ``jwks`` always: with ``token_x5c`` off it is how 3.x finds our key (the
    libtrust ``kid`` is not among the bundle's thumbprints).  Its ``signingalgorithms`` is an
    allow-list, so it names every trusted key's algorithm and the configured one: a rotation
    from ES256 to RS256 (or back) then needs no new registry config.  Registry 2.8 needs only
    the bundle either way: it finds a key by the libtrust ``kid`` among the bundle's keys."""
    s = uow.settings
    bundle = trust_bundle or str(s.trust_bundle_path.resolve())
    lines = ["auth:", "  token:", f"    realm: {_q(s.realm)}", f"    service: {_q(service)}",
             f"    issuer: {_q(s.issuer)}", f"    rootcertbundle: {_q(bundle)}"]
    if registry_version >= 3:
        allowed = rotation.algorithms(rotation.trusted_keys(uow.context.key_paths), s.signing_algorithm)
        lines += [f"    jwks: {_q(jwks or str(s.jwks_path.resolve()))}",
                  f"    signingalgorithms: [{', '.join(_q(a) for a in allowed)}]"]
    return "\n".join(indent + line for line in lines) + "\n"


def default_events_url(settings) -> str:
    """Where the registry posts its notifications: authsvc's base URL (``realm`` without the token
    path) and the events path, e.g. ``https://auth.example.com/token`` -> ``…/registry/events``."""
    scheme, netloc, path, _, _ = urlsplit(settings.realm)
    path = path[:-len(settings.token_path)] if path.endswith(settings.token_path) else path.rpartition("/")[0]
    return urlunsplit((scheme, netloc, path.rstrip("/") + EVENTS_PATH, "", ""))


def notifications_section(uow: UnitOfWork, *, url: str) -> str:
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


def registry_config(uow: UnitOfWork, *, service: str | None = None, registry_version: int = 2, full: bool = False,
                    addr: str = "127.0.0.1:5000", storage: str = "/var/lib/docker-registry",
                    events_url: str | None = None, trust_bundle: str | None = None, jwks_path: str | None = None,
                    no_http_secret: bool = False) -> str:
    """The registry's configuration (YAML) that trusts this authsvc: its ``auth.token`` section, with
    ``full`` a whole config, and with notification_secret set the inventory's notifications endpoint.
    Publishes the trust bundle (and JWKS) it names first, so they exist and are current."""
    service = service or uow.settings.services[0]
    if service not in uow.settings.services:
        raise Invalid(f"service {service!r} is not among the configured services {list(uow.settings.services)}",
                      field="service")
    if events_url is not None and not uow.settings.notification_secret:
        raise Invalid("--events-url needs notification_secret: set it (e.g. AUTHSVC_NOTIFICATION_SECRET) first")
    if events_url is not None and not events_url.startswith(("http://", "https://")):
        raise Invalid("--events-url must be an http:// or https:// URL")
    for option, value in (("--trust-bundle", trust_bundle), ("--jwks-path", jwks_path)):
        if value is not None and not value.startswith("/"):
            raise Invalid(f"{option} must be an absolute path (as the registry sees it)")
    uow.context.publish_trust()  # the bundle (and JWKS) named below exist and are current
    out = ""
    if full:
        out += ("version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {_q(storage)}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {_q(addr)}\n"
                + ("" if no_http_secret else f"  secret: {_q(registry_http_secret(uow))}\n")
                + "  headers:\n    X-Content-Type-Options: [nosniff]\n")
    out += auth_section(uow, service=service, registry_version=registry_version, trust_bundle=trust_bundle,
                        jwks=jwks_path)
    if uow.settings.notification_secret:
        out += notifications_section(uow, url=events_url or default_events_url(uow.settings))
    return out


