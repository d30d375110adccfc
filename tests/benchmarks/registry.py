"""The registry's own cost of checking one of our tokens (issue 23), per generation and request.

authsvc signs a token once per ``docker push`` or ``pull``; the registry verifies it on every
request of that push or pull (about 80 for the 20-layer image of item 3).  What that check costs
depends on the registry generation, the key type and whether the header carries the ``x5c``
chain, so each is measured against the same registry binary with no ``auth`` section:

* generations: Debian's ``docker-registry`` (distribution 2.8.2) and the verified distribution
  3.1.1 binary (:mod:`tests.e2e.registries`), each configured by ``authsvc registry-config
  --full`` for its generation with ``auth.token`` replaced by realm, service, issuer and a
  ``rootcertbundle`` holding authsvc's certificate and an RSA one (3.x also gets a ``jwks`` file
  naming both keys by their RFC 7638 thumbprints);
* requests: ``GET /v2/``, ``HEAD`` of a manifest by tag and ``HEAD`` of a blob, of a one-layer
  image uploaded over HTTP to the no-auth registry, whose storage the token registry shares;
* tokens, all with the same claims (pull on the repository) and a day's lifetime, so one token
  serves the whole run as docker reuses one for a whole push: ES256 with ``x5c`` (what authsvc
  issues today: ``TokenSigner`` with the key ``authsvc init`` made), ES256 with only ``kid``,
  RS256 (RSA 2048) with and without ``x5c``.  Without ``x5c`` the ``kid`` is the libtrust key ID
  for 2.8 and the thumbprint for 3.x.  A variant a generation refuses is reported and skipped.

Load: one connection (the time a request takes, 1/rate) and eight (the rate a loaded registry
sustains), by wrk for the GET and by :mod:`.headload` for the HEADs (wrk cannot send those), each variant's run interleaved with the no-auth registry's in an
order rotated every repetition; figures are medians over ``--reps`` runs of ``--seconds``.
Beside each, the registry process's CPU per request (user + system from /proc): the figure a
busy machine moves least, and what a registry host pays.  Every figure says the extra time per
request in µs.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from authsvc.signing import keys
from authsvc.signing.jwt import TokenSigner
from tests.e2e import oci
from tests.e2e.registries import REGISTRY2, REGISTRY3, Generation
from tests.unit.test_registry_compat import self_signed

from .harness import (
    BenchmarkError,
    Figure,
    Load,
    ProductionStack,
    cpu_ms,
    median,
    rotate,
    service_url,
    write_requests,
    wrk,
)
from .headload import head_load
from .images import Registries

GENERATIONS = (REGISTRY2, REGISTRY3)
REPO = "bench/app"
TAG = "v1"
LIFETIME = 24 * 3600
VARIANTS = ("es256_x5c", "es256_kid", "rs256_x5c", "rs256_kid")
CONNECTIONS = (1, 8)
#: What docker sends for a manifest: 2.8 answers a client that accepts no OCI type 404 for one.
MANIFEST_ACCEPT = ", ".join([oci.MANIFEST_MEDIA_TYPE, "application/vnd.oci.image.index.v1+json",
                             "application/vnd.docker.distribution.manifest.v2+json",
                             "application/vnd.docker.distribution.manifest.list.v2+json"])


@dataclass
class Samples:
    """Per-run values of one (generation, request, token, connections): time or rate, CPU."""

    wall: list[float] = field(default_factory=list)   # ms per request (-c 1) or requests/s (-c 8)
    cpu_us: list[float] = field(default_factory=list)


def signing_keys(stack: ProductionStack, root: Path) -> tuple[keys.SigningMaterial, keys.SigningMaterial]:
    """authsvc's own key (made by ``authsvc init``) and an RSA 2048 key with a self-signed
    certificate, as an operator who chose RS256 would have."""
    ec_material = keys.load(stack.data_dir / "signing.key", stack.data_dir / "signing.crt")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    rsa_material = keys.SigningMaterial(rsa_key, self_signed(rsa_key, cn="authsvc rs256 signer",
                                                             not_before=now - dt.timedelta(hours=1)))
    return ec_material, rsa_material


def token_section(generation: Generation, base: dict, materials, root: Path) -> dict:
    """``auth.token`` for the token registry: authsvc's realm, service and issuer; both keys'
    certificates in the bundle; for 3.x both keys in a JWKS under their thumbprints."""
    bundle = root / "registry-bench-bundle.pem"
    bundle.write_bytes(b"".join(m.certificate_pem for m in materials))
    section = {"realm": base["realm"], "service": base["service"], "issuer": base["issuer"],
               "rootcertbundle": str(bundle)}
    if generation.config_version == 3:
        jwks = root / "registry-bench-jwks.json"
        jwks.write_text(json.dumps({"keys": [key for m in materials for key in m.jwks(m.thumbprint)["keys"]]}))
        section["jwks"] = str(jwks)
    return section


def tokens(generation: Generation, materials, *, issuer: str, service: str) -> dict[str, str]:
    """variant -> token.  The x5c ones are ``TokenSigner``'s (kid = libtrust ID, as authsvc's
    default); the kid-only ones carry the same claims, re-signed by PyJWT with only ``kid``."""
    access = [{"type": "repository", "name": REPO, "actions": ["pull"]}]
    found = {}
    for material in materials:
        prefix = material.algorithm.lower()
        signer = TokenSigner(material, issuer=issuer, lifetime=LIFETIME)
        token = signer.issue(subject="bench-alice", audience=service, access=access).token
        claims = jwt.decode(token, options={"verify_signature": False})
        kid = material.libtrust_kid if generation.config_version == 2 else material.thumbprint
        found[f"{prefix}_x5c"] = token
        found[f"{prefix}_kid"] = jwt.encode(claims, material.private_key, algorithm=material.algorithm,
                                            headers={"kid": kid})
    return found


def _http(method: str, url: str, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def push_image(url: str, layout: Path) -> tuple[str, str]:
    """Upload a one-layer OCI image (``tests.e2e.oci``) to the no-auth registry at ``url``, blob
    by blob and then the manifest; return (manifest digest, layer digest)."""
    manifest_digest = oci.build_layout(layout, TAG, "registry-bench")
    blob = lambda digest: (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()  # noqa: E731
    manifest = json.loads(blob(manifest_digest))
    for descriptor in (manifest["config"], *manifest["layers"]):
        status, headers = _http("POST", f"{url}/v2/{REPO}/blobs/uploads/", data=b"")
        if status != 202:
            raise BenchmarkError(f"starting a blob upload to {url} answered {status}")
        location = urllib.parse.urljoin(url, headers["Location"])
        location += ("&" if "?" in location else "?") + "digest=" + urllib.parse.quote(descriptor["digest"])
        status, _ = _http("PUT", location, data=blob(descriptor["digest"]),
                          headers={"Content-Type": "application/octet-stream"})
        if status != 201:
            raise BenchmarkError(f"uploading blob {descriptor['digest']} to {url} answered {status}")
    status, _ = _http("PUT", f"{url}/v2/{REPO}/manifests/{TAG}", data=blob(manifest_digest),
                      headers={"Content-Type": oci.MANIFEST_MEDIA_TYPE})
    if status != 201:
        raise BenchmarkError(f"uploading the manifest to {url} answered {status}")
    return manifest_digest, manifest["layers"][0]["digest"]


def requests_of(layer_digest: str) -> dict[str, tuple[str, str, dict]]:
    return {"get_v2": ("GET", "/v2/", {}),
            "head_manifest": ("HEAD", f"/v2/{REPO}/manifests/{TAG}", {"Accept": MANIFEST_ACCEPT}),
            "head_blob": ("HEAD", f"/v2/{REPO}/blobs/{layer_digest}", {})}


def accepted_variants(run, generation: Generation, url: str, plain_url: str, requests: dict,
                      variants: dict[str, str]) -> list[str]:
    """The variants this generation accepts on every request; the no-auth registry must answer
    all of them 200 (the image is there).  A token accepted on some requests and not others is a
    broken benchmark, not a finding."""
    for name, (method, path, headers) in requests.items():
        status, _ = _http(method, plain_url + path, headers=headers)
        if status != 200:
            raise BenchmarkError(f"{generation.id} without auth answered {method} {path} with {status}")
    accepted = []
    for variant, token in variants.items():
        statuses = {name: _http(method, url + path, headers={**headers, "Authorization": f"Bearer {token}"})[0]
                    for name, (method, path, headers) in requests.items()}
        if all(status == 200 for status in statuses.values()):
            accepted.append(variant)
        elif all(status == 401 for status in statuses.values()):
            run.report.detail(f"{generation.id} refuses {variant} (401): not measured")
        else:
            raise BenchmarkError(f"{generation.id} answered {variant}: {statuses}")
    return accepted


def measure(service, method: str, path: str, headers: dict, request_file: Path, connections: int,
            seconds: float) -> tuple[float, float, float]:
    """One load run of one request: (ms per request, requests/s, registry CPU µs per request).
    GET by wrk; HEAD by :mod:`.headload`, since wrk waits for the body a HEAD never carries."""
    assert service.proc is not None
    before = cpu_ms([service.proc.pid])
    if method == "HEAD":
        result = head_load(service.port, path, headers, connections, seconds)
    else:
        result = wrk(service_url(service), request_file, Load(1, connections, seconds))
    cpu = cpu_ms([service.proc.pid]) - before
    if result.requests == 0:
        raise BenchmarkError(f"no request completed against {service.name}")
    return result.seconds * 1000 / result.requests, result.rps, cpu * 1000 / result.requests


def run_generation(run, stack: ProductionStack, generation: Generation, materials, seconds: float) -> None:
    registries = Registries(run, stack, generation)
    storage = run.root / "registry" / f"{generation.id}-storage"
    storage.mkdir(parents=True)
    plain = registries.start("none", f"{generation.id}-none", storage=storage)
    run.cleanup.callback(plain.stop)
    base = registries.config("token", 0, storage)["auth"]["token"]
    section = token_section(generation, base, materials, run.root / "registry")
    secured = registries.start("token", f"{generation.id}-token", token=section, storage=storage)
    run.cleanup.callback(secured.stop)
    try:
        _, layer = push_image(service_url(plain), run.root / "registry" / f"{generation.id}-image")
        requests = requests_of(layer)
        variants = tokens(generation, materials, issuer=base["issuer"], service=base["service"])
        accepted = accepted_variants(run, generation, service_url(secured), service_url(plain), requests, variants)
        loads = {}  # (request, variant) -> measure's (method, path, headers, request file)
        for name, (method, path, headers) in requests.items():
            for variant in ("none", *accepted):
                sent = {**headers, **({} if variant == "none" else {"Authorization": f"Bearer {variants[variant]}"})}
                loads[name, variant] = (method, path, sent, write_requests(
                    run.root / "registry" / f"{generation.id}-{name}-{variant}.req", [(method, path, None, sent)]))
        if not run.quick:  # warm both processes (page cache, Go's heap) before the first measured run
            for (name, variant), load in loads.items():
                measure(plain if variant == "none" else secured, *load, 8, 1)
        samples: dict[tuple, Samples] = {}
        for rep in range(run.reps):
            for name in requests:
                for connections in CONNECTIONS:
                    for variant in rotate(("none", *accepted), rep):
                        service = plain if variant == "none" else secured
                        ms, rps, cpu = measure(service, *loads[name, variant], connections, seconds)
                        entry = samples.setdefault((name, variant, connections), Samples())
                        entry.wall.append(ms if connections == 1 else rps)
                        entry.cpu_us.append(cpu)
        report(run, generation, requests, accepted, samples)
    finally:
        secured.stop()
        plain.stop()


def report(run, generation: Generation, requests: dict, accepted: list[str], samples: dict) -> None:
    """Per request and token: time per request at one connection, rate at eight, and the
    registry's CPU per request at each; every line with the extra µs a request over no auth."""
    for name, (method, _, _) in requests.items():
        client = "wrk" if method == "GET" else "headload"
        for variant in accepted:
            prefix = f"{generation.id}.{name}.{variant}"
            for connections in CONNECTIONS:
                mine, none = samples[name, variant, connections], samples[name, "none", connections]
                how = f"{client} -c {connections}"
                suffix = "" if connections == 1 else f".c{connections}"
                wall, base = median(mine.wall), median(none.wall)
                if connections == 1:
                    run.report.add(Figure(prefix, wall, "ms", base, "no auth",
                                          note=f"{how}, time per request; {(wall - base) * 1000:+.0f} µs a request; "
                                               f"median of {run.reps}"))
                else:
                    run.report.add(Figure(prefix + suffix, wall, "req/s", base, "no auth",
                                          note=f"{how}; {1e6 / wall - 1e6 / base:+.0f} µs a request; "
                                               f"median of {run.reps}"))
                cpu, cpu_base = median(mine.cpu_us), median(none.cpu_us)
                run.report.add(Figure(prefix + suffix + ".cpu", cpu, "µs", cpu_base, "no auth",
                                      note=f"registry CPU per request, {how}; {cpu - cpu_base:+.0f} µs a request; "
                                           f"median of {run.reps}"))


def run_registry(run) -> None:
    """Both generations, one after the other (only one pair of registries runs at a time)."""
    bins = run.bins()
    stack = ProductionStack(run.root, bins, workers=run.workers, name="authsvc-registry-bench")
    stack.init()  # the signing key and registry-config; authsvc itself is never asked for a token
    materials = signing_keys(stack, run.root)
    # 180 runs (5 servers x 3 requests x 2 loads x 3 repetitions, per generation): 5-s runs by
    # default, not the suite's 15 s, keep it to a quarter of an hour; a run of thousands of
    # requests already fixes the CPU per request.  --seconds overrides both this and --quick's 1 s.
    seconds = run.seconds if run.seconds_given else (1 if run.quick else 5)
    run.report.detail(f"tokens: {', '.join(VARIANTS)}; {' and '.join(map(str, CONNECTIONS))} connections "
                      f"(GET: wrk, HEAD: headload), {seconds:.0f} s x {run.reps}, interleaved with the same "
                      "registry without auth")
    for generation in GENERATIONS:
        run_generation(run, stack, generation, materials, seconds)
