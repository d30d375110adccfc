"""deploy/kubernetes, checked offline: schema-valid, and wired the way authsvc needs.

Kubernetes accepts many manifests that cannot work: a key Secret mounted world-readable, a
realm the registry and authsvc disagree on, a Service link that makes authsvc refuse to start.
So every rendered document is validated against the Kubernetes 1.30 schemas in strict mode
(unknown fields are errors), and then the properties that matter are asserted one by one.

The overlay is prepared exactly as docs/operations.md says (``prepare-overlay.sh`` running the
real ``authsvc init`` and ``authsvc registry-config``) in a copy of deploy/kubernetes, and
rendered twice: by ``kubectl kustomize`` when kubectl is installed, and by the small renderer
below, which builds the same resources from the kustomization files without kubectl (plain
resources, generators, ``behavior: replace``, namespace; no name hashes, no images).  The
renderer keeps the checks running on machines without kubectl; when kubectl is there, a test
proves both renderings hold the same objects.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from authsvc.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "kubernetes"
#: The oldest Kubernetes the manifests are meant for (a supported release when written).
KUBERNETES_VERSION = "1.30.0"
NAMESPACED = {"ConfigMap", "Secret", "Service", "Deployment", "Job", "PersistentVolumeClaim",
              "PodDisruptionBudget", "Ingress"}
SETTINGS_FIELDS = {name.upper() for name in Settings.__dataclass_fields__}
KUBECTL = shutil.which("kubectl")


# -- preparing and rendering ---------------------------------------------------------


def _authsvc_env() -> dict[str, str]:
    """The test's environment without AUTHSVC_* variables, with the venv's authsvc on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of deploy/kubernetes with the example overlay prepared as the docs say."""
    root = tmp_path_factory.mktemp("k8s") / "kubernetes"
    shutil.copytree(K8S, root, ignore=shutil.ignore_patterns("keys", "database-url"))
    overlay = root / "overlays" / "example"
    result = subprocess.run([str(root / "prepare-overlay.sh"), str(overlay)], env=_authsvc_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"prepare-overlay.sh failed:\n{result.stdout}{result.stderr}"
    (overlay / "database-url").write_text("postgresql+psycopg://authsvc:not-a-password@postgres:5432/authsvc")
    return root


def _load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render_without_kubectl(directory: Path) -> list[dict]:
    """The resources of a kustomization, built from its files as kustomize would (no hashes)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        docs += render_without_kubectl(path) if path.is_dir() else _load_yaml_documents(path)
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in kustomization.get(key, []):
            data = {}
            for item in generator.get("files", []):
                name, _, source = item.rpartition("=") if "=" in item else (posixpath.basename(item), "", item)
                data[name] = (directory / source).read_text()
            generated = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]},
                         ("stringData" if kind == "Secret" else "data"): data}
            if generator.get("behavior") == "replace":
                before = len(docs)
                docs = [d for d in docs if not (d["kind"] == kind and d["metadata"]["name"] == generator["name"])]
                assert len(docs) == before - 1, f"{generator['name']}: nothing to replace"
            docs.append(generated)
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] in NAMESPACED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    return docs


def render_with_kubectl(directory: Path) -> list[dict]:
    result = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


RENDERERS = [pytest.param("kubectl", marks=pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")),
             "builtin"]


@pytest.fixture(scope="module", params=RENDERERS)
def renderer(request):
    return render_with_kubectl if request.param == "kubectl" else render_without_kubectl


@pytest.fixture(scope="module", params=["overlays/example", "base"])
def rendered(request, tree: Path, renderer) -> Rendered:
    return Rendered(renderer(tree / request.param), overlay=request.param != "base")


@pytest.fixture(scope="module")
def overlay(tree: Path, renderer) -> Rendered:
    return Rendered(renderer(tree / "overlays" / "example"), overlay=True)


class Rendered:
    """The documents of one rendering, looked up by kind and (unhashed) name."""

    def __init__(self, docs: list[dict], *, overlay: bool):
        self.docs = docs
        self.overlay = overlay

    def get(self, kind: str, name: str) -> dict:
        """The object ``name`` or, for generated ones, ``name-<hash>``."""
        found = [d for d in self.docs if d["kind"] == kind
                 and (d["metadata"]["name"] == name or d["metadata"]["name"].rpartition("-")[0] == name)]
        assert len(found) == 1, f"expected one {kind} {name}, found {[d['metadata']['name'] for d in found]}"
        return found[0]

    def named(self, kind: str, exact: str) -> dict | None:
        return next((d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == exact), None)

    def data(self, kind: str, exact: str) -> dict[str, str]:
        """A rendered ConfigMap's or Secret's entries as text (None when the base only names it)."""
        doc = self.named(kind, exact)
        assert doc is not None or not self.overlay, f"the overlay renders no {kind} {exact}"
        if doc is None:
            return {}
        if "stringData" in doc:
            return doc["stringData"]
        if kind == "Secret":
            import base64
            return {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
        return doc.get("data", {})

    def pod_specs(self) -> list[tuple[str, dict]]:
        return [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
                for d in self.docs if d["kind"] in ("Deployment", "Job")]


def container(pod: dict, name: str) -> dict:
    return next(c for c in pod.get("containers", []) + pod.get("initContainers", []) if c["name"] == name)


def mount_for(pod: dict, c: dict, volume_name: str) -> dict:
    return next(m for m in c.get("volumeMounts", []) if m["name"] == volume_name)


def volume(pod: dict, name: str) -> dict:
    return next(v for v in pod["volumes"] if v["name"] == name)


def authsvc_settings(r: Rendered, tree: Path) -> dict:
    """The authsvc.toml the pods get (from the rendering, or the file when only named)."""
    data = r.data("ConfigMap", _configmap_name(r, "authsvc", "config"))
    text = data.get("authsvc.toml") or (tree / ("overlays/example" if r.overlay else "base") / "authsvc.toml").read_text()
    return tomllib.loads(text)


def _configmap_name(r: Rendered, deployment: str, vol: str) -> str:
    pod = r.get("Deployment", deployment)["spec"]["template"]["spec"]
    return volume(pod, vol)["configMap"]["name"]


# -- the tests -------------------------------------------------------------------------


def test_every_document_is_valid_against_the_kubernetes_schemas_in_strict_mode(rendered):
    kinds = sorted({d["kind"] for d in rendered.docs})
    assert {"Deployment", "Service", "PodDisruptionBudget", "PersistentVolumeClaim", "ConfigMap"} <= set(kinds)
    for doc in rendered.docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")


def test_authsvc_runs_at_least_two_replicas_without_losing_one_on_updates_or_drains(rendered):
    deployment = rendered.get("Deployment", "authsvc")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = rendered.get("PodDisruptionBudget", "authsvc")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] >= 1
    pod = deployment["spec"]["template"]["spec"]
    spread = pod.get("topologySpreadConstraints", []) + [
        term["podAffinityTerm"] for term in pod.get("affinity", {}).get("podAntiAffinity", {})
        .get("preferredDuringSchedulingIgnoredDuringExecution", [])]
    assert any(t["topologyKey"] == "kubernetes.io/hostname" for t in spread), "replicas may share a node"


def test_every_pod_disables_service_links_and_gets_no_unknown_authsvc_variable(rendered):
    """A Service named authsvc would inject AUTHSVC_PORT=tcp://..., which authsvc refuses at start."""
    assert rendered.pod_specs()
    for where, pod in rendered.pod_specs():
        assert pod.get("enableServiceLinks") is False, f"{where}: enableServiceLinks must be false"
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            for var in c.get("env", []):
                if var["name"].startswith("AUTHSVC_") and var["name"] != "AUTHSVC_CONFIG":
                    assert var["name"][len("AUTHSVC_"):] in SETTINGS_FIELDS, f"{where}: {var['name']} is no setting"


def test_every_container_is_non_root_read_only_without_capabilities_and_has_resources(rendered):
    for where, pod in rendered.pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            context = c["securityContext"]
            assert context.get("runAsNonRoot", True) is True, f"{where}/{c['name']}"
            assert context["readOnlyRootFilesystem"] is True, f"{where}/{c['name']}"
            assert context["allowPrivilegeEscalation"] is False, f"{where}/{c['name']}"
            assert context["capabilities"]["drop"] == ["ALL"], f"{where}/{c['name']}"
            assert {"cpu", "memory"} <= c["resources"]["requests"].keys(), f"{where}/{c['name']}: requests"
            assert "memory" in c["resources"]["limits"], f"{where}/{c['name']}: memory limit"


def test_the_database_url_comes_from_a_secret_and_never_from_a_configmap(rendered, tree):
    assert "database_url" not in authsvc_settings(rendered, tree)
    for where, pod in rendered.pod_specs():
        if not where.startswith(("Deployment/authsvc", "Job/authsvc")):
            continue
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            var = next(v for v in c["env"] if v["name"] == "AUTHSVC_DATABASE_URL")
            ref = var["valueFrom"]["secretKeyRef"]
            assert "value" not in var
            secret = rendered.data("Secret", ref["name"])
            if rendered.overlay:
                assert secret[ref["key"]].startswith("postgresql+psycopg://"), secret


def test_the_signing_key_is_a_secret_mounted_read_only_where_the_settings_look(rendered, tree):
    settings = authsvc_settings(rendered, tree)
    pod = rendered.get("Deployment", "authsvc")["spec"]["template"]["spec"]
    server = container(pod, "authsvc")
    keys = next(v for v in pod["volumes"] if "secret" in v)
    assert keys["secret"]["defaultMode"] in (0o400, 0o440), oct(keys["secret"]["defaultMode"])
    if keys["secret"]["defaultMode"] == 0o440:  # group-readable: only by the pod's own group
        assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    mount = mount_for(pod, server, keys["name"])
    assert mount["readOnly"] is True
    for setting, file in (("signing_key", "signing.key"), ("signing_cert", "signing.crt")):
        assert settings[setting] == posixpath.join(mount["mountPath"], file), setting
    if rendered.overlay:
        secret = rendered.data("Secret", keys["secret"]["secretName"])
        assert "BEGIN PRIVATE KEY" in secret["signing.key"] and "BEGIN CERTIFICATE" in secret["signing.crt"]
    registry_pod = rendered.get("Deployment", "registry")["spec"]["template"]["spec"]
    assert not any("secret" in v and v["secret"]["secretName"] == keys["secret"]["secretName"]
                   for v in registry_pod["volumes"]), "the registry must never mount the private key"


def test_probes_ask_healthz_and_readyz_on_the_port_gunicorn_binds(rendered):
    deployment = rendered.get("Deployment", "authsvc")
    server = container(deployment["spec"]["template"]["spec"], "authsvc")
    (port,) = server["ports"]
    bind = next(a.split("=", 1)[1] for a in server["command"] if a.startswith("--bind="))
    assert bind.endswith(f":{port['containerPort']}")
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = server[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["port"] in (port["name"], port["containerPort"]), probe
    service = rendered.get("Service", "authsvc")
    assert service["spec"]["ports"][0]["targetPort"] in (port["name"], port["containerPort"])
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_every_replica_migrates_in_an_init_container_with_the_servers_settings(rendered):
    """``authsvc db upgrade`` serialises itself (advisory lock), so each pod migrates before its
    gunicorn starts; a separate Job would have to be deleted before every release."""
    assert not [d["metadata"]["name"] for d in rendered.docs if d["kind"] in ("Job", "CronJob")], (
        "no migration Job: the authsvc pods' init container migrates")
    pod = rendered.get("Deployment", "authsvc")["spec"]["template"]["spec"]
    server = container(pod, "authsvc")
    migrations = [c for c in pod.get("initContainers", []) if c.get("command", []) + c.get("args", [])
                  == ["authsvc", "db", "upgrade"]]
    assert len(migrations) == 1, [c.get("command") for c in pod.get("initContainers", [])]
    (migrate,) = migrations
    assert migrate["image"] == server["image"], "the migrations must be this release's"
    env = {v["name"]: v for v in migrate["env"]}
    server_env = {v["name"]: v for v in server["env"]}
    ref = env["AUTHSVC_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert "value" not in env["AUTHSVC_DATABASE_URL"]
    assert ref == server_env["AUTHSVC_DATABASE_URL"]["valueFrom"]["secretKeyRef"], "another database"
    if rendered.overlay:
        assert rendered.data("Secret", ref["name"])[ref["key"]].startswith("postgresql+psycopg://")
    config = env["AUTHSVC_CONFIG"]["value"]
    assert config == server_env["AUTHSVC_CONFIG"]["value"]
    config_mount = next(m for m in migrate["volumeMounts"] if config.startswith(m["mountPath"] + "/"))
    assert mount_for(pod, server, config_mount["name"])["mountPath"] == config_mount["mountPath"], "other settings"
    words = " ".join(server.get("command", []) + server.get("args", []))
    assert "authsvc init" not in words and "db upgrade" not in words
    assert server["command"][0] == "gunicorn", "the image's entrypoint runs authsvc init"


def test_the_registry_config_agrees_with_authsvc_and_finds_the_bundle_where_it_is_mounted(rendered, tree):
    settings = authsvc_settings(rendered, tree)
    pod = rendered.get("Deployment", "registry")["spec"]["template"]["spec"]
    registry = container(pod, "registry")
    config_path = registry["args"][-1]
    config_volume = next(v for v in pod["volumes"] if "configMap" in v
                         and mount_for(pod, registry, v["name"])["mountPath"] == posixpath.dirname(config_path))
    config_map = config_volume["configMap"]["name"]
    text = rendered.data("ConfigMap", config_map).get(posixpath.basename(config_path))
    assert text is not None, f"no {posixpath.basename(config_path)} in ConfigMap {config_map}"
    config = yaml.safe_load(text)
    token = config["auth"]["token"]
    assert token["realm"] == settings["realm"]
    assert token["service"] in settings["services"]
    assert token["issuer"] == settings["issuer"]
    assert "secret" not in config["http"], "http.secret belongs in a Secret (REGISTRY_HTTP_SECRET)"
    assert any(v["name"] == "REGISTRY_HTTP_SECRET" and "secretKeyRef" in v["valueFrom"] for v in registry["env"])
    bundle_dir, bundle_file = posixpath.split(token["rootcertbundle"])
    trust = next(v for v in pod["volumes"] if "configMap" in v
                 and mount_for(pod, registry, v["name"])["mountPath"] == bundle_dir)
    storage = mount_for(pod, registry, next(v["name"] for v in pod["volumes"] if "persistentVolumeClaim" in v))
    assert config["storage"]["filesystem"]["rootdirectory"] == storage["mountPath"]
    if rendered.overlay:
        bundle = rendered.data("ConfigMap", trust["configMap"]["name"])[bundle_file]
        assert "BEGIN CERTIFICATE" in bundle
        assert "PRIVATE" not in bundle


def test_the_registry_config_is_what_authsvc_registry_config_prints(tree):
    """prepare-overlay.sh regenerated the file in the copy: the committed one must not differ."""
    prepared = tree / "overlays" / "example" / "registry-config.yml"
    assert prepared.read_text() == (K8S / "overlays" / "example" / "registry-config.yml").read_text(), (
        "overlays/example/registry-config.yml is stale: run deploy/kubernetes/prepare-overlay.sh on it")
    base = tree / "base"
    result = subprocess.run([str(tree / "prepare-overlay.sh"), str(base)], env=_authsvc_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (base / "registry-config.yml").read_text() == (K8S / "base" / "registry-config.yml").read_text(), (
        "base/registry-config.yml is stale: regenerate it with prepare-overlay.sh (then delete base/keys)")


def test_the_overlay_exposes_only_what_clients_use_and_trusts_one_proxy(overlay, tree):
    ingress = overlay.get("Ingress", "registry")
    settings = authsvc_settings(overlay, tree)
    (rule,) = ingress["spec"]["rules"]
    assert settings["realm"] == f"https://{rule['host']}/token"
    assert settings["proxy_hops"] == 1
    paths = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert paths == {"/v2": "registry", "/token": "authsvc", "/api": "authsvc"}
    assert all(d["metadata"].get("namespace") == "registry" for d in overlay.docs)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_the_builtin_renderer_builds_the_same_objects_as_kubectl(tree):
    for directory in (tree / "base", tree / "overlays" / "example"):
        # kubectl appends a content hash to generated names; the builtin renderer does not.
        by_kubectl = sorted((d["kind"], d["metadata"]["name"].rpartition("-")[0]
                             if d["kind"] in ("ConfigMap", "Secret") else d["metadata"]["name"])
                            for d in render_with_kubectl(directory))
        builtin = sorted((d["kind"], d["metadata"]["name"]) for d in render_without_kubectl(directory))
        assert by_kubectl == builtin, directory
