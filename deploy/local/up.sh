#!/usr/bin/env bash
# Bring up a working local stack on a fresh Debian 12 machine, in one command:
#   authsvc (gunicorn)  http://127.0.0.1:$AUTH_PORT/token     (default 5001)
#   docker-registry     http://127.0.0.1:$REGISTRY_PORT        (default 5000), trusting authsvc
#   a docker daemon     the running one, or one started here if none answers
# plus the system administrator "admin".  Safe to re-run: what runs is left running
# (restarted only if its configuration changed).  Stop with deploy/local/down.sh.
#
# Options (environment): STACK_DIR, REGISTRY_PORT, AUTH_PORT, DOCKER_HOST (see lib.sh),
#   ADMIN_PASSWORD  password for a newly created admin (default: generated, saved in
#                   STACK_DIR/admin-password, mode 0600)
#   AUTH_WORKERS    gunicorn worker count (default: config/gunicorn.conf.py, 2 x CPUs + 1)
#   UP_TIMEOUT      seconds to wait for each component to become ready (default 90)
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
export AUTHSVC_DATA_DIR="$STATE/authsvc"
export AUTHSVC_REALM="http://127.0.0.1:$AUTH_PORT/token"
export AUTHSVC_REGISTRY_HOST="127.0.0.1:$REGISTRY_PORT"  # for `authsvc pull-secret`
AUTHSVC="$REPO/.venv/bin/authsvc"
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
        echo "$name: configuration changed, restarting"
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

# --- registry ----------------------------------------------------------------------
mkdir -p "$STATE/registry-data"
"$AUTHSVC" registry-config --full --addr "127.0.0.1:$REGISTRY_PORT" \
    --storage "$STATE/registry-data" >"$STATE/registry.yml.new"
mv "$STATE/registry.yml.new" "$STATE/registry.yml"
ensure_running registry "$REGISTRY_PORT" \
    "registry 127.0.0.1:$REGISTRY_PORT $(sha256sum <"$STATE/registry.yml" | cut -d' ' -f1)" \
    /usr/bin/docker-registry serve "$STATE/registry.yml"
registry_pid=$STARTED_PID

# --- authsvc under gunicorn ----------------------------------------------------------
gunicorn_args=(-c config/gunicorn.conf.py -b "127.0.0.1:$AUTH_PORT")
if [ -n "${AUTH_WORKERS:-}" ]; then gunicorn_args+=(-w "$AUTH_WORKERS"); fi
ensure_running authsvc "$AUTH_PORT" \
    "authsvc ${gunicorn_args[*]} realm=$AUTHSVC_REALM data=$AUTHSVC_DATA_DIR" \
    "$REPO/.venv/bin/gunicorn" "${gunicorn_args[@]}" 'authsvc:create_app()'
authsvc_pid=$STARTED_PID

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
        && grep -qiF "www-authenticate: Bearer realm=\"$AUTHSVC_REALM\"" <<<"$headers"
}
wait_for authsvc "$authsvc_pid" "$STATE/authsvc.log" authsvc_ready
wait_for registry "$registry_pid" "$STATE/registry.log" registry_ready
wait_for "docker daemon" "$dockerd_pid" "$STATE/dockerd.log" docker_ok

# --- a file to source for the CLI --------------------------------------------------------
{
    echo "# source this file to use the local stack's authsvc CLI (written by deploy/local/up.sh)"
    printf 'export AUTHSVC_DATA_DIR=%q\n' "$AUTHSVC_DATA_DIR"
    printf 'export AUTHSVC_REALM=%q\n' "$AUTHSVC_REALM"
    printf 'export AUTHSVC_REGISTRY_HOST=%q\n' "$AUTHSVC_REGISTRY_HOST"
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
  registry  http://$R  ->  token realm $AUTHSVC_REALM
  docker    $DOCKER_HOST_EFFECTIVE

Log in as the system administrator "admin"
  $pw_note
  ${DOCKER_HOST:+export DOCKER_HOST=$DOCKER_HOST; }docker login $R -u admin

Walkthrough (images live in projects: $R/PROJECT/REPO:TAG):
  source $STATE/env.sh   # authsvc CLI on PATH, pointed at this stack
  authsvc project create demo --owner admin
  mkdir -p /tmp/hello && echo hello > /tmp/hello/hello.txt
  tar -C /tmp/hello -c . | docker import - $R/demo/hello:1
  docker push $R/demo/hello:1
  docker rmi $R/demo/hello:1 && docker pull $R/demo/hello:1
  authsvc user create alice && authsvc member add demo alice --role developer

Stop: $down_cmd   (keeps the data; up.sh again resumes)
MSG
