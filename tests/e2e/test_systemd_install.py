"""deploy/systemd: install.sh into a scratch root, then the units' own command lines, then docker.

systemd is not PID 1 where the suite runs, so nothing is started through systemctl.  Instead the
test installs with ``install.sh --root DIR`` (every path the script writes points into DIR), reads
the installed units, and runs their ``ExecStartPre=`` and ``ExecStart=`` lines as written, with
the units' ``Environment=`` and ``EnvironmentFile=``: authsvc's unit as installed, the registry's
from Debian's own docker-registry.service with its config path moved into DIR (the only
substitution), after the drop-in's bundle copy.  Then a docker client logs in, pushes and pulls
through them.  The registry runs as its unit's ``User=docker-registry`` (the package's user), so
the test proves it can read its config and the bundle copy but needs nothing in authsvc's 0700
state directory; authsvc runs as the test's user (the scratch install creates no ``authsvc``
user).  ``systemd-analyze verify`` checks the installed units (it needs their binaries to
exist, so it runs after the install).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .clients import Docker
from .processes import Service, denied, free_port, http_status, ok, require_binaries, run, unavailable
from .stack import REPO_ROOT, STARTUP_TIMEOUT, Stack, User, clean_environ

pytestmark = pytest.mark.e2e

INSTALL = REPO_ROOT / "deploy" / "systemd" / "install.sh"
DEBIAN_REGISTRY_UNIT = Path("/lib/systemd/system/docker-registry.service")
#: What the source tree handed to pip needs (a copy, so pip's build never writes into the repository).
SOURCE_PARTS = ("setup.cfg", "pyproject.toml", "README.md", "config", "authsvc")


def parse_unit(path: Path) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file, every value of a repeated key in order (sections merged)."""
    values: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        values.setdefault(key.strip(), []).append(value.strip())
    return values


def environment_file(path: Path) -> dict[str, str]:
    """An EnvironmentFile= as systemd reads it: KEY=VALUE lines, one pair of quotes removed."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def unit_environment(unit: dict[str, list[str]]) -> dict[str, str]:
    env = clean_environ()
    for assignment in unit.get("Environment", []):
        for word in shlex.split(assignment):
            key, _, value = word.partition("=")
            env[key] = value
    for name in unit.get("EnvironmentFile", []):
        optional = name.startswith("-")
        path = Path(name.lstrip("-"))
        if path.exists():
            env.update(environment_file(path))
        else:
            assert optional, f"EnvironmentFile {path} is missing"
    return env


def command(line: str) -> list[str]:
    """An Exec*= line as argv: its prefixes ('+' full privileges, '-' failure ignored) dropped."""
    return shlex.split(line.lstrip("+-@:!"))


class Installed:
    def __init__(self, root: Path, auth_port: int, registry_port: int, outputs: list[str], key_after_first: bytes):
        self.root = root
        self.auth_port = auth_port
        self.registry_port = registry_port
        self.outputs = outputs
        self.key_after_first = key_after_first

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    require_binaries("bash", "python3", "docker-registry", "systemd-analyze", "skopeo", "setpriv")
    if not DEBIAN_REGISTRY_UNIT.exists():
        unavailable(f"{DEBIAN_REGISTRY_UNIT} missing (Debian's docker-registry package)")
    if os.geteuid() != 0:
        unavailable("install.sh's trial and the registry's User= need root")
    scratch = Path(tempfile.mkdtemp(prefix="asd", dir="/tmp"))
    scratch.chmod(0o755)  # the registry's user must reach its files inside, as it would under /
    try:
        source = scratch / "src"
        source.mkdir()
        for part in SOURCE_PARTS:
            origin = REPO_ROOT / part
            if origin.is_dir():
                shutil.copytree(origin, source / part, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, source / part)
        root = scratch / "root"
        registry_user = pwd.getpwnam(parse_unit(DEBIAN_REGISTRY_UNIT)["User"][0])
        storage = root / "var/lib/docker-registry"  # made by the package's postinst on a real host
        storage.mkdir(parents=True)
        os.chown(storage, registry_user.pw_uid, registry_user.pw_gid)
        auth_port, registry_port = free_port(), free_port()
        argv = [str(INSTALL), "--root", str(root), "--source", str(source),
                "--realm", f"http://127.0.0.1:{auth_port}/token", "--bind", f"127.0.0.1:{auth_port}",
                "--registry-addr", f"127.0.0.1:{registry_port}"]
        first = ok(run(argv, env=clean_environ(), timeout=600), "install.sh, first run")
        key = (root / "var/lib/authsvc/signing.key").read_bytes()
        again = ok(run(argv, env=clean_environ(), timeout=600), "install.sh, second run")
        yield Installed(root, auth_port, registry_port, [first.stdout, again.stdout], key)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_install_twice_keeps_the_key_the_settings_and_the_registry_config(installed):
    root = installed.root
    assert (root / "var/lib/authsvc/signing.key").read_bytes() == installed.key_after_first
    assert "writing" not in installed.outputs[1], installed.outputs[1]
    assert not list((root / "etc/docker/registry").glob("config.yml.bak-*")), "an unchanged config was backed up"
    assert oct((root / "var/lib/authsvc").stat().st_mode & 0o777) == "0o700"
    assert oct((root / "etc/authsvc/authsvc.env").stat().st_mode & 0o777) == "0o600"
    assert oct((root / "etc/docker/registry/config.yml").stat().st_mode & 0o777) == "0o640"


def test_the_registry_config_trusts_the_readable_bundle_copy_and_keeps_its_http_secret(installed):
    """Debian's registry reads everything from config.yml (no REGISTRY_HTTP_SECRET), and cannot
    read authsvc's 0700 state directory: it must trust the copy the drop-in refreshes."""
    config = yaml.safe_load(installed.path("/etc/docker/registry/config.yml").read_text())
    assert config["auth"]["token"]["rootcertbundle"] == str(installed.path("/etc/docker/registry/authsvc-trust.pem"))
    assert len(config["http"]["secret"]) >= 32
    drop_in = parse_unit(installed.path("/etc/systemd/system/docker-registry.service.d/authsvc.conf"))
    assert command(drop_in["ExecStartPre"][0])[-1] == config["auth"]["token"]["rootcertbundle"]


def test_the_installed_units_pass_systemd_analyze_verify(installed, tmp_path):
    verify = require_binaries("systemd-analyze")["systemd-analyze"]
    unit = installed.path("/etc/systemd/system/authsvc.service")
    result = run([verify, "verify", unit.name], cwd=unit.parent)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result
    # The drop-in, merged into Debian's unit as systemd would.
    shutil.copy(DEBIAN_REGISTRY_UNIT, tmp_path / DEBIAN_REGISTRY_UNIT.name)
    shutil.copytree(installed.path("/etc/systemd/system/docker-registry.service.d"),
                    tmp_path / "docker-registry.service.d")
    result = run([verify, "verify", DEBIAN_REGISTRY_UNIT.name], cwd=tmp_path)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result


def test_the_authsvc_unit_is_confined(installed):
    unit = parse_unit(installed.path("/etc/systemd/system/authsvc.service"))
    expected = {"User": "authsvc", "StateDirectory": "authsvc", "StateDirectoryMode": "0700", "UMask": "0077",
                "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                "PrivateDevices": "yes", "CapabilityBoundingSet": "", "Restart": "on-failure",
                "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX"}
    assert {key: unit.get(key, [None])[-1] for key in expected} == expected
    assert "@system-service" in unit["SystemCallFilter"]
    assert command(unit["ExecStartPre"][0])[1:] == ["db", "upgrade"]


def test_docker_login_push_and_pull_through_the_installed_services(installed, dockerd, tmp_path):
    root = installed.root
    unit = parse_unit(installed.path("/etc/systemd/system/authsvc.service"))
    env = unit_environment(unit)
    cwd = unit["WorkingDirectory"][0]
    for line in unit["ExecStartPre"]:
        ok(run(command(line), env=env, cwd=cwd), f"authsvc.service ExecStartPre={line}")
    services = []
    try:
        authsvc = Service("authsvc.service", command(unit["ExecStart"][0]), env=env, cwd=cwd,
                          log_path=tmp_path / "authsvc.log").start()
        services.append(authsvc)
        health = f"http://127.0.0.1:{installed.auth_port}/healthz"
        authsvc.wait_ready(lambda: http_status(health) == 200, timeout=STARTUP_TIMEOUT, what=f"GET {health} is 200")

        drop_in = parse_unit(installed.path("/etc/systemd/system/docker-registry.service.d/authsvc.conf"))
        for line in drop_in["ExecStartPre"]:
            ok(run(command(line), env=clean_environ()), f"docker-registry drop-in ExecStartPre={line}")
        debian = parse_unit(DEBIAN_REGISTRY_UNIT)
        argv = [word.replace("/etc/docker/registry", str(root / "etc/docker/registry"))
                for word in command(debian["ExecStart"][0])]
        (user,) = debian["User"]
        argv = [require_binaries("setpriv")["setpriv"], f"--reuid={user}", f"--regid={user}", "--init-groups", *argv]
        registry = Service("docker-registry.service", argv, env=clean_environ(),
                           log_path=tmp_path / "registry.log").start()
        services.append(registry)
        v2 = f"http://127.0.0.1:{installed.registry_port}/v2/"
        registry.wait_ready(lambda: http_status(v2) == 401, timeout=STARTUP_TIMEOUT, what=f"GET {v2} is 401")

        # The CLI wrapper the install wrote, as an administrator would use it.
        cli = str(root / "usr/local/sbin/authsvc")
        admin = User("admin", "admin-Secret-1")
        ok(run([cli, "user", "create", admin.name, "--admin", "--password-stdin"], input=admin.password + "\n",
               env=clean_environ()))
        ok(run([cli, "project", "create", "web", "--owner", admin.name], env=clean_environ()))

        stack = Stack(tmp_path, require_binaries("skopeo", "docker-registry"))
        stack.registry_port, stack.auth_port, stack.gunicorn = installed.registry_port, installed.auth_port, authsvc
        pushed = stack.push_image("web", "app", admin)
        client = Docker(stack, dockerd, tmp_path / "docker-admin")
        denied(client("pull", pushed), "anonymous pull of a private project")
        ok(client.login(admin), "docker login against the installed services")
        ok(client("pull", pushed))
        copy = f"{stack.host}/web/copy:v2"
        ok(client("tag", pushed, copy))
        ok(client("push", copy))
        fresh = Docker(stack, dockerd, tmp_path / "docker-fresh")
        ok(fresh.login(admin))
        ok(fresh("pull", copy), "what docker pushed is in the registry")
    finally:
        for service in reversed(services):
            service.stop()
