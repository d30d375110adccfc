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
ROBOT_NAME_MAX = 40

#: Robot logins are ``robot.<project>.<name>``: no character a shell, a URL's user part, a
#: docker config or a Kubernetes secret treats specially (unlike Harbor's ``robot$``).  People's
#: names may not start with it, so a robot can never be mistaken for a person or the reverse.
ROBOT_PREFIX = "robot."
#: Names the REST API uses as path words (``/api/v1/users/current``).
RESERVED_USER_NAMES = frozenset({"current"})
_ROBOT_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

_PROJECT_RE = re.compile(r"[a-z0-9]+(?:(?:[._-]|__)[a-z0-9]+)*")
_USER_RE = re.compile(r"[a-z0-9](?:[a-z0-9._@-]*[a-z0-9])?")
# Every grammar here is applied with fullmatch: ``$`` with ``match`` also accepts a name followed by
# one "\n" ("guest\n"), which would then be stored and listed as a second "guest".


class InvalidName(ValueError):
    """A name that breaks its grammar; the message is fit to show a user."""


def check_project_name(name: str) -> str:
    """Return ``name`` if it is a valid project name, else raise :class:`InvalidName`."""
    if not isinstance(name, str) or not name:
        raise InvalidName("project name must not be empty")
    if len(name) > PROJECT_NAME_MAX:
        raise InvalidName(f"project name longer than {PROJECT_NAME_MAX} characters")
    if not _PROJECT_RE.fullmatch(name):
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
    if name in RESERVED_USER_NAMES:
        raise InvalidName(f"{name!r} is reserved")
    if name.startswith(ROBOT_PREFIX):
        raise InvalidName(f"user names may not start with {ROBOT_PREFIX!r}: that prefix marks robot accounts")
    if not _USER_RE.fullmatch(name):
        raise InvalidName(
            f"invalid user name {name[:80]!r}: use lower-case letters, digits and '.', '_', '-', '@', "
            "starting and ending with a letter or digit")
    return name


def check_robot_name(name: str) -> str:
    """A robot's own name (the part after its project): letters, digits and single '-'."""
    if not isinstance(name, str) or not name:
        raise InvalidName("robot name must not be empty")
    if len(name) > ROBOT_NAME_MAX or not _ROBOT_RE.fullmatch(name):
        raise InvalidName(f"invalid robot name {name[:80]!r}: use lower-case letters and digits, "
                          f"separated by single '-', at most {ROBOT_NAME_MAX} characters")
    return name


def robot_login(project: str, name: str) -> str:
    return f"{ROBOT_PREFIX}{project}.{name}"


def parse_robot_login(login: str) -> tuple[str, str] | None:
    """``(project, name)`` of a robot login, or None if it is not one.

    Project names may contain dots, robot names may not, so the split is at the last dot.
    """
    if not login.startswith(ROBOT_PREFIX):
        return None
    project, dot, name = login[len(ROBOT_PREFIX):].rpartition(".")
    if not dot:
        return None
    try:
        return check_project_name(project), check_robot_name(name)
    except InvalidName:
        return None
