#!/usr/bin/env bash
# Install what authsvc's local stack and its tests need, on Debian 12:
#   - Debian packages: the registry, dockerd + docker CLI (+ containerd/ctr), podman, skopeo,
#     PostgreSQL, wrk, curl, python3-venv, systemd (systemd-analyze, for the units in deploy/systemd),
#     debootstrap and docker-compose (tests/e2e/test_compose.py builds and runs deploy/docker images),
#     chromium (tests/e2e/console drives the web console with Playwright through Debian's browser),
#     slapd and ldap-utils (the directory-account tests start their own OpenLDAP and change it with ldapmodify);
#   - the venv REPO/.venv with authsvc installed editable, with its test and postgres extras.
# Idempotent and quiet: does nothing that is already done, prints one summary line,
# and shows the captured output of a step only when that step fails.
# Works from any directory.  Needs root (or sudo) only when Debian packages are missing.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
VENV="$REPO/.venv"
PACKAGES=(docker-registry docker.io podman skopeo postgresql wrk curl ca-certificates python3-venv systemd
          debootstrap docker-compose chromium slapd ldap-utils)

LOG=$(mktemp "${TMPDIR:-/tmp}/authsvc-install.XXXXXX")
trap 'rm -f "$LOG"' EXIT

# run DESCRIPTION CMD...: run CMD with its output captured; on failure show it and stop.
run() {
    local what=$1; shift
    if ! "$@" >"$LOG" 2>&1; then
        echo "install.sh: $what failed: $*" >&2
        tail -n 40 "$LOG" >&2
        exit 1
    fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install.sh: need root to run: $*" >&2
        exit 1
    fi
}

# --- Debian packages ----------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    run "apt-get update" as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    run "apt-get install" as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq "${missing[@]}"
    pkg_note="installed ${missing[*]}"
else
    pkg_note="Debian packages present"
fi

# --- Python venv with authsvc ---------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    run "creating the venv" python3 -m venv "$VENV"
    venv_note="created .venv"
else
    venv_note=".venv present"
fi

# pip is slow even when there is nothing to do, so skip it while the packaging metadata
# is unchanged and the venv still imports this checkout's authsvc and the extras.
STAMP="$VENV/.authsvc-install-stamp"
want_stamp=$(cat "$REPO/setup.cfg" "$REPO/pyproject.toml" | sha256sum | cut -d' ' -f1)
venv_ok() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] || return 1
    "$VENV/bin/python" - "$REPO" >/dev/null 2>&1 <<'PY'
import os, sys
import authsvc, pytest, hypothesis, yaml, psycopg, gunicorn  # noqa: F401
repo = os.path.realpath(sys.argv[1])
sys.exit(0 if os.path.realpath(authsvc.__file__) == os.path.join(repo, "authsvc", "__init__.py") else 1)
PY
}
if venv_ok; then
    pip_note="authsvc installed"
else
    run "pip install" "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -e "${REPO}[test,postgres]"
    echo "$want_stamp" >"$STAMP"
    pip_note="pip installed authsvc[test,postgres]"
fi

echo "install.sh: ok ($pkg_note; $venv_note; $pip_note)"
