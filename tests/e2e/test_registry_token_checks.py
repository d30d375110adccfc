"""What the real registries accept, case by case, next to the Python model of their token checks.

``tests/unit/registry_verifier.py`` restates distribution's token verification for 2.8 and 3.x;
``tests/unit/test_registry_compat.py`` uses it for what no binary here can show (v3.0's key-ID
bug, chains through a CA, leeway edges at a fixed clock).  Here every case -- authsvc's own
tokens and tokens bent one way each -- is put to a real registry and to the model of that
generation, and the two must agree:

* Debian's docker-registry 2.8.2 with ``rootcertbundle``;
* distribution 3.1.1 in each ``auth.token`` form an operator may write: authsvc's
  (``registry-config --registry-version 3``: bundle, ``jwks``, ``signingalgorithms``), the
  bundle alone, and ``jwks`` alone.

The harness must discriminate too: authsvc's token is accepted and a stranger's refused, per
configuration, or a registry that refuses (or accepts) everything would agree with nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from authsvc.signing import keys
from tests.unit import registry_verifier as rv
from tests.unit.test_registry_compat import ISSUER, REPO, SERVICE, issue, resign, self_signed

from .processes import Service, free_port, http_status
from .registries import REGISTRY2, REGISTRY3, Generation
from .stack import STARTUP_TIMEOUT, registry_environ

pytestmark = pytest.mark.e2e

#: id -> (generation, which auth.token keys the registry gets)
CONFIGURATIONS = {
    "registry2": (REGISTRY2, ("rootcertbundle",)),
    "registry3-as-generated": (REGISTRY3, ("rootcertbundle", "jwks", "signingalgorithms")),
    "registry3-bundle-only": (REGISTRY3, ("rootcertbundle",)),
    "registry3-jwks-only": (REGISTRY3, ("jwks",)),
}


class Keys:
    """authsvc's key, a stranger's, an expired one still in the bundle, an RSA one in the bundle."""

    def __init__(self, root: Path, now: dt.datetime):
        self.material = keys.generate(root / "k.key", root / "k.crt", common_name="authsvc", validity_days=30)
        self.other = keys.generate(root / "o.key", root / "o.crt", common_name="intruder", validity_days=30)
        self.old = keys.generate(root / "old.key", root / "old.crt", common_name="old", validity_days=1,
                                 now=now - dt.timedelta(days=10))
        self.renewed = keys.SigningMaterial(self.material.private_key,
                                            self_signed(self.material.private_key, cn="authsvc",
                                                        not_before=now - dt.timedelta(hours=1)))
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_cert = keys.SigningMaterial(self.rsa, self_signed(self.rsa, cn="rsa signer",
                                                                   not_before=now - dt.timedelta(hours=1)))
        self.bundle = self.material.certificate_pem + self.old.certificate_pem + self.rsa_cert.certificate_pem
        # What authsvc publishes with the default kid_format: every trusted key under its libtrust ID.
        self.jwks = {"keys": [*self.material.jwks(self.material.libtrust_kid)["keys"],
                              *self.old.jwks(self.old.libtrust_kid)["keys"]]}


def token_config(root: Path, k: Keys, wanted: tuple[str, ...]) -> dict:
    (root / "bundle.pem").write_bytes(k.bundle)
    (root / "jwks.json").write_text(json.dumps(k.jwks))
    every = {"rootcertbundle": str(root / "bundle.pem"), "jwks": str(root / "jwks.json"),
             "signingalgorithms": ["ES256"]}
    return {"realm": "http://auth.test/token", "service": SERVICE, "issuer": ISSUER,
            **{key: every[key] for key in wanted}}


def start_registry(root: Path, generation: Generation, binary: str, token: dict) -> tuple[Service, int]:
    import yaml

    port = free_port()
    config = {"version": 0.1, "log": {"level": "error"},
              "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
              "http": {"addr": f"127.0.0.1:{port}"}, "auth": {"token": token}}
    (root / "config.yml").write_text(yaml.safe_dump(config))
    service = Service(f"registry ({generation.id})", [binary, "serve", str(root / "config.yml")],
                      env=registry_environ(generation),
                      log_path=root / "registry.log").start()
    service.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/v2/") == 401, timeout=STARTUP_TIMEOUT,
                       what="GET /v2/ answered 401")
    return service, port


def answer(port: int, token: str, path: str = "/v2/", method: str = "GET") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def cases(k: Keys, now: dt.datetime) -> dict[str, tuple[str, str | None]]:
    """name -> (token, None for GET /v2/ | "pull" | "push")."""
    m = k.material
    token = issue(m, now=now)
    lib = {"kid": m.libtrust_kid}
    t = int(now.timestamp())
    pull_only = [{"type": "repository", "name": REPO, "actions": ["pull"]}]
    return {
        "authsvc token, libtrust kid": (token, None),
        "authsvc token, thumbprint kid": (issue(m, kid_format="thumbprint", now=now), None),
        "libtrust kid only": (resign(token, m.private_key, headers=lib), None),
        "thumbprint kid only": (resign(token, m.private_key, headers={"kid": m.thumbprint}), None),
        "kid under an upper-case key": (resign(token, m.private_key, headers={"KID": m.libtrust_kid}), None),
        "empty x5c falls back to kid": (resign(token, m.private_key, headers={**lib, "x5c": []}), None),
        "another key, its own x5c": (issue(k.other, now=now), None),
        "our x5c, another key's signature": (
            resign(token, k.other.private_key, headers={**lib, "x5c": [m.certificate_der_b64]}), None),
        "wrong issuer": (issue(m, issuer="elsewhere", now=now), None),
        "wrong audience": (issue(m, audience="elsewhere", now=now), None),
        "audience list": (resign(token, m.private_key, headers={**lib, "x5c": [m.certificate_der_b64]},
                                 claims={"aud": ["elsewhere", SERVICE]}), None),
        "expired certificate in x5c": (issue(k.old, now=now), None),
        "expired certificate, kid only": (resign(issue(k.old, now=now), k.old.private_key,
                                                 headers={"kid": k.old.libtrust_kid}), None),
        "renewed certificate not in bundle": (issue(k.renewed, now=now), None),
        "RS256 with x5c in the bundle": (resign(token, k.rsa, algorithm="RS256",
                                                headers={"x5c": [k.rsa_cert.certificate_der_b64]}), None),
        "HS256 naming a trusted kid": (resign(token, b"k" * 32, algorithm="HS256", headers=lib), None),
        **{f"{what}, {via}": (resign(token, m.private_key, headers=headers, claims=claims), None)
           for via, headers in (("kid only", lib), ("x5c", {**lib, "x5c": [m.certificate_der_b64]}))
           for what, claims in (("exp 70 s ago", {"exp": t - 70}), ("exp 40 s ago", {"exp": t - 40}),
                                ("nbf 70 s ahead", {"nbf": t + 70}), ("nbf 40 s ahead", {"nbf": t + 40}),
                                ("fractional exp", {"exp": t + 100.5}))},
        "push with a pull,push token": (token, "push"),
        "push with a pull token": (issue(m, now=now, access=pull_only), "push"),
        "push with a * token": (issue(m, now=now, access=[{"type": "repository", "name": REPO,
                                                           "actions": ["*"]}]), "push"),
        "pull with a name=* token": (issue(m, now=now, access=[{"type": "repository", "name": "*",
                                                                "actions": ["*"]}]), "pull"),
    }


REQUESTS = {None: ("/v2/", "GET", None),
            "pull": (f"/v2/{REPO}/tags/list", "GET", [("repository", REPO, "pull")]),
            "push": (f"/v2/{REPO}/blobs/uploads/", "POST",
                     [("repository", REPO, "pull"), ("repository", REPO, "push")])}


def model_accepts(generation: Generation, token: dict, k: Keys, case: str, needed) -> bool:
    try:
        if generation is REGISTRY2:
            rv.verify_v2(case, issuer=ISSUER, service=SERVICE, rootcert_pems=k.bundle, needed=needed)
        else:
            rv.verify_v3(case, issuer=ISSUER, service=SERVICE, needed=needed, version="3.1",
                         rootcert_pems=k.bundle if "rootcertbundle" in token else None,
                         jwks=k.jwks if "jwks" in token else None, algorithms=token.get("signingalgorithms"))
    except rv.TokenRejected:
        return False
    return True


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_the_model_agrees_with_the_real_registry(configuration: str, tmp_path: Path):
    generation, wanted = CONFIGURATIONS[configuration]
    binary = generation.binary()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    k = Keys(tmp_path, now)
    token = token_config(tmp_path, k, wanted)
    service, port = start_registry(tmp_path, generation, binary, token)
    try:
        differences, verdicts = [], {}
        for name, (case, action) in cases(k, now).items():
            path, method, needed = REQUESTS[action]
            real = answer(port, case, path, method) != 401
            verdicts[name] = real
            if real != model_accepts(generation, token, k, case, needed):
                differences.append(f"{name}: the registry {'accepts' if real else 'rejects'}, the model disagrees")
    finally:
        service.stop()
    assert not differences, "\n".join(differences) + f"\n--- registry log ---\n{service.log_tail()}"
    # The harness discriminates: authsvc's own token (it carries x5c, so jwks alone cannot take
    # it), a token the JWKS names (registry 2.8 finds the libtrust kid in the bundle), a stranger's.
    assert verdicts["authsvc token, libtrust kid"] == ("rootcertbundle" in wanted), verdicts
    assert verdicts["libtrust kid only"] == (generation is REGISTRY2 or "jwks" in wanted), verdicts
    assert verdicts["another key, its own x5c"] is False, verdicts
    # registry 3's signingalgorithms is an allow-list: authsvc's ["ES256"] refuses an RS256 token
    # that chains to the bundle, which the registry without it accepts.
    assert verdicts["RS256 with x5c in the bundle"] == ("signingalgorithms" not in wanted and "rootcertbundle" in wanted)


#: id -> (generation, auth.token keys, whether a token without x5c is accepted): what
#: ``signing_algorithm`` and ``token_x5c`` need from each generation.
CHOICE_CONFIGURATIONS = {
    "registry2": (REGISTRY2, ("rootcertbundle",), True),
    "registry3-as-generated": (REGISTRY3, ("rootcertbundle", "jwks", "signingalgorithms"), True),
    "registry3-bundle-only": (REGISTRY3, ("rootcertbundle",), False),
}


@pytest.mark.parametrize("configuration", CHOICE_CONFIGURATIONS)
def test_rs256_keys_and_tokens_without_x5c_are_accepted_where_documented(configuration: str, tmp_path: Path):
    """A rotation's overlap from an ES256 to an RS256 key, published as authsvc publishes it
    (bundle and JWKS of both keys, ``signingalgorithms`` from :func:`rotation.algorithms`, as
    ``registry-config --registry-version 3`` prints it): tokens of either key, with and without
    ``x5c``, put to the real registry and to the model."""
    from authsvc.settings import load
    from authsvc.signing import rotation
    from authsvc.signing.jwt import TokenSigner

    generation, wanted, without_x5c = CHOICE_CONFIGURATIONS[configuration]
    binary = generation.binary()
    paths = rotation.KeyPaths.from_settings(load({}, {"data_dir": str(tmp_path / "keys")}))
    keys.generate(paths.key, paths.cert, common_name="authsvc", validity_days=30, algorithm="ES256")
    rotation.stage(paths, common_name="authsvc", validity_days=30, kid_format="libtrust", algorithm="RS256")
    stranger = keys.generate(tmp_path / "o.key", tmp_path / "o.crt", common_name="intruder", validity_days=30,
                             algorithm="RS256")
    allowed = rotation.algorithms(rotation.trusted_keys(paths), "RS256")
    every = {"rootcertbundle": str(paths.bundle), "jwks": str(paths.jwks), "signingalgorithms": allowed}
    token_keys = {"realm": "http://auth.test/token", "service": SERVICE, "issuer": ISSUER,
                  **{key: every[key] for key in wanted}}
    signers = {(m.algorithm, x5c): TokenSigner(m, issuer=ISSUER, lifetime=300, x5c=x5c)
               for m in (keys.load(paths.key, paths.cert), keys.load(paths.next_key, paths.next_cert))
               for x5c in (True, False)}
    service, port = start_registry(tmp_path, generation, binary, token_keys)
    try:
        verdicts, model = {}, {}
        access = [{"type": "repository", "name": REPO, "actions": ["pull", "push"]}]
        for (algorithm, x5c), signer in signers.items():
            name = f"{algorithm} {'with' if x5c else 'without'} x5c"
            token = signer.issue(subject="alice", audience=SERVICE, access=access).token
            verdicts[name] = answer(port, token, f"/v2/{REPO}/tags/list") != 401
            model[name] = _model(generation, token_keys, paths, token)
        stray = TokenSigner(stranger, issuer=ISSUER, lifetime=300, x5c=False).issue(
            subject="alice", audience=SERVICE, access=access).token
        verdicts["a stranger's RS256 key"] = answer(port, stray) != 401
        model["a stranger's RS256 key"] = _model(generation, token_keys, paths, stray)
    finally:
        service.stop()
    expected = {f"{a} {w} x5c": w == "with" or without_x5c for a in ("ES256", "RS256") for w in ("with", "without")}
    assert verdicts == {**expected, "a stranger's RS256 key": False}, service.log_tail()
    assert model == verdicts


def _model(generation: Generation, token_keys: dict, paths, token: str) -> bool:
    bundle = paths.bundle.read_bytes()
    try:
        if generation is REGISTRY2:
            rv.verify_v2(token, issuer=ISSUER, service=SERVICE, rootcert_pems=bundle)
        else:
            rv.verify_v3(token, issuer=ISSUER, service=SERVICE, version="3.1",
                         rootcert_pems=bundle if "rootcertbundle" in token_keys else None,
                         jwks=json.loads(paths.jwks.read_text()) if "jwks" in token_keys else None,
                         algorithms=token_keys.get("signingalgorithms"))
    except rv.TokenRejected:
        return False
    return True
