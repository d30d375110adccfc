"""Secrets the service reads from files named in its settings (a directory's bind password, the
OpenID client secret): refused unless only their owner can read them, as for the signing key."""

from __future__ import annotations

import os
import stat

from ...settings import SettingsError


def read_secret_file(setting: str, path: str) -> str:
    """The stripped content of ``path``; :class:`SettingsError` naming ``setting`` if the file is
    readable by others, unreadable or empty."""
    try:
        info = os.stat(path)
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise SettingsError(f"setting {setting!r}: {path} is readable by others "
                                f"(mode {stat.S_IMODE(info.st_mode):o}); chmod 600 it")
        with open(path, encoding="utf-8") as fh:
            secret = fh.read().strip()
    except OSError as exc:
        raise SettingsError(f"setting {setting!r}: cannot read {path}: {exc.strerror}") from None
    if not secret:
        raise SettingsError(f"setting {setting!r}: {path} is empty")
    return secret
