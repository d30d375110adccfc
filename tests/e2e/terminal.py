"""Run a command on a pseudo-terminal and answer its password prompts, as a person at a terminal does.

The docs' commands prompt: ``docker-compose exec authsvc authsvc user create admin --admin``
(compose allocates a TTY, and refuses without one), ``docker login -u admin``.  Run as written,
they need a terminal; this gives them one (the pty becomes the child's controlling terminal, so
``getpass`` on /dev/tty works too) and types the answer to each prompt it sees.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

#: click's "Password: " / "Repeat for confirmation: ", docker's "Password: ".
PROMPT = re.compile(r"(Password|Repeat for confirmation): ?$")


def _controlling_terminal() -> None:  # in the child, after setsid (start_new_session)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_on_terminal(argv: Sequence[str], *, answer: str, env: Mapping[str, str], cwd: Path,
                    timeout: float) -> subprocess.CompletedProcess:
    """Run ``argv`` on a new pty, typing ``answer`` at every password prompt; the output is the
    terminal's (stdout and stderr together)."""
    master, slave = os.openpty()
    process = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=dict(env), cwd=cwd,
                               start_new_session=True, preexec_fn=_controlling_terminal)
    os.close(slave)
    output = b""
    answered_up_to = 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                process.kill()
                output += f"\n(killed after {timeout}s timeout)".encode()
                break
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child side is closed
                break
            if not chunk:
                break
            output += chunk
            pending = output[answered_up_to:].decode(errors="replace").rstrip("\r\n ")
            if PROMPT.search(pending):
                os.write(master, answer.encode() + b"\n")
                answered_up_to = len(output)
    finally:
        os.close(master)
    returncode = process.wait(timeout=30)
    text = output.decode(errors="replace").replace("\r\n", "\n")
    return subprocess.CompletedProcess(list(argv), returncode, text, "")
