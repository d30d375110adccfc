#!/usr/bin/env bash
# Bring up a working local stack on a fresh Debian 12 machine, in one command:
#   authsvc (gunicorn)  http://127.0.0.1:$AUTH_PORT/token     (default 5001)
#   docker-registry     http://127.0.0.1:$REGISTRY_PORT        (default 5000), trusting authsvc
#   a docker daemon     the running one, or one started here if none answers
# plus the system administrator "admin", and the repository inventory: the registry notifies
# authsvc of pushes and deletes with a generated secret (STACK_DIR/notification-secret, 0600).
#
# Settings: STACK_DIR/authsvc.toml, the one file gunicorn and the CLI both read.  up.sh writes
# the stack's own keys into it and keeps the rest; AUTHSVC_<KEY>=value deploy/local/up.sh writes a
# key in (AUTHSVC_NOTIFICATION_SECRET replaces the kept secret).  The authsvc CLI finds the file
# without env.sh: up.sh links it as ~/.config/authsvc/authsvc.toml (XDG_CONFIG_HOME), where the
# CLI looks when AUTHSVC_CONFIG is unset.
#
# Safe to re-run: what runs is left running, and whatever a changed setting reaches is restarted
# (authsvc when its settings file changed, the registry when its generated config did), saying so.
# Stop with deploy/local/down.sh.
#
# Options (environment): STACK_DIR, REGISTRY_PORT, AUTH_PORT, DOCKER_HOST (see lib.sh),
#   ADMIN_PASSWORD  password for a newly created admin (default: generated, saved in
#                   STACK_DIR/admin-password, mode 0600)
#   AUTH_WORKERS    gunicorn worker count (default: config/gunicorn.conf.py, 2 x CPUs + 1)
#   UP_TIMEOUT      seconds to wait for each component to become ready (default 90)
#   CLI_CONFIG      where to link the settings for the CLI (default
#                   ${XDG_CONFIG_HOME:-~/.config}/authsvc/authsvc.toml; "none": nowhere)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
UP_TIMEOUT=${UP_TIMEOUT:-90}

die() { echo "up.sh: $*" >&2; exit 1; }
# After a failure part of the stack may run: say how to stop it (or fix and re-run up.sh).
trap_fail() {
    if ours registry >/dev/null || ours authsvc >/dev/null || ours dockerd >/dev/null; then
        echo "up.sh: failed; what was started keeps running: fix and re-run up.sh, or stop it with" \
             "${STACK_DIR:+STACK_DIR=$STACK_DIR }$REPO/deploy/local/down.sh" >&2
    fi
}

"$REPO/deploy/local/install.sh"

# A new state directory is private (it will hold the admin password and private images);
# an existing one, possibly chosen by the user, keeps its mode.
# shellcheck disable=SC2174  # only the state directory itself needs to be private
[ -d "$STATE" ] || mkdir -p -m 0700 "$STATE"
AUTHSVC="$REPO/.venv/bin/authsvc"
PY="$REPO/.venv/bin/python"
CONFIG="$STATE/authsvc.toml"
REALM="http://127.0.0.1:$AUTH_PORT/token"
TMPLOG=$(mktemp "${TMPDIR:-/tmp}/authsvc-up.XXXXXX")
# shellcheck disable=SC2154  # status is assigned inside the trap
trap 'status=$?; rm -f "$TMPLOG"; [ $status -eq 0 ] || trap_fail' EXIT

# quiet CMD...: run with output captured, shown only if it fails.
quiet() {
    if ! "$@" >"$TMPLOG" 2>&1; then
        echo "up.sh: failed: $*" >&2
        cat "$TMPLOG" >&2
        exit 1
    fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for WHAT PID LOG CHECK...: poll CHECK until it succeeds; fail early if PID dies,
# or at the deadline, showing the end of LOG.
wait_for() {
    local what=$1 pid=$2 log=$3; shift 3
    local deadline=$((SECONDS + UP_TIMEOUT))
    until "$@"; do
        if [ -n "$pid" ] && ! alive "$pid"; then
            echo "up.sh: $what exited during start-up; end of $log:" >&2
            tail -n 30 "$log" >&2 || true
            exit 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            echo "up.sh: $what not ready after ${UP_TIMEOUT}s; end of $log:" >&2
            tail -n 30 "$log" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
}

# ensure_running NAME PORT SPEC CMD...: leave NAME running if it is ours and was started with
# the same SPEC; otherwise (re)start CMD in the background, detached, logging to STATE/NAME.log.
# Sets STARTED_PID (empty if it was already running).
ensure_running() {
    local name=$1 port=$2 spec=$3; shift 3
    local pid
    STARTED_PID=
    if pid=$(ours "$name"); then
        if [ "$(cat "$STATE/$name.spec" 2>/dev/null)" = "$spec" ]; then
            echo "$name: already running (pid $pid)"
            return
        fi
        echo "$name: ${CHANGE_NOTE:-configuration changed}: restarting"
        stop "$name" >/dev/null || true
    fi
    rm -f "$STATE/$name.pid"
    if [ -n "$port" ] && port_in_use "$port"; then
        die "$name: port $port on 127.0.0.1 is already used by another process"
    fi
    # setsid: a session of its own, so closing the terminal or ^C does not reach it.
    # No job control here, so setsid does not fork and $! is the service's own pid.
    ( cd "$REPO" && exec env "$MARKER" setsid "$@" >>"$STATE/$name.log" 2>&1 </dev/null ) &
    STARTED_PID=$!
    echo "$STARTED_PID" >"$STATE/$name.pid"
    echo "$spec" >"$STATE/$name.spec"
    echo "$name: started (pid $STARTED_PID, log $STATE/$name.log)"
}

# Fail before changing anything if a port we need is taken by someone else.
for svc in registry:$REGISTRY_PORT:REGISTRY_PORT authsvc:$AUTH_PORT:AUTH_PORT; do
    IFS=: read -r name port var <<<"$svc"
    if ! ours "$name" >/dev/null && port_in_use "$port"; then
        die "port $port on 127.0.0.1 (for $name) is already used by another process;" \
            "choose another with $var=..."
    fi
done

# --- settings: one file for the server and the CLI -------------------------------------
# The notification secret is kept beside the admin password; a given one replaces it
# (stack_settings.py writes it, once it is known to be valid).
SECRET_FILE="$STATE/notification-secret"
if [ -z "${AUTHSVC_NOTIFICATION_SECRET+set}" ] && [ ! -f "$SECRET_FILE" ]; then
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$SECRET_FILE.new")
    mv "$SECRET_FILE.new" "$SECRET_FILE"
fi
changed_settings=$("$PY" "$REPO/deploy/local/stack_settings.py" "$CONFIG" "data_dir=$STATE/authsvc" \
    "realm=$REALM" "registry_host=127.0.0.1:$REGISTRY_PORT" "notification_secret_file=$SECRET_FILE") \
    || exit 1
[ -z "$changed_settings" ] || echo "settings: $CONFIG: changed $changed_settings"
chmod 0600 "$SECRET_FILE" "$CONFIG"
# From here on every authsvc command (and gunicorn) reads the file, and nothing else.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^AUTHSVC_' || true)
export AUTHSVC_CONFIG="$CONFIG"

# The CLI finds the file where it looks without AUTHSVC_CONFIG: a link, replaced only if it is
# up.sh's (a link to some stack's authsvc.toml), never a file someone wrote.
CLI_CONFIG=${CLI_CONFIG-${XDG_CONFIG_HOME:-$HOME/.config}/authsvc/authsvc.toml}
cli_note="authsvc CLI: AUTHSVC_CONFIG=$CONFIG (CLI_CONFIG=none)"
if [ "$CLI_CONFIG" != none ]; then
    if [ -L "$CLI_CONFIG" ] && [ "$(readlink "$CLI_CONFIG")" = "$CONFIG" ]; then
        cli_note="authsvc CLI: reads $CLI_CONFIG -> $CONFIG"
    elif [ ! -e "$CLI_CONFIG" ] && [ ! -L "$CLI_CONFIG" ] \
            || { [ -L "$CLI_CONFIG" ] && [[ $(readlink "$CLI_CONFIG") == */authsvc.toml ]] \
                 && { [ ! -e "$CLI_CONFIG" ] || head -n 1 "$CLI_CONFIG" | grep -q 'deploy/local/up.sh'; }; }; then
        mkdir -p "$(dirname "$CLI_CONFIG")"
        ln -sfn "$CONFIG" "$CLI_CONFIG"
        cli_note="authsvc CLI: now reads $CLI_CONFIG -> $CONFIG"
        echo "$cli_note"
    else
        cli_note="authsvc CLI: $CLI_CONFIG is not up.sh's, left alone; use AUTHSVC_CONFIG=$CONFIG"
        echo "$cli_note"
    fi
fi

# --- authsvc: database, signing key, admin user ----------------------------------
quiet "$AUTHSVC" init

created_password=
if ! "$AUTHSVC" user list --json | "$REPO/.venv/bin/python" -c \
        'import json, sys; sys.exit(0 if any(u["name"] == "admin" for u in json.load(sys.stdin)) else 1)'; then
    if [ -n "${ADMIN_PASSWORD:-}" ]; then
        password=$ADMIN_PASSWORD
    else
        password=$("$REPO/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(18))')
        (umask 077 && printf '%s\n' "$password" >"$STATE/admin-password")
        chmod 0600 "$STATE/admin-password"
        created_password=$password
    fi
    printf '%s\n' "$password" | quiet "$AUTHSVC" user create admin --admin --password-stdin
    echo "authsvc: created system administrator 'admin'"
fi

# --- authsvc under gunicorn ----------------------------------------------------------
gunicorn_args=(-c config/gunicorn.conf.py -b "127.0.0.1:$AUTH_PORT")
if [ -n "${AUTH_WORKERS:-}" ]; then gunicorn_args+=(-w "$AUTH_WORKERS"); fi
if [ -n "$changed_settings" ]; then CHANGE_NOTE="settings changed ($changed_settings)"
else CHANGE_NOTE="its command line or settings file $CONFIG changed since it started"; fi
ensure_running authsvc "$AUTH_PORT" \
    "authsvc ${gunicorn_args[*]} config=$CONFIG $(sha256sum <"$CONFIG" | cut -d' ' -f1)" \
    "$REPO/.venv/bin/gunicorn" "${gunicorn_args[@]}" 'authsvc:create_app()'
authsvc_pid=$STARTED_PID

# --- registry ----------------------------------------------------------------------
mkdir -p "$STATE/registry-data"
(umask 077 && "$AUTHSVC" registry-config --full --addr "127.0.0.1:$REGISTRY_PORT" \
    --storage "$STATE/registry-data" >"$STATE/registry.yml.new")  # holds the secrets: 0600
mv "$STATE/registry.yml.new" "$STATE/registry.yml"
CHANGE_NOTE="its configuration $STATE/registry.yml changed"
# The registry reads every REGISTRY_* variable as a config override: a podman user's
# REGISTRY_AUTH_FILE (or our own REGISTRY_PORT) must not reach it.
unset_registry_vars=()
while IFS= read -r name; do unset_registry_vars+=(-u "$name"); done < <(compgen -e | grep '^REGISTRY_' || true)
ensure_running registry "$REGISTRY_PORT" \
    "registry 127.0.0.1:$REGISTRY_PORT $(sha256sum <"$STATE/registry.yml" | cut -d' ' -f1)" \
    env "${unset_registry_vars[@]}" /usr/bin/docker-registry serve "$STATE/registry.yml"
registry_pid=$STARTED_PID

# --- docker daemon -------------------------------------------------------------------
docker_ok() { DOCKER_HOST=$DOCKER_HOST_EFFECTIVE timeout 20 docker info >/dev/null 2>&1; }
dockerd_pid=
if ! docker_ok; then
    [[ $DOCKER_HOST_EFFECTIVE == unix://* ]] \
        || die "no docker daemon answers at DOCKER_HOST=$DOCKER_HOST_EFFECTIVE"
    sock=${DOCKER_HOST_EFFECTIVE#unix://}
    if pid=$(ours dockerd); then
        echo "dockerd: already running (pid $pid), waiting for it"
        dockerd_pid=$pid
    elif [ "$sock" = "$DOCKER_SOCK_DEFAULT" ] && [ -d /run/systemd/system ] \
            && systemctl cat docker.service >/dev/null 2>&1; then
        # A normal host: docker.io's service exists but is stopped.
        quiet systemctl start docker.service
        echo "dockerd: started docker.service"
    elif curl -s --max-time 5 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; then
        echo "dockerd: something answers on $sock but 'docker info' fails; waiting for it"
    else
        # No systemd (a container, a CI runner): our own daemon, vfs storage, no networking
        # set-up (builds and containers run with --network host or none).
        mkdir -p "$(dirname "$sock")" "$STATE/docker"
        rm -f "$STATE/dockerd.pid"
        ( exec env "$MARKER" setsid dockerd --iptables=false --ip6tables=false --bridge=none \
              --storage-driver=vfs --data-root "$STATE/docker" --exec-root "$DOCKERD_EXEC_ROOT" \
              -H "unix://$sock" --pidfile "$STATE/dockerd.pid" \
              >>"$STATE/dockerd.log" 2>&1 </dev/null ) &
        dockerd_pid=$!
        echo "$DOCKER_HOST_EFFECTIVE" >"$STATE/dockerd.spec"
        echo "dockerd: started (pid $dockerd_pid, socket $sock, log $STATE/dockerd.log)"
    fi
elif pid=$(ours dockerd); then
    echo "dockerd: already running (pid $pid)"
else
    echo "dockerd: using the docker daemon that answers at $DOCKER_HOST_EFFECTIVE"
fi

# --- readiness -------------------------------------------------------------------------
authsvc_ready() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$AUTH_PORT/readyz" 2>/dev/null; }
registry_ready() {
    # 401 with a challenge naming our realm: this registry is up and trusts this authsvc.
    local headers
    headers=$(curl -s --max-time 2 -o /dev/null -D - "http://127.0.0.1:$REGISTRY_PORT/v2/" 2>/dev/null \
              | tr -d '\r') || return 1
    grep -q '^HTTP/[0-9.]* 401' <<<"$headers" \
        && grep -qiF "www-authenticate: Bearer realm=\"$REALM\"" <<<"$headers"
}
wait_for authsvc "$authsvc_pid" "$STATE/authsvc.log" authsvc_ready
wait_for registry "$registry_pid" "$STATE/registry.log" registry_ready
wait_for "docker daemon" "$dockerd_pid" "$STATE/dockerd.log" docker_ok

# --- a file to source for the CLI --------------------------------------------------------
{
    echo "# source this file to use the local stack's authsvc CLI (written by deploy/local/up.sh);"
    echo "# needed only beside another stack: the CLI reads $CLI_CONFIG by itself"
    printf 'export AUTHSVC_CONFIG=%q\n' "$CONFIG"
    # shellcheck disable=SC2016  # $PATH is expanded when env.sh is sourced
    printf 'export PATH=%q:"$PATH"\n' "$REPO/.venv/bin"
    if [ -n "${DOCKER_HOST:-}" ]; then printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"; fi
} >"$STATE/env.sh"

# --- how to use it ---------------------------------------------------------------------------
R="127.0.0.1:$REGISTRY_PORT"
if [ -n "$created_password" ]; then
    pw_note="password: $created_password   (shown once; kept in $STATE/admin-password)"
elif [ -f "$STATE/admin-password" ]; then
    pw_note="password in $STATE/admin-password"
else
    pw_note="password: the ADMIN_PASSWORD it was created with"
fi
if [ -n "${STACK_DIR:-}" ]; then down_cmd="STACK_DIR=$STACK_DIR $REPO/deploy/local/down.sh"
else down_cmd="$REPO/deploy/local/down.sh"; fi
cat <<MSG

Local stack is up (state, logs, pid files in $STATE):
  registry  http://$R  ->  token realm $REALM
  console   http://127.0.0.1:$AUTH_PORT/   (sign in as admin, below)
  inventory the registry notifies authsvc (secret in $SECRET_FILE)
  docker    $DOCKER_HOST_EFFECTIVE
  $cli_note

Log in as the system administrator "admin"
  $pw_note
  ${DOCKER_HOST:+export DOCKER_HOST=$DOCKER_HOST; }docker login $R -u admin

Walkthrough: README.md, "Walkthrough" (the CLI: export PATH="$REPO/.venv/bin:\$PATH")
Check it all: authsvc doctor --registry http://$R --registry-config $STATE/registry.yml

Stop: $down_cmd   (keeps the data; up.sh again resumes)
MSG
