"""``authsvc doctor --registry`` against the real registries (docker-registry 2.8.2 and distribution 3.1.1).

The stack's own registry is configured from ``authsvc registry-config``, so doctor must find
nothing wrong with it.  Each other case is a real registry deliberately misconfigured in one
way an operator gets wrong (realm, service, issuer, trust bundle) or not running at all; doctor
must name that one problem, with its fix, and exit 1.  Nothing here imitates the registry: what
it accepts or rejects is its own verdict on a token authsvc signed.
"""

from __future__ import annotations

import json

import pytest

from authsvc.signing import keys

from .processes import describe, free_port
from .registries import REGISTRY3
from .stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.both_registries]

FOREIGN_REALM = "http://127.0.0.1:1/token"


@pytest.fixture(scope="module")
def installation(stack: Stack) -> Stack:
    """The stack with what a complete installation has: an administrator and a published trust
    bundle (written here only if key rotation's ``init`` did not publish one yet)."""
    stack.user("doctoradmin", admin=True)
    bundle = stack.data_dir / "trust-bundle.pem"
    if not bundle.exists():
        bundle.write_bytes((stack.data_dir / "signing.crt").read_bytes())
    return stack


@pytest.fixture(scope="module")
def broken(installation: Stack):
    """One real registry per misconfiguration, started once per generation: {case: (url, config)}."""
    root = installation.root
    foreign = keys.generate(root / "foreign.key", root / "foreign.crt", common_name="someone-else",
                            validity_days=30)
    assert foreign.certificate_pem
    # Registry 3 finds a key by kid in its JWKS as well as in the bundle: trusting someone else's
    # key there means both name theirs (ours in either one would still verify our tokens).
    foreign_trust = {"rootcertbundle": str(root / "foreign.crt")}
    if installation.generation is REGISTRY3:
        (root / "foreign-jwks.json").write_text(json.dumps(foreign.jwks(foreign.libtrust_kid)))
        foreign_trust["jwks"] = str(root / "foreign-jwks.json")
    cases = {
        "realm": {"realm": FOREIGN_REALM},
        "service": {"service": "other-registry"},
        "issuer": {"issuer": "not-authsvc"},
        "bundle": foreign_trust,
    }
    started, registries = [], {}
    try:
        for case, token in cases.items():
            service, url = installation.start_extra_registry(f"doctor-{case}", token=token)
            started.append(service)
            registries[case] = (url, service.argv[-1])
        yield registries
    finally:
        for service in started:
            service.stop()


def doctor(stack: Stack, *args: str) -> tuple[int, dict, str]:
    result = stack.authsvc("doctor", "--json", *args, check=False)
    assert "Traceback" not in result.stderr, describe(result)
    assert "eyJ" not in result.stdout + result.stderr, "a token must never be printed"
    report = json.loads(result.stdout)
    return result.returncode, {c["name"]: c for c in report["checks"]}, describe(result)


def failures(checks: dict) -> list[str]:
    return [name for name, check in checks.items() if check["status"] == "fail"]


def test_correctly_configured_registry_is_all_ok(installation: Stack):
    config = installation.root / f"registry-{installation.registry_port}.yml"
    code, checks, story = doctor(installation, "--registry", f"http://{installation.host}",
                                 "--registry-config", str(config))
    assert code == 0, story
    assert {c["status"] for c in checks.values()} == {"ok"}, story
    assert checks["registry-token"]["detail"] == "a token we signed (audience 'registry') is accepted"
    assert {"registry-challenge", "registry-realm", "registry-service", "registry-token",
            "registry-config-bundle"} <= set(checks)
    text = installation.authsvc("doctor", "--registry", f"http://{installation.host}")
    assert "ok   registry-token" in text.stdout and text.stdout.splitlines()[-1].startswith("0 failed")


def test_registry_with_another_realm(installation: Stack, broken):
    url, config = broken["realm"]
    code, checks, story = doctor(installation, "--registry", url)
    assert code == 1 and failures(checks) == ["registry-realm"], story
    assert FOREIGN_REALM in checks["registry-realm"]["detail"]
    assert f"set the registry's auth.token.realm to {installation.realm}" in checks["registry-realm"]["fix"]
    assert checks["registry-token"]["status"] == "ok", "the realm only misdirects clients; tokens still verify"
    _, from_file, story = doctor(installation, "--registry-config", config)
    assert failures(from_file) == ["registry-config-realm"], story


def test_registry_with_another_service(installation: Stack, broken):
    url, config = broken["service"]
    code, checks, story = doctor(installation, "--registry", url)
    assert code == 1 and failures(checks) == ["registry-service", "registry-token"], story
    assert "'other-registry' is not among our services" in checks["registry-service"]["detail"]
    assert "set the registry's auth.token.service to 'registry'" in checks["registry-service"]["fix"]
    assert "rejected (HTTP 401)" in checks["registry-token"]["detail"]
    _, from_file, story = doctor(installation, "--registry-config", config)
    assert failures(from_file) == ["registry-config-service"], story


def test_registry_with_another_issuer(installation: Stack, broken):
    url, config = broken["issuer"]
    code, checks, story = doctor(installation, "--registry", url)
    assert code == 1 and failures(checks) == ["registry-token"], story
    token = checks["registry-token"]
    assert "rejected (HTTP 401)" in token["detail"] and "issuer 'authsvc'" in token["detail"]
    assert "its auth.token.issuer is not 'authsvc'" in token["fix"]
    _, from_file, story = doctor(installation, "--registry-config", config)
    assert failures(from_file) == ["registry-config-issuer"], story
    assert from_file["registry-config-issuer"]["fix"].startswith("set auth.token.issuer to 'authsvc'")


def test_registry_trusting_a_foreign_certificate(installation: Stack, broken):
    url, config = broken["bundle"]
    code, checks, story = doctor(installation, "--registry", url)
    assert code == 1 and failures(checks) == ["registry-token"], story
    fix = checks["registry-token"]["fix"]
    assert "auth.token.rootcertbundle is not our trust bundle" in fix
    assert str(installation.data_dir / "trust-bundle.pem") in fix
    assert "auth.token.jwks is not" in fix and str(installation.data_dir / "jwks.json") in fix
    _, from_file, story = doctor(installation, "--registry-config", config)
    expected = ["registry-config-bundle"] + (["registry-config-jwks"] if installation.generation is REGISTRY3 else [])
    assert failures(from_file) == expected, story
    assert "does not hold our active certificate" in from_file["registry-config-bundle"]["detail"]


def test_registry_not_running(installation: Stack):
    url = f"http://127.0.0.1:{free_port()}"
    code, checks, story = doctor(installation, "--registry", url, "--timeout", "3")
    assert code == 1 and failures(checks) == ["registry-challenge"], story
    assert checks["registry-challenge"]["detail"] == f"cannot reach {url}/v2/: Connection refused"
    assert "registry runs" in checks["registry-challenge"]["fix"]
    assert checks["registry-token"]["status"] == "skip"
