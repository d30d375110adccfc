"""Starting, waiting on and stopping the real processes the end-to-end suite drives.

Everything here exists so that a failure says *why*: a service that does not
come up is reported with the tail of its own log, a client command that
misbehaves with its full argv, exit status and output.  Nothing sleeps for a
fixed time; readiness is always polled against a deadline.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

#: Client commands that hang are bugs in the stack; a generous bound keeps CI from stalling.
COMMAND_TIMEOUT = 180


def ci_mode() -> bool:
    """CI=true: a missing prerequisite is a broken pipeline, never a quiet skip."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> NoReturn:
    """Fail loudly under CI, skip with the reason elsewhere (a developer laptop without dockerd)."""
    if ci_mode():
        pytest.fail(f"e2e prerequisite unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(f"e2e prerequisite unavailable: {reason} (set CI=true to make this a failure)")


def find_binary(name: str) -> str | None:
    """An absolute path is taken as is; a bare name is looked up next to this Python first
    (the venv's authsvc and gunicorn), then on PATH."""
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def require_binaries(*names: str) -> dict[str, str]:
    """Map each name to its path, or stop the requesting fixture with every missing one named."""
    found = {name: find_binary(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        unavailable("missing binaries: " + ", ".join(missing))
    return found  # type: ignore[return-value]


def free_port() -> int:
    """A port the kernel just considered free.  Another process may still take it before ours
    binds, so callers retry with a new port when a service dies with 'address already in use'."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def restartable_port() -> int:
    """A free port below the kernel's ephemeral range, for a service that is stopped and started
    again on the same port (deploy/local/up.sh restarting the registry).  A port from
    :func:`free_port` is an ephemeral one: while ours is down, another test's ``bind(0)`` may be
    handed exactly that port and the restart then finds it taken.  Below the range, only another
    caller of this function could pick it, and the bind check here refuses one in use."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    pick = random.SystemRandom()
    for _ in range(200):
        port = pick.randrange(max(1024, low - 12000), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port found below the ephemeral range ({low})")


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET (error statuses included), or None if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


class StartupFailed(RuntimeError):
    """A service exited or never became ready; the message holds its log tail."""

    def __init__(self, message: str, *, exited: bool, log: str):
        super().__init__(message)
        self.exited = exited
        self.log = log


class Service:
    """One long-running process with its output in a log file.

    It runs in its own session (process group), so that a stop that has to
    escalate to SIGKILL also reaches the children it spawned (gunicorn's
    workers, dockerd's containerd) and nothing else on the machine.
    """

    def __init__(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path,
                 cwd: str | Path | None = None):
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> Service:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def wait_ready(self, probe: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll ``probe`` until it is true; raise StartupFailed if the process exits or time runs out."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            if probe():
                return
            code = self.proc.poll()
            if code is not None:
                raise StartupFailed(f"{self.name} exited with status {code} before {what}\n"
                                    f"command: {' '.join(self.argv)}\n--- log tail ---\n{self.log_tail()}",
                                    exited=True, log=self.log_tail(200))
            if time.monotonic() > deadline:
                raise StartupFailed(f"{self.name} not ready after {timeout:.0f}s: {what}\n"
                                    f"command: {' '.join(self.argv)}\n--- log tail ---\n{self.log_tail()}",
                                    exited=False, log=self.log_tail(200))
            time.sleep(delay)  # polling interval, not a wait for readiness
            delay = min(delay * 2, 0.5)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL to the whole process group if it outlives ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
        else:
            try:  # a worker that ignored its dying parent must not outlive the session
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, input: str | None = None,
        timeout: float = COMMAND_TIMEOUT, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run a client command to completion with its output captured (never raises on failure)."""
    try:
        return subprocess.run(list(argv), env=None if env is None else dict(env), input=input,
                              capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        def text(value) -> str:
            return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
        return subprocess.CompletedProcess(list(argv), -9, text(exc.stdout),
                                           text(exc.stderr) + f"\n(killed after {timeout}s timeout)")


def describe(result: subprocess.CompletedProcess) -> str:
    """The whole story of one command, for an assertion message."""
    argv = result.args if isinstance(result.args, str) else " ".join(map(str, result.args))
    text = (f"$ {argv}\nexit status: {result.returncode}\n"
            f"--- stdout ---\n{(result.stdout or '').strip()}\n--- stderr ---\n{(result.stderr or '').strip()}")
    server_log = getattr(result, "server_log", "")
    if server_log:
        text += f"\n--- authsvc log (tail) ---\n{server_log}"
    return text


#: Words every client uses when the registry or the token service refused it.  Requiring one of
#: them keeps a "denied" expectation from passing on an unrelated failure (connection refused,
#: manifest unknown, a typo in a reference).
DENIAL_WORDS = ("denied", "unauthorized", "authentication required", "insufficient_scope",
                "invalid username/password")


def ok(result: subprocess.CompletedProcess, why: str = "") -> subprocess.CompletedProcess:
    """Assert the command succeeded."""
    assert result.returncode == 0, f"expected success{': ' + why if why else ''}\n{describe(result)}"
    return result


def denied(result: subprocess.CompletedProcess, why: str = "") -> subprocess.CompletedProcess:
    """Assert the command failed *because access was refused*."""
    output = f"{result.stdout}\n{result.stderr}".lower()
    assert result.returncode != 0 and any(word in output for word in DENIAL_WORDS), (
        f"expected an access denial{': ' + why if why else ''}\n{describe(result)}")
    return result
