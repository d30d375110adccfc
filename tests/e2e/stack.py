"""The system under test, as real processes: authsvc under gunicorn, the registry, and dockerd.

``Stack`` owns authsvc (gunicorn, two workers, so that a change made by the
CLI must reach a worker that did not make it) and a registry of one generation
(``registries.py``: Debian's docker-registry 2.8.2 or distribution 3.1.1) serving
the config ``authsvc registry-config --full --registry-version N`` prints, exactly
as an operator would wire them.  Users, projects and members are seeded through the
real ``authsvc`` CLI with the same environment, never by writing to the database.

``DockerDaemon`` is a private dockerd (and the containerd it starts, which
``ctr`` talks to), so the suite never touches a docker the machine already runs.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import oci
from .processes import Service, StartupFailed, free_port, http_status, ok, run, tail, unavailable
from .registries import REGISTRY2, Generation

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO_ROOT / "config" / "gunicorn.conf.py"
STARTUP_TIMEOUT = 60
PORT_ATTEMPTS = 3
#: How gunicorn and the registry say that another process bound the port first.
PORT_TAKEN = ("address already in use", "connection in use")
#: The registry's notifications carry it (registry-config writes it into the registry's config), so
#: authsvc keeps the repository inventory of every push and delete the suite makes.
NOTIFICATION_SECRET = "e2e-registry-notifications-secret"
#: One counter for every stack of the session (see :meth:`Stack.unique`).
_NAMES = itertools.count(1)


@dataclass(frozen=True)
class User:
    name: str
    password: str

    @property
    def creds(self) -> str:
        """``user:password`` as skopeo --creds and ctr --user take it."""
        return f"{self.name}:{self.password}"


def clean_environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any ``AUTHSVC_*`` variable (authsvc refuses unknown ones,
    and a stray known one such as AUTHSVC_CONFIG would point our processes at someone else's setup)
    and without GUNICORN_CMD_ARGS, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AUTHSVC_") and k != "GUNICORN_CMD_ARGS"}
    env.update(extra or {})
    return env


def registry_environ(generation: Generation) -> dict[str, str]:
    """A registry's environment.  It reads every ``REGISTRY_*`` variable as configuration
    (deploy/local/up.sh itself uses REGISTRY_PORT): none of the caller's may reach it, only
    its generation's own settings."""
    env = {k: v for k, v in clean_environ().items() if not k.startswith("REGISTRY_")}
    return {**env, **dict(generation.environ)}


class Stack:
    """authsvc + registry on free local ports, with all state under ``root``."""

    def __init__(self, root: Path, binaries: dict[str, str], *, database_url: str = "",
                 generation: Generation = REGISTRY2, settings: dict[str, str] | None = None):
        """``binaries``: name -> path; the registry is ``binaries["registry"]`` (that generation's
        executable) or else ``binaries["docker-registry"]``.  ``settings``: more authsvc settings
        (name -> value), for server and CLI alike."""
        self.root = root
        self.settings = dict(settings or {})
        self.bin = binaries
        self.database_url = database_url
        self.generation = generation
        self.registry_binary = binaries.get("registry") or binaries.get("docker-registry", "")
        self.data_dir = root / "authsvc-data"
        self.storage_dir = root / "registry-storage"
        self.auth_port = 0
        self.registry_port = 0
        self.gunicorn: Service | None = None
        self.registry: Service | None = None
        self._counter = _NAMES

    # -- wiring -------------------------------------------------------------

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.auth_port}/token"

    @property
    def host(self) -> str:
        """The registry as clients name it: 127.0.0.0/8 is plain HTTP for docker by default."""
        return f"127.0.0.1:{self.registry_port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of every authsvc process: server and CLI must agree on all of it."""
        env = {"AUTHSVC_DATA_DIR": str(self.data_dir), "AUTHSVC_REALM": self.realm, "AUTHSVC_BCRYPT_ROUNDS": "4",
               "AUTHSVC_NOTIFICATION_SECRET": NOTIFICATION_SECRET}
        if self.database_url:
            env["AUTHSVC_DATABASE_URL"] = self.database_url
        if self.registry_port:
            # What the web console prints in its docker commands and pull Secrets, as an operator sets it.
            env["AUTHSVC_REGISTRY_HOST"] = self.host
        env.update({f"AUTHSVC_{key.upper()}": str(value) for key, value in self.settings.items()})
        # The checkout under test for both: gunicorn (cwd REPO_ROOT) imports it first anyway, and
        # the CLI would otherwise import whichever checkout the venv's editable install names.
        env["PYTHONPATH"] = str(REPO_ROOT)
        return clean_environ(env)

    def start(self) -> None:
        init = self.authsvc("init", check=False)
        if init.returncode != 0:
            raise StartupFailed(f"authsvc init failed:\n{init.stdout}{init.stderr}", exited=True, log="")
        # authsvc must know the registry's address (registry_host) and the registry authsvc's (the
        # realm), so the registry's port is chosen first and authsvc started with it; should another
        # process take that port before the registry binds it, both start again on new ports.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.registry_port = free_port()
            self.gunicorn = self._start_on_free_port("authsvc", self._gunicorn_service, "/healthz", 200)
            try:
                self.registry = self._start_on_port(self._registry_service, self.registry_port, "/v2/", 401)
                return
            except StartupFailed as exc:
                self.gunicorn.stop()
                port_taken = any(text in exc.log.lower() for text in PORT_TAKEN)
                if not (exc.exited and port_taken) or attempt == PORT_ATTEMPTS:
                    raise

    def _start_on_free_port(self, name: str, factory, path: str, expected: int) -> Service:
        """Start on a fresh port; retry with another when the port was taken in the meantime."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                return self._start_on_port(factory, free_port(), path, expected)
            except StartupFailed as exc:
                port_taken = any(text in exc.log.lower() for text in PORT_TAKEN)
                if not (exc.exited and port_taken) or attempt == PORT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _start_on_port(factory, port: int, path: str, expected: int) -> Service:
        """Start ``factory(port)`` and wait until GET ``path`` answers ``expected``; stopped if not."""
        service = factory(port)
        service.start()
        url = f"http://127.0.0.1:{port}{path}"
        try:
            service.wait_ready(lambda: http_status(url) == expected, timeout=STARTUP_TIMEOUT,
                               what=f"GET {url} answered {expected}")
        except StartupFailed:
            service.stop()
            raise
        return service

    def _gunicorn_service(self, port: int) -> Service:
        self.auth_port = port  # the realm (in self.env) names this port
        argv = [self.bin["gunicorn"], "-c", str(GUNICORN_CONF), "-b", f"127.0.0.1:{port}", "-w", "2",
                "authsvc:create_app()"]
        return Service("authsvc (gunicorn)", argv, env=self.env, cwd=REPO_ROOT,
                       log_path=self.root / f"authsvc-{port}.log")

    def _registry_service(self, port: int) -> Service:
        self.registry_port = port
        config = self.registry_config("--addr", f"127.0.0.1:{port}", "--storage", str(self.storage_dir))
        config_path = self.root / f"registry-{port}.yml"
        config_path.write_text(config)
        return Service(f"registry ({self.generation.id})", [self.registry_binary, "serve", str(config_path)],
                       env=self.registry_environ, log_path=self.root / f"registry-{port}.log")

    @property
    def registry_environ(self) -> dict[str, str]:
        return registry_environ(self.generation)

    def registry_config(self, *args: str) -> str:
        """``authsvc registry-config --full`` for this stack's registry generation."""
        return self.authsvc("registry-config", "--full", "--registry-version", str(self.generation.config_version),
                            *args).stdout

    def start_extra_registry(self, tag: str, *, token: dict[str, str] | None = None) -> tuple[Service, str]:
        """Another registry on a free port, configured like the stack's (``registry-config --full``)
        but with the ``auth.token`` keys in ``token`` replaced and without notifications; returns it
        and its URL.  For tests of deliberately misconfigured registries; the caller stops it."""
        import yaml  # a test extra; only this helper needs it

        ports: list[int] = []

        def factory(port: int) -> Service:
            ports.append(port)
            config = yaml.safe_load(self.registry_config("--addr", f"127.0.0.1:{port}",
                                                         "--storage", str(self.root / f"registry-{tag}-storage")))
            config["auth"]["token"].update(token or {})
            config.pop("notifications", None)
            path = self.root / f"registry-{tag}-{port}.yml"
            path.write_text(yaml.safe_dump(config))
            return Service(f"registry ({self.generation.id}, {tag})", [self.registry_binary, "serve", str(path)],
                           env=self.registry_environ, log_path=self.root / f"registry-{tag}-{port}.log")

        service = self._start_on_free_port(f"registry ({tag})", factory, "/v2/", 401)
        return service, f"http://127.0.0.1:{ports[-1]}"

    def stop(self) -> None:
        for service in (self.registry, self.gunicorn):
            if service is not None:
                service.stop()

    def log_mark(self) -> int:
        """A position in the authsvc log; :meth:`log_since` returns what was written after it."""
        return self.gunicorn.log_path.stat().st_size if self.gunicorn else 0

    def log_since(self, mark: int) -> str:
        with open(self.gunicorn.log_path, "rb") as fh:
            fh.seek(mark)
            return fh.read().decode(errors="replace")

    def log_tail(self, lines: int = 15) -> str:
        return tail(self.gunicorn.log_path, lines) if self.gunicorn else ""

    # -- the authsvc CLI, for seeding and for the changes under test --------

    def authsvc(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = run([self.bin["authsvc"], *args], env=self.env, input=input)
        if check:
            assert result.returncode == 0, f"authsvc {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        return result

    def unique(self, base: str) -> str:
        """Names are unique per session, so tests can share one stack and stay independent.  The
        counter is shared by every stack: the registry generations each have their own, but share
        dockerd and podman, whose caches must never hold an image another stack made under the
        same name (docker would skip the download of a pull, and with it the record of where a
        layer came from that a cross-repository mount needs)."""
        return f"{base}{next(self._counter)}"

    def user(self, base: str, *, admin: bool = False) -> User:
        user = User(self.unique(base), f"{base}-Secret-{next(self._counter)}")
        self.authsvc("user", "create", user.name, "--password-stdin", *(["--admin"] if admin else []),
                     input=user.password + "\n")
        return user

    def project(self, base: str, *, public: bool = False, owner: User | None = None,
                members: dict[User, str] | None = None) -> str:
        name = self.unique(base)
        self.authsvc("project", "create", name, *(["--public"] if public else []),
                     *(["--owner", owner.name] if owner else []))
        for member, role in (members or {}).items():
            self.member_add(name, member, role)
        return name

    def member_add(self, project: str, user: User, role: str) -> None:
        self.authsvc("member", "add", project, user.name, "--role", role)

    def set_password(self, user: User, password: str) -> User:
        self.authsvc("user", "passwd", user.name, "--password-stdin", input=password + "\n")
        return User(user.name, password)

    def refresh_tokens(self, user: User) -> list[dict]:
        return json.loads(self.authsvc("token", "list", "--user", user.name, "--json").stdout)

    # -- images -------------------------------------------------------------

    def push_image(self, project: str, repo: str, pusher: User, tag: str = "v1") -> str:
        """Build a never-seen-before image and push it with skopeo as ``pusher``; return its reference."""
        layout = self.root / "layouts" / self.unique("img")
        oci.build_layout(layout, tag, marker=layout.name)
        ref = f"{self.host}/{project}/{repo}:{tag}"
        result = self.client([self.bin["skopeo"], "copy", "--dest-tls-verify=false", "--dest-creds",
                              pusher.creds, f"oci:{layout}:{tag}", f"docker://{ref}"])
        ok(result, f"seeding {ref} as {pusher.name}")
        return ref

    def client(self, argv: list[str], *, env: dict[str, str] | None = None,
               input: str | None = None) -> subprocess.CompletedProcess:
        """Run a registry client; the authsvc log tail is attached for assertion messages."""
        result = run(argv, env=env or clean_environ(), input=input)
        result.server_log = self.log_tail()  # type: ignore[attr-defined]
        return result


class DockerDaemon:
    """A private dockerd on a unix socket under a short /tmp path (sun_path is ~108 bytes)."""

    def __init__(self, root: Path, binaries: dict[str, str], *, database_url: str = "",
                 data_root: Path | None = None, name: str = "dockerd"):
        """``data_root``: where images live, if they must outlive the session (a cache)."""
        self.root = root
        self.bin = binaries
        self.database_url = database_url
        self.name = name
        self.data_root = data_root or root / "d"
        self.socket = root / "s"
        self.exec_root = root / "e"
        self.service: Service | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return clean_environ({"DOCKER_HOST": self.host, **(extra or {})})

    @property
    def containerd_socket(self) -> Path:
        return self.exec_root / "containerd" / "containerd.sock"

    def start(self) -> None:
        if os.geteuid() != 0:
            unavailable("dockerd must run as root (the suite starts its own daemon)")
        self.data_root.mkdir(parents=True, exist_ok=True)
        argv = [self.bin["dockerd"], "--iptables=false", "--ip6tables=false", "--bridge=none",
                "--storage-driver=vfs", "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "-H", self.host, "--pidfile", str(self.root / "p")]
        self.service = Service(self.name, argv, env=clean_environ(), log_path=self.root / "dockerd.log").start()
        try:
            self.service.wait_ready(self._answers, timeout=STARTUP_TIMEOUT, what="`docker version` succeeded")
            self.service.wait_ready(self.containerd_socket.exists, timeout=STARTUP_TIMEOUT,
                                    what=f"{self.containerd_socket} exists")
            return
        except StartupFailed as exc:
            failure = str(exc)
        self.stop()
        unavailable(f"dockerd cannot start: {failure}")  # outside the except: no chained traceback

    def _answers(self) -> bool:
        return self.docker("version", timeout=10).returncode == 0

    def docker(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
        return run([self.bin["/usr/bin/docker"], *args], env=self.env(env), input=input, timeout=timeout)

    def stop(self) -> None:
        containerd_pid = self._our_containerd_pid()
        if self.service is not None:
            self.service.stop(timeout=30)
            self.service = None
        if containerd_pid is not None and self._our_containerd_pid() == containerd_pid:
            os.kill(containerd_pid, signal.SIGKILL)  # dockerd normally stops it; never leave it behind
        # dockerd leaves the network namespaces of containers it ran bind-mounted under the
        # exec-root; without the unmount the session directory cannot be removed.
        for mount in _mounts_under(self.root):
            run(["umount", "-l", mount], timeout=30)

    def _our_containerd_pid(self) -> int | None:
        """The pid of the containerd this dockerd started, if it still runs (checked by its cmdline)."""
        try:
            pid = int((self.exec_root / "containerd" / "containerd.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return None
        return pid if str(self.exec_root) in cmdline else None


def _mounts_under(root: Path) -> list[str]:
    """Mount points below ``root``, deepest first."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    prefix = str(root).rstrip("/") + "/"
    points = [line.split()[1] for line in lines if len(line.split()) > 1]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)
