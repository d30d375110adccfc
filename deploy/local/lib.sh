# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Shared by up.sh and down.sh (sourced, not run).  Options come from the environment;
# none starts with AUTHSVC_ because authsvc refuses unknown AUTHSVC_* variables.
#   STACK_DIR      state directory (default REPO/var/local-stack): data, logs, pid files
#   REGISTRY_PORT  registry port on 127.0.0.1 (default 5000)
#   AUTH_PORT      authsvc port on 127.0.0.1 (default 5001)
#   DOCKER_HOST    docker daemon to use or start (default unix:///var/run/docker.sock)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
STATE=$(realpath -m "${STACK_DIR:-$REPO/var/local-stack}")
REGISTRY_PORT=${REGISTRY_PORT:-5000}
AUTH_PORT=${AUTH_PORT:-5001}
DOCKER_SOCK_DEFAULT=/var/run/docker.sock
DOCKER_HOST_EFFECTIVE=${DOCKER_HOST:-unix://$DOCKER_SOCK_DEFAULT}
# Runtime directory of a dockerd started by up.sh: short, because unix socket paths are.
DOCKERD_EXEC_ROOT="/tmp/authsvc-dockerd-$(printf %s "$STATE" | sha256sum | cut -c1-8)"

# Every process we start carries LOCAL_STACK=$STATE in its environment, so a pid file is
# only believed when the process it names is really ours (pids get reused; other people run
# their own registries, gunicorns and dockerds on this machine).
MARKER="LOCAL_STACK=$STATE"

# ours NAME: print the pid from STATE/NAME.pid if that process is alive and ours.
ours() {
    local pid
    pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    local environ
    environ=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ") || return 1
    grep -qxF "$MARKER" <<<"$environ" || return 1
    echo "$pid"
}

# alive PID: the process exists and is not a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# stop NAME: SIGTERM the process of STATE/NAME.pid if ours, wait for it (then SIGKILL).
stop() {
    local name=$1 pid
    if ! pid=$(ours "$name"); then
        rm -f "$STATE/$name.pid" "$STATE/$name.spec"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + ${STOP_TIMEOUT:-30}))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if alive "$pid"; then
        echo "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT:-30}s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$name.pid" "$STATE/$name.spec"
    echo "$name: stopped (pid $pid)"
}
