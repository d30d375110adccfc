"""Grammars for the names people choose: projects and users.

Project names become the first path component of every repository name, so
they follow the registry's own path-component grammar (lower-case
alphanumerics joined by single ``.``, ``_``, ``__`` or ``-``); anything the
registry would refuse is refused here first, with a message saying why.

User names travel through ``docker login``, podman and containerd, shell
scripts and Kubernetes secrets.  They are restricted to lower-case ASCII
letters, digits and ``. _ - @`` (e-mail style names work), starting and
ending with a letter or digit, so that they need no quoting anywhere and
Unicode look-alikes cannot impersonate another account.
"""

from __future__ import annotations

import re

PROJECT_NAME_MAX = 64
USER_NAME_MAX = 64

_PROJECT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._-]|__)[a-z0-9]+)*$")
_USER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._@-]*[a-z0-9])?$")


class InvalidName(ValueError):
    """A name that breaks its grammar; the message is fit to show a user."""


def check_project_name(name: str) -> str:
    """Return ``name`` if it is a valid project name, else raise :class:`InvalidName`."""
    if not isinstance(name, str) or not name:
        raise InvalidName("project name must not be empty")
    if len(name) > PROJECT_NAME_MAX:
        raise InvalidName(f"project name longer than {PROJECT_NAME_MAX} characters")
    if not _PROJECT_RE.match(name):
        raise InvalidName(
            f"invalid project name {name[:80]!r}: use lower-case letters and digits, "
            "separated by single '.', '_', '__' or '-'")
    return name


def check_user_name(name: str) -> str:
    """Return ``name`` if it is a valid user name, else raise :class:`InvalidName`."""
    if not isinstance(name, str) or not name:
        raise InvalidName("user name must not be empty")
    if len(name) > USER_NAME_MAX:
        raise InvalidName(f"user name longer than {USER_NAME_MAX} characters")
    if not _USER_RE.match(name):
        raise InvalidName(
            f"invalid user name {name[:80]!r}: use lower-case letters, digits and '.', '_', '-', '@', "
            "starting and ending with a letter or digit")
    return name
