"""What ``authsvc doctor`` may expect of key files it cannot change: a read-only Secret mount.

On a host or in a compose volume the signing key is authsvc's own file, and anything but 0600
(or 0400) is a mistake that ``chmod 600`` fixes.  In Kubernetes the key is a Secret volume: the
kubelet writes it read-only, owned by root, group-readable by the pod's ``fsGroup`` when the pod
does not run as root (mode 0440, as deploy/kubernetes chose on purpose), and no ``chmod`` inside
the pod can change that.  The same volume holds only the key pair, so the trust bundle that
lives beside the certificate elsewhere is simply not there: the registry mounts it from its own
ConfigMap.

So the checks recognise such a mount from what is on disk -- no setting to forget or to set
wrongly on a host: the kubelet's layout (each file a symlink into ``..data/``, itself a symlink
to the current timestamped copy), or any read-only filesystem (a ``docker run -v …:ro``, a
Secret mounted with ``subPath``).  There, a key its group may read (0440) is accepted when that
group is one this process runs with (it is what lets us read a root-owned file); a group that
may write or execute it, or any other group, is not.  A key readable by others fails everywhere.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

#: The kubelet's atomic-writer layout: ``NAME -> ..data/NAME``, ``..data -> ..2024_…``.
KUBERNETES_DATA_LINK = "..data"
SECRET_MODE_FIX = ("set the Secret volume's defaultMode to 0440 (or 0400) and the pod's fsGroup to its "
                   "runAsGroup, as deploy/kubernetes/base/authsvc-deployment.yaml does")


def read_only_mount(path: Path) -> str | None:
    """How ``path`` is mounted where it cannot be changed (for the checks' messages), or None."""
    if _kubernetes_volume(path):
        return "a Kubernetes Secret volume (read-only)"
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "a read-only filesystem"
    except OSError:
        return None
    return None


def _kubernetes_volume(path: Path) -> bool:
    """``path`` is a symlink into the ``..data`` link of its directory, as the kubelet makes them."""
    try:
        target = os.readlink(path)
    except OSError:
        return False
    return (target.split("/", 1)[0] == KUBERNETES_DATA_LINK
            and os.path.islink(os.path.join(os.path.dirname(path), KUBERNETES_DATA_LINK)))


@dataclass(frozen=True)
class KeyMode:
    """The verdict on a key file's mode: ``ok``, what it means, and how to fix it if not."""

    ok: bool
    detail: str
    fix: str = ""


def judge_key_mode(path: Path) -> KeyMode:
    """Whether only this service can read the signing key at ``path`` (see the module's docstring)."""
    info = os.stat(path)
    mode = stat.S_IMODE(info.st_mode)
    mount = read_only_mount(path) if mode & 0o077 else None
    if mount is None:
        fix = f"chmod 600 {path}"
    elif _kubernetes_volume(path):
        fix = SECRET_MODE_FIX
    else:
        fix = (f"give the key mode 0400 (or 0440, group-readable by this process's group only) where it is "
               f"written: {path} is on {mount}")
    if mode & 0o007:
        return KeyMode(False, f"{path} has mode {mode:04o}: other local users can read the key and sign any "
                       "token", fix)
    if not mode & 0o070:
        return KeyMode(True, f"{path} has mode {mode:04o}")
    if mount is None:
        return KeyMode(False, f"{path} has mode {mode:04o}: members of group {info.st_gid} can read the key and "
                       "sign any token", fix)
    if mode & 0o030:
        return KeyMode(False, f"{path} has mode {mode:04o} on {mount}: its group may read the key, nothing more",
                       fix)
    if info.st_gid not in {os.getegid(), *os.getgroups()}:
        return KeyMode(False, f"{path} has mode {mode:04o} on {mount}, readable by group {info.st_gid}, which "
                       "this process is not in: another group can read the key", fix)
    return KeyMode(True, f"{path} has mode {mode:04o} on {mount}: readable by group {info.st_gid}, this "
                   "process's own, and by nobody else ('chmod 600' is impossible there)")
