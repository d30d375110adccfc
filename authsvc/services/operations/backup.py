"""A consistent copy of everything an installation cannot rebuild: the database and the keys.

Losing the database loses every account and membership; losing the signing
key means every registry must be re-configured to trust a new one.  Both
belong in one backup, taken while the service runs:

* SQLite: the online backup API copies a consistent snapshot page by page
  while workers keep writing (WAL mode), unlike ``cp`` of a live file;
* PostgreSQL: ``pg_dump`` is the right tool and is not ours to wrap; the
  backup then holds the key files and says so in its manifest;
* key files: the active pair, a staged or previous key, the published trust
  bundle and JWKS, the rotation record and the registry's ``http.secret``.

The backup directory is created 0700 and every file in it 0600: it holds
the private key and password hashes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from pathlib import Path

from ...store import schema
from ..errors import Invalid
from ..unit_of_work import UnitOfWork

MANIFEST = "backup.json"
DATABASE_FILE = "authsvc.db"


def _key_files(uow: UnitOfWork) -> dict[str, Path]:
    """Role -> where this installation keeps that file.  Backups name files by role, so a restore
    puts them where the *restoring* configuration wants them, whatever they were called before."""
    p = uow.context.key_paths
    return {"key": p.key, "cert": p.cert, "next_key": p.next_key, "next_cert": p.next_cert,
            "previous_cert": p.previous_cert, "bundle": p.bundle, "jwks": p.jwks, "rotation": p.state,
            "registry_http_secret": Path(uow.settings.data_dir, "registry-http-secret")}


def _copy_private(source: Path, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(source.read_bytes())


def create(uow: UnitOfWork, destination: Path) -> dict:
    """Write a backup into ``destination`` (new or empty); returns its manifest."""
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise Invalid(f"{destination} exists and is not an empty directory; choose a new one")
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(destination, 0o700)
    manifest = {"created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "schema_revision": schema.current_revision(uow.session.get_bind()), "files": {}}
    if uow.settings.database_url:
        manifest["database"] = "external: back it up with its own tool (PostgreSQL: pg_dump)"
    else:
        target = destination / DATABASE_FILE
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        source = sqlite3.connect(Path(uow.settings.data_dir, DATABASE_FILE))
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)
            integrity = copy.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            copy.close()
            source.close()
        if integrity != "ok":
            raise Invalid(f"the copied database failed its integrity check: {integrity}")
        manifest["database"] = DATABASE_FILE
    for role, path in _key_files(uow).items():
        if path.exists():
            _copy_private(path, destination / role)
            manifest["files"][role] = str(path)
    _copy_manifest(destination / MANIFEST, manifest)
    return manifest


def restore(uow: UnitOfWork, source: Path, *, overwrite: bool = False) -> dict:
    """Put a backup's database and key files where this configuration expects them.

    Run it with authsvc stopped.  Refuses to replace existing files unless ``overwrite``: a
    restore aimed at the wrong data directory must not destroy a working installation.  The
    schema is then brought to this release (a backup from an older release is upgraded).
    """
    source = Path(source)
    try:
        manifest = json.loads((source / MANIFEST).read_text())
        files = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError):
        raise Invalid(f"{source} is not an authsvc backup (no readable {MANIFEST})") from None
    targets = _key_files(uow)
    unknown = set(files) - set(targets)
    if unknown or "key" not in files or "cert" not in files:
        raise Invalid(f"{source}/{MANIFEST} lists unexpected files {sorted(unknown)} or lacks the key pair")
    plan = {source / role: targets[role] for role in files}
    if manifest.get("database") == DATABASE_FILE:
        if uow.settings.database_url:
            raise Invalid("the backup holds a SQLite database but database_url names another database")
        plan[source / DATABASE_FILE] = Path(uow.settings.data_dir, DATABASE_FILE)
    clashes = [str(t) for t in plan.values() if t.exists() and t.stat().st_size > 0]
    if clashes and not overwrite:
        raise Invalid(f"{clashes[0]} exists; restore into an empty data directory, or pass --overwrite")
    engine = uow.session.get_bind()
    uow.session.close()
    engine.dispose()  # no pooled connection may keep the replaced database file open
    for src, target in plan.items():
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".restore")
        tmp.unlink(missing_ok=True)
        _copy_private(src, tmp)
        if target.suffix in (".crt", ".pem", ".json") and target.name != "rotation.json":
            os.chmod(tmp, 0o644)  # public material stays readable by the registry, as published
        os.replace(tmp, target)
    for suffix in ("-wal", "-shm"):  # a stale WAL of the replaced database must not be replayed
        Path(uow.settings.data_dir, DATABASE_FILE + suffix).unlink(missing_ok=True)
    schema.upgrade(engine)
    return manifest


def _copy_manifest(path: Path, manifest: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(manifest, out, indent=2)
        out.write("\n")
