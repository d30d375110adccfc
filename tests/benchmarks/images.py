"""Item 3: ``docker push`` then ``docker pull`` of a 20-layer image through three registries.

The same ``docker-registry`` binary with the same configuration except its
``auth`` section: none, htpasswd (bcrypt at ``htpasswd -B``'s default cost,
5), and token auth against authsvc (production settings, ``docker login``
first, so docker uses the refresh-token grant as it does in practice).

The image is built locally (no network, no base image): 20 layers of random,
incompressible bytes, written in ``docker save`` format and ``docker load``-ed
into a private dockerd on vfs (the e2e harness's DockerDaemon).  Each round,
for each registry in a rotated order:

1. a fresh registry (new storage, new port) is started, and docker logs in;
2. ``docker push`` (timed);
3. every tag is removed, so the daemon holds none of the image's layers;
4. ``docker pull`` (timed) from the same registry; the pulled image is tagged
   back for the next push.

Starting the registry, logging in and removing images are not timed.  Each
figure is the median over rounds.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import tarfile
import time
from pathlib import Path

import yaml

from tests.e2e import oci
from tests.e2e.processes import Service, describe
from tests.e2e.processes import run as run_command
from tests.e2e.registries import REGISTRY2, Generation
from tests.e2e.stack import DockerDaemon, clean_environ, registry_environ

from .harness import BenchmarkError, Figure, binaries, median, registry_binary, rotate, start_on_free_port
from .tokens import password

LAYERS = 20
LAYER_BYTES = 1 << 20
QUICK_LAYER_BYTES = 64 << 10
LOCAL_TAG = "authsvc-bench/app:latest"
PROJECT = "bench-img"
HTPASSWD_USER = "bench"
HTPASSWD_PASSWORD = "bench-htpasswd-Secret-1"
HTPASSWD_COST = 5  # `htpasswd -B` without -C
MODES = ("none", "htpasswd", "token")
TARGET = "<= 1.05"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _layer(index: int, size: int, rng: random.Random) -> bytes:
    content = rng.randbytes(size)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"bench/layer-{index:02d}.bin")
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def build_image_archive(path: Path, *, layers: int, layer_bytes: int, seed: int = 3) -> int:
    """Write a ``docker save`` archive of a ``layers``-layer image tagged LOCAL_TAG; return its size."""
    rng = random.Random(seed)
    layer_tars = [_layer(i, layer_bytes, rng) for i in range(layers)]
    diff_ids = ["sha256:" + _sha256(t) for t in layer_tars]
    config = {
        "architecture": oci._ARCH, "os": "linux",
        "config": {"Cmd": ["/bin/true"], "Labels": {"authsvc.benchmark": "20 layers"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"authsvc benchmark layer {i}"} for i in range(layers)],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = _sha256(config_bytes) + ".json"
    manifest = [{"Config": config_name, "RepoTags": [LOCAL_TAG],
                 "Layers": [f"{_sha256(t)}/layer.tar" for t in layer_tars]}]
    with tarfile.open(path, "w") as archive:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
        add(config_name, config_bytes)
        for name, data in zip(manifest[0]["Layers"], layer_tars):
            add(name, data)
        add("manifest.json", json.dumps(manifest).encode())
    return sum(len(t) for t in layer_tars)


class Registries:
    """Registry configurations of one generation that differ only in their ``auth`` section.

    The rest is ``authsvc registry-config --full`` for that generation (log level, http
    headers, storage), so every registry a benchmark starts is the one an operator would run.
    ``storage_root`` holds each registry's storage (a tmpfs with ``--tmpfs``); configurations and
    logs stay in the scratch directory.
    """

    def __init__(self, run, stack, generation: Generation = REGISTRY2, storage_root: Path | None = None):
        self.run = run
        self.stack = stack
        self.generation = generation
        self.bin = registry_binary(generation)
        self.files = run.root / "registry"
        self.storage_root = storage_root or self.files
        self.htpasswd = run.root / "htpasswd"
        import bcrypt
        hashed = bcrypt.hashpw(HTPASSWD_PASSWORD.encode(), bcrypt.gensalt(HTPASSWD_COST)).decode()
        self.htpasswd.write_text(f"{HTPASSWD_USER}:{hashed}\n")

    def config(self, mode: str, port: int, storage: Path, token: dict | None = None) -> dict:
        """The registry's configuration; ``token`` (mode "token") replaces authsvc's ``auth.token``."""
        result = self.stack.authsvc("registry-config", "--full", "--registry-version",
                                    str(self.generation.config_version), "--addr", f"127.0.0.1:{port}",
                                    "--storage", str(storage))
        config = yaml.safe_load(result.stdout)
        if mode != "token":
            config.pop("notifications", None)  # authsvc's inventory feed, if configured: not a plain registry's
        if mode == "none":
            del config["auth"]
        elif mode == "htpasswd":
            config["auth"] = {"htpasswd": {"realm": "authsvc-benchmark", "path": str(self.htpasswd)}}
        elif token is not None:
            config["auth"] = {"token": token}
            config.pop("notifications", None)  # no authsvc listens for them
        return config

    def start(self, mode: str, name: str, *, token: dict | None = None, storage: Path | None = None) -> Service:
        """A registry on a free port, ready; ``storage``: an existing directory to serve (shared
        with another registry) instead of a new one under ``storage_root``."""
        self.files.mkdir(parents=True, exist_ok=True)
        if storage is None:
            storage = self.storage_root / name
            storage.mkdir(parents=True)

        def factory(port: int) -> Service:
            path = self.files / f"{name}-{port}.yml"
            path.write_text(yaml.safe_dump(self.config(mode, port, storage, token)))
            service = Service(f"{self.generation.id} ({mode})", [self.bin, "serve", str(path)],
                              env=registry_environ(self.generation), log_path=self.files / f"{name}-{port}.log")
            service.storage = storage  # type: ignore[attr-defined]
            return service
        return start_on_free_port(factory, "/v2/", 200 if mode == "none" else 401)


class DockerCli:
    def __init__(self, daemon: DockerDaemon, config_dir: Path):
        self.daemon = daemon
        self.config_dir = config_dir
        config_dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, *args: str, input: str | None = None, check: bool = True):
        env = clean_environ({"DOCKER_HOST": self.daemon.host, "DOCKER_CONFIG": str(self.config_dir)})
        result = run_command([self.daemon.bin["/usr/bin/docker"], *args], env=env, input=input, timeout=900)
        if check and result.returncode != 0:
            raise BenchmarkError(f"docker {args[0]} failed:\n{describe(result)}")
        return result

    def timed(self, *args: str) -> float:
        start = time.monotonic()
        self(*args)
        return time.monotonic() - start


def memory_root(run) -> Path:
    """A tmpfs mounted for this run under the scratch directory (``--tmpfs``), unmounted at the
    end (after dockerd stops: the cleanup runs last-in first-out).  The disk's write-back and
    fsyncs are what spread the push/pull rounds (docs/performance.md, item 3); in memory they
    are gone from both sides of the comparison."""
    mount = run.root / "mem"
    mount.mkdir()
    result = run_command(["mount", "-t", "tmpfs", "-o", "size=4g,mode=0700", "abench-tmpfs", str(mount)],
                         timeout=30)
    if result.returncode != 0:
        raise BenchmarkError(f"cannot mount a tmpfs on {mount} (--tmpfs needs root):\n{describe(result)}")
    run.cleanup.callback(run_command, ["umount", "-l", str(mount)], timeout=30)
    return mount


def start_dockerd(run, data_root: Path | None = None) -> DockerDaemon:
    bins = binaries("dockerd", "/usr/bin/docker", "ctr")
    (run.root / "dk").mkdir()  # the socket and exec-root stay on a short /tmp path
    daemon = DockerDaemon(run.root / "dk", bins, data_root=data_root)
    run.cleanup.callback(daemon.stop)
    try:
        daemon.start()
    except BaseException as exc:  # noqa: BLE001 - the e2e harness reports with pytest.skip/fail
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise BenchmarkError(f"dockerd did not start: {exc}") from None
    return daemon


def run_push_pull(run, rounds: int, tmpfs: bool = False) -> None:
    """``tmpfs``: the registries' storage and dockerd's data-root on a tmpfs (:func:`memory_root`)."""
    stack = run.production_stack()
    layer_bytes = QUICK_LAYER_BYTES if run.quick else LAYER_BYTES
    archive = run.root / "image.tar"
    size = build_image_archive(archive, layers=LAYERS, layer_bytes=layer_bytes)
    memory = memory_root(run) if tmpfs else None
    daemon = start_dockerd(run, data_root=memory / "docker" if memory else None)
    docker = DockerCli(daemon, run.root / "docker-config" / "local")
    docker("load", "-i", str(archive))
    image_id = docker("image", "inspect", "-f", "{{.Id}}", LOCAL_TAG).stdout.strip()
    layer_count = len(json.loads(docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", LOCAL_TAG).stdout))
    if layer_count != LAYERS:
        raise BenchmarkError(f"the loaded image has {layer_count} layers, not {LAYERS}")
    run.report.detail(f"image: {LAYERS} layers x {layer_bytes / 2**20:.2f} MiB of random bytes "
                      f"({size / 2**20:.1f} MiB), dockerd on vfs, {rounds} round(s) per registry")
    run.report.detail("storage: the registries' and dockerd's data-root on "
                      + (f"a tmpfs mounted at {memory}" if memory else f"disk, under {run.root}"))

    registries = Registries(run, stack, storage_root=memory / "registry" if memory else None)
    times: dict[str, dict[str, list[float]]] = {mode: {"push": [], "pull": []} for mode in MODES}
    token_requests: list[tuple[int, int]] = []
    for round_number in range(rounds):
        for mode in rotate(MODES, round_number):
            name = f"{mode}-{round_number}"
            registry = registries.start(mode, name)
            try:
                host = f"127.0.0.1:{registry.port}"  # type: ignore[attr-defined]
                client = DockerCli(daemon, run.root / "docker-config" / name)
                if mode == "token":
                    client("login", host, "-u", "bench-alice", "--password-stdin",
                           input=password("bench-alice") + "\n")
                elif mode == "htpasswd":
                    client("login", host, "-u", HTPASSWD_USER, "--password-stdin", input=HTPASSWD_PASSWORD + "\n")
                ref = f"{host}/{PROJECT}/app:r{round_number}"
                client("tag", LOCAL_TAG, ref)
                mark = stack.log_mark()
                times[mode]["push"].append(client.timed("push", ref))
                pushed_tokens = stack.log_since(mark).count("/token")
                client("rmi", ref, LOCAL_TAG)
                if client("image", "inspect", image_id, check=False).returncode == 0:
                    raise BenchmarkError("the image is still in the daemon after docker rmi")
                mark = stack.log_mark()
                times[mode]["pull"].append(client.timed("pull", ref))
                pulled_tokens = stack.log_since(mark).count("/token")
                if mode == "token":
                    token_requests.append((pushed_tokens, pulled_tokens))
                client("tag", ref, LOCAL_TAG)
                client("rmi", ref)
            finally:
                registry.stop()
                shutil.rmtree(registry.storage, ignore_errors=True)  # type: ignore[attr-defined]

    for mode in MODES:
        run.report.detail(f"{mode}: push " + ", ".join(f"{t:.2f}" for t in times[mode]["push"])
                          + " s; pull " + ", ".join(f"{t:.2f}" for t in times[mode]["pull"]) + " s")
    if token_requests:
        run.report.detail("token requests per push / pull: "
                          + ", ".join(f"{p} / {q}" for p, q in token_requests))
    note = f"{LAYERS} layers, {size / 2**20:.1f} MiB; median of {rounds}" + ("; tmpfs" if memory else "")
    for operation in ("push", "pull"):
        base = median(times["none"][operation])
        for mode, target in (("token", TARGET), ("htpasswd", None)):
            run.report.add(Figure(f"{operation}.{mode}", median(times[mode][operation]), "s", base, "no auth",
                                  target, note))
