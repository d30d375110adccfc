"""Write the local stack's settings file, STATE/authsvc.toml, for deploy/local/up.sh.

One file is what both the server (gunicorn, through AUTHSVC_CONFIG) and the CLI read, so a setting
can never be on in one and off in the other -- the trap of issue 15, where a secret passed in the
environment reached the registry's config but not the running authsvc.  up.sh restarts whatever
the file's (or the registry config's) content no longer matches.

    stack_settings.py CONFIG data_dir=… realm=… registry_host=… notification_secret_file=FILE

The named values are the stack's own (from STACK_DIR, AUTH_PORT, REGISTRY_PORT; the secret is read
from its 0600 file, never from argv, or taken from AUTHSVC_NOTIFICATION_SECRET, which then replaces
the file's -- only once the whole result is valid, so a bad secret is never kept).  Every other key already in the file is kept (edit it by
hand and re-run up.sh), and every AUTHSVC_<KEY> variable in the environment is written in
(``AUTHSVC_TOKEN_TTL=600 up.sh``).  The result is validated with authsvc's own settings loader
before it replaces the file, so a bad value stops up.sh before anything restarts.  Prints the
names (never the values) of the keys that changed, space-separated; exit 1 with one line on error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import tomllib
from pathlib import Path

from authsvc.settings import Settings, SettingsError, _convert, load

HEADER = ("# The local stack's settings, written by deploy/local/up.sh: gunicorn and the authsvc CLI read\n"
          "# this file.  Keys other than data_dir, realm, registry_host and notification_secret may be\n"
          "# edited here (or given as AUTHSVC_<KEY>=... deploy/local/up.sh); re-run up.sh to apply.\n")
FIELDS = {f.name for f in dataclasses.fields(Settings)}


def fail(message: str) -> None:
    print(f"up.sh: {message}", file=sys.stderr)
    sys.exit(1)


def render_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json.dumps(str(item)) for item in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def render(values: dict) -> str:
    return HEADER + "".join(f"{key} = {render_value(values[key])}\n" for key in sorted(values))


def keep(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600 from the start."""
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(scratch, path)


def main(argv: list[str]) -> None:
    config = Path(argv[0])
    stack = dict(arg.split("=", 1) for arg in argv[1:])
    secret_file = Path(stack.pop("notification_secret_file"))
    given_secret = os.environ.get("AUTHSVC_NOTIFICATION_SECRET")  # replaces the kept one, once valid
    stack["notification_secret"] = given_secret if given_secret is not None else secret_file.read_text().strip()
    try:
        existing = tomllib.loads(config.read_text()) if config.exists() else {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        fail(f"cannot read {config}: {exc}; fix or remove it")
    values = {**existing, **stack}
    for name, raw in sorted(os.environ.items()):
        if not name.startswith("AUTHSVC_"):
            continue
        key = name[len("AUTHSVC_"):].lower()
        if key == "config":
            if raw != str(config):
                fail(f"AUTHSVC_CONFIG={raw}: the stack's settings are {config}; unset AUTHSVC_CONFIG")
            continue
        if key in stack:
            if raw != stack[key]:
                fail(f"{name} is the stack's own (from STACK_DIR, AUTH_PORT or REGISTRY_PORT); unset it")
            continue
        if key not in FIELDS:
            fail(f"environment variable {name} is not a known setting")
        try:
            value = _convert(key, raw)
        except SettingsError as exc:
            fail(str(exc))
        values[key] = list(value) if isinstance(value, tuple) else value  # as TOML reads it back
    text = render(values)
    fd, scratch = tempfile.mkstemp(dir=config.parent, prefix=".authsvc.toml.")
    try:
        with os.fdopen(fd, "w") as fh:  # mkstemp: mode 0600 from the start (the secret is in it)
            fh.write(text)
        try:
            load(environ={"AUTHSVC_CONFIG": scratch})
        except SettingsError as exc:
            fail(str(exc).replace(scratch, str(config)))
        if not config.exists() or config.read_text() != text:
            os.replace(scratch, config)
        if given_secret is not None and (not secret_file.exists() or secret_file.read_text().strip() != given_secret):
            keep(secret_file, given_secret + "\n")
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    print(" ".join(sorted(k for k in values.keys() | existing.keys() if values.get(k) != existing.get(k))))


if __name__ == "__main__":
    main(sys.argv[1:])
