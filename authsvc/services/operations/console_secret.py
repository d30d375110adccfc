"""The web console's cookie-signing key: one random secret per installation, kept in a 0600 file.

Flask signs the console's session cookie with it, so it must be the same in every gunicorn worker
and across restarts (or every restart signs everyone out), and it must never be logged or shown.
By default it is ``console-secret`` in the data directory, made at ``authsvc init`` or at the
first start if absent (by writing a private temporary file and linking it into place, so that two
workers starting at once agree on one secret).  Several instances behind one load balancer must
share it: the ``console_secret_file`` setting names a file they all mount (a Kubernetes Secret),
which then must exist -- authsvc never creates a file there, since an instance making its own
would silently sign its sessions with a key the others refuse.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ...settings import Settings
from .key_mounts import KeyMode, judge_key_mode

FILE_NAME = "console-secret"
#: A secret shorter than this (a typo, an empty mounted file) is refused rather than used.
MIN_BYTES = 32


class ConsoleSecretError(RuntimeError):
    """The secret cannot be read or made; the message says what to do."""


def path_of(settings: Settings) -> Path:
    return Path(settings.console_secret_file or Path(settings.data_dir, FILE_NAME))


def ensure(settings: Settings) -> tuple[bytes, bool]:
    """The secret (read, or made if this installation has none yet) and whether it was made now."""
    path = path_of(settings)
    created = False
    if not path.exists():
        if settings.console_secret_file:
            raise ConsoleSecretError(f"console_secret_file {path} does not exist: create it with 'umask 077; "
                                     f"openssl rand -hex 32 > {path}' and give every instance the same file")
        created = _create(path)
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConsoleSecretError(f"cannot read the console secret {path}: {exc.strerror}") from None
    if len(secret) < MIN_BYTES:
        raise ConsoleSecretError(f"the console secret {path} holds fewer than {MIN_BYTES} bytes: "
                                 f"replace it with 'openssl rand -hex 32' output")
    return secret, created


def _create(path: Path) -> bool:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temporary, path)  # fails if another worker was first: theirs is kept
            return True
        except FileExistsError:
            return False
    finally:
        temporary.unlink(missing_ok=True)


def judge_mode(settings: Settings) -> KeyMode | None:
    """Whether only this service can read the secret file (None if there is none yet)."""
    path = path_of(settings)
    if not path.exists():
        return None
    return judge_key_mode(path)
