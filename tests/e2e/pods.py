"""Rendered Kubernetes pod specs, run under docker as far as no cluster is needed.

A stand-in for the kubelet on one node, for deploy/kubernetes' Deployments: each container runs
with its pod spec's image, command/args (Kubernetes' rules: ``command`` replaces the image's
ENTRYPOINT, ``args`` its CMD), env (values, and ``secretKeyRef``/``configMapKeyRef`` resolved
from the rendered objects), user, group, ``fsGroup`` as a supplementary group, read-only root
filesystem, dropped capabilities and no privilege escalation; init containers run to
completion first.  Volumes are what the kubelet makes of them: Secrets and ConfigMaps in its
atomic-writer layout (``NAME -> ..data/NAME``, files owned by root and the pod's fsGroup, with
the volume's ``defaultMode``), emptyDirs and claims as directories (claims group-owned by the
fsGroup), mounted read-only where the spec says so.

Not a cluster: every pod of an apply shares one network namespace (a "node" container running
``sleep``, with the Services' names in its /etc/hosts pointing at loopback), which stands in
for the Services because each Service port equals its container port here.  No scheduling,
probes, restarts or Ingress; probes are asked by the test (:meth:`Pods.http_status`) from
inside that namespace.  Containers carry a label, so :meth:`Pods.remove` finds every one.

Also a ``kubectl`` for the docs' shell blocks (``python -m tests.e2e.pods kubectl ...``):
``apply -k DIR`` renders DIR with ``kubectl kustomize`` (or the suite's built-in renderer) and
starts its Deployments; ``-n NS exec [-i] [-t] deploy/NAME -c CONTAINER -- CMD...`` runs CMD in
that container.  Its state is the environment: DOCKER_HOST, PODS_ROOT and PODS_LABEL.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

#: The image of the "node" container that holds the network namespace: any image with python3
#: (for the probes) and sleep; the suite's Debian base.
NODE_IMAGE_ENV = "PODS_NODE_IMAGE"
STAMP = "..2026_01_01_00_00_00.000000001"


def render(directory: Path) -> list[dict]:
    """The kustomization's objects: by kubectl if installed, else by the suite's own renderer
    (then with the kustomizations' ``images`` applied here, as kubectl would)."""
    kubectl = shutil.which("kubectl", path=os.environ.get("PODS_REAL_PATH"))
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"kubectl kustomize {directory}: {out.stderr}")
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    from tests.unit.test_kubernetes_manifests import render_without_kubectl
    docs = render_without_kubectl(directory)
    images: dict[str, str] = {}
    for kustomization in _kustomizations(directory):  # base first: the overlay's entries win
        for entry in yaml.safe_load(kustomization.read_text()).get("images", []):
            images[entry["name"]] = f"{entry.get('newName', entry['name'])}:{entry['newTag']}"
    for doc in docs:
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            for c in pod.get("initContainers", []) + pod["containers"]:
                c["image"] = images.get(c["image"], c["image"])
    return docs


def _kustomizations(directory: Path) -> list[Path]:
    kustomization = directory / "kustomization.yaml"
    found = []
    for entry in yaml.safe_load(kustomization.read_text()).get("resources", []):
        if (directory / entry).is_dir():
            found += _kustomizations((directory / entry).resolve())
    return found + [kustomization]


def _object_data(docs: list[dict], kind: str, name: str) -> dict[str, bytes]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    data = {k: base64.b64decode(v) for k, v in doc.get("data", {}).items()} if kind == "Secret" else \
        {k: v.encode() for k, v in doc.get("data", {}).items()}
    data.update({k: v.encode() for k, v in doc.get("stringData", {}).items()})
    data.update({k: base64.b64decode(v) for k, v in doc.get("binaryData", {}).items()})
    return data


class Pods:
    """The Deployments of one rendering, as containers of a docker daemon (DOCKER_HOST)."""

    def __init__(self, root: Path, label: str, node_image: str, *, docker_host: str, docker_binary: str):
        self.root = root
        self.label = label
        self.node_image = node_image
        self.node = f"{label}-node"
        self.docker_binary = docker_binary
        self.env = {**os.environ, "DOCKER_HOST": docker_host}

    def docker(self, *args: str, input: str | None = None, check: bool = True,
               timeout: float = 300) -> subprocess.CompletedProcess:
        result = subprocess.run([self.docker_binary, *args], input=input, capture_output=True, text=True,
                                timeout=timeout, env=self.env)
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return result

    def container_name(self, deployment: str, container: str) -> str:
        return f"{self.label}-{deployment}-{container}"

    def apply(self, docs: list[dict]) -> None:
        deployments = [d for d in docs if d["kind"] == "Deployment"]
        services = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"]
        self._start_node(services)
        for deployment in deployments:
            self._run_pod(deployment, docs)

    def _start_node(self, services: list[str]) -> None:
        if self.docker("ps", "-q", "--filter", f"name=^{self.node}$", check=False).stdout.strip():
            return
        hosts = [f"--add-host={name}:127.0.0.1" for name in services]
        self.docker("run", "-d", "--name", self.node, "--label", f"authsvc-e2e-pods={self.label}", "--network", "none",
               *hosts, "--entrypoint", "sleep", self.node_image, "infinity")

    def _run_pod(self, deployment: dict, docs: list[dict]) -> None:
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        security = pod.get("securityContext", {})
        volumes = {v["name"]: self._volume(name, v, docs, security.get("fsGroup")) for v in pod.get("volumes", [])}
        for c in pod.get("initContainers", []):
            result = self.docker(*self._run_args(name, c, security, volumes, docs, detach=False), check=False, timeout=300)
            assert result.returncode == 0, (f"init container {name}/{c['name']} failed ({result.returncode}):\n"
                                            f"{result.stdout}{result.stderr}")
        for c in pod["containers"]:
            self.docker(*self._run_args(name, c, security, volumes, docs, detach=True))

    def _volume(self, pod: str, volume: dict, docs: list[dict], fs_group: int | None) -> Path:
        path = self.root / "volumes" / pod / volume["name"]
        if path.exists():  # a second apply of the same pod: fresh volumes, as for a new pod
            shutil.rmtree(path)
        path.mkdir(parents=True)
        group = fs_group if fs_group is not None else 0
        if "secret" in volume or "configMap" in volume:
            source = volume.get("secret") or volume["configMap"]
            kind, ref = ("Secret", source["secretName"]) if "secret" in volume else ("ConfigMap", source["name"])
            mode = source.get("defaultMode", 0o644)
            stamped = path / STAMP
            stamped.mkdir()
            for key, content in _object_data(docs, kind, ref).items():
                (stamped / key).write_bytes(content)
                os.chown(stamped / key, 0, group)
                os.chmod(stamped / key, mode)
                (path / key).symlink_to(f"..data/{key}")
            (path / "..data").symlink_to(STAMP)
            os.chmod(stamped, 0o755)
        elif "emptyDir" in volume:
            os.chmod(path, 0o777)
        elif "persistentVolumeClaim" in volume:
            os.chown(path, 0, group)
            os.chmod(path, 0o2775)
        else:
            raise AssertionError(f"volume kind not emulated: {volume}")
        return path

    def _run_args(self, pod: str, c: dict, security: dict, volumes: dict[str, Path], docs: list[dict], *,
                  detach: bool) -> list[str]:
        context = {**security, **c.get("securityContext", {})}
        args = ["run", "--label", f"authsvc-e2e-pods={self.label}", "--network", f"container:{self.node}"]
        args += ["-d", "--name", self.container_name(pod, c["name"])] if detach else ["--rm"]
        if "runAsUser" in context:
            args += ["--user", f"{context['runAsUser']}:{context.get('runAsGroup', 0)}"]
        if "fsGroup" in security:
            args += ["--group-add", str(security["fsGroup"])]
        if context.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        if context.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        for cap in context.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", cap]
        for var in c.get("env", []):
            args += ["-e", f"{var['name']}={self._env_value(var, docs)}"]
        for mount in c.get("volumeMounts", []):
            args += ["-v", f"{volumes[mount['name']]}:{mount['mountPath']}{':ro' if mount.get('readOnly') else ''}"]
        command = c.get("command")
        if command:
            args += ["--entrypoint", command[0]]
        args.append(c["image"])
        return args + (command[1:] if command else []) + c.get("args", [])

    @staticmethod
    def _env_value(var: dict, docs: list[dict]) -> str:
        if "value" in var:
            return var["value"]
        source = var["valueFrom"]
        kind, ref = ("Secret", source["secretKeyRef"]) if "secretKeyRef" in source else \
            ("ConfigMap", source["configMapKeyRef"])
        return _object_data(docs, kind, ref["name"])[ref["key"]].decode()

    def exec(self, deployment: str, container: str, *argv: str, input: str | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
        return self.docker("exec", "-i", self.container_name(deployment, container), *argv, input=input, check=False,
                      timeout=timeout)

    def http_status(self, url: str) -> int | None:
        """The status a GET of ``url`` gets from inside the pods' network (None: no answer)."""
        probe = ("import sys, urllib.request as u, urllib.error as e\n"
                 "try:\n    print(u.urlopen(sys.argv[1], timeout=3).status)\n"
                 "except e.HTTPError as x:\n    print(x.code)\n"
                 "except OSError:\n    print('none')\n")
        out = self.docker("exec", self.node, "python3", "-c", probe, url, check=False).stdout.strip()
        return int(out) if out.isdigit() else None

    def wait_for(self, url: str, status: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (got := self.http_status(url)) != status:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} answered {got}, not {status}, within {timeout:.0f}s\n{self.logs()}")
            time.sleep(0.5)  # polling interval, not a wait for readiness

    def wait_rolled_out(self, docs: list[dict], deployment: str, timeout: float = 120) -> None:
        """Until every container of ``deployment`` passes its readiness probe (an httpGet)."""
        (found,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == deployment]
        for c in found["spec"]["template"]["spec"]["containers"]:
            probe = c["readinessProbe"]["httpGet"]
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            port = ports.get(probe["port"], probe["port"])
            url = f"http://127.0.0.1:{port}{probe['path']}"
            deadline = time.monotonic() + timeout
            while not 200 <= (self.http_status(url) or 0) < 400:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{deployment}/{c['name']} not ready ({url}) within {timeout:.0f}s\n"
                                         f"{self.logs()}")
                time.sleep(0.5)  # polling interval, not a wait for readiness

    def logs(self) -> str:
        out = []
        for name in self.docker("ps", "-a", "--format", "{{.Names}}", "--filter",
                           f"label=authsvc-e2e-pods={self.label}", check=False).stdout.split():
            result = self.docker("logs", "--tail", "20", name, check=False)
            state = self.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name, check=False).stdout.strip()
            out.append(f"--- {name} ({state}) ---\n{result.stdout}{result.stderr}")
        return "\n".join(out)

    def remove(self) -> None:
        ids = self.docker("ps", "-aq", "--filter", f"label=authsvc-e2e-pods={self.label}", check=False).stdout.split()
        if ids:
            self.docker("rm", "-f", "-v", *ids, check=False)


def kubectl(argv: list[str]) -> int:
    """The kubectl commands the docs' Kubernetes block uses (apply -k, rollout status, exec),
    against :class:`Pods`."""
    pods = Pods(Path(os.environ["PODS_ROOT"]), os.environ["PODS_LABEL"], os.environ[NODE_IMAGE_ENV],
                docker_host=os.environ["DOCKER_HOST"], docker_binary=os.environ.get("PODS_DOCKER", "docker"))
    args = list(argv)
    if args[:2] == ["apply", "-k"] and len(args) == 3:
        docs = render(Path(args[2]))
        pods.apply(docs)
        (pods.root / "applied.json").write_text(json.dumps(docs))
        print(f"applied {len(docs)} objects ({', '.join(sorted({d['kind'] for d in docs}))})")
        return 0
    if args[2:4] == ["rollout", "status"] and len(args) == 5:
        docs = json.loads((pods.root / "applied.json").read_text())
        pods.wait_rolled_out(docs, args[4].removeprefix("deploy/"))
        print(f'deployment "{args[4]}" successfully rolled out')
        return 0
    if "exec" in args and "--" in args:
        command = args[args.index("--") + 1:]
        options = args[:args.index("--")]
        target = next(a for a in options if a.startswith("deploy/")).removeprefix("deploy/")
        container = options[options.index("-c") + 1]
        result = subprocess.run([pods.docker_binary, "exec", "-i", pods.container_name(target, container), *command],
                                env=pods.env)
        return result.returncode
    print(f"kubectl stand-in: not emulated: {' '.join(argv)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    if sys.argv[1:2] != ["kubectl"]:
        sys.exit("usage: python -m tests.e2e.pods kubectl ARGS...")
    sys.exit(kubectl(sys.argv[2:]))
