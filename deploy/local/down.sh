#!/usr/bin/env bash
# Stop what deploy/local/up.sh started (authsvc, the registry, and dockerd if up.sh had to
# start one), found by the pid files in the state directory.  The data is kept: users,
# projects, the signing key, registry storage, docker's images.  Same STACK_DIR as up.sh.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$STATE" ] || { echo "no local stack state in $STATE"; exit 0; }

stopped=0
for name in authsvc registry dockerd; do
    if stop "$name"; then
        stopped=$((stopped + 1))
        # dockerd's runtime directory (sockets, containerd state) is not data.
        if [ "$name" = dockerd ]; then rm -rf --one-file-system "$DOCKERD_EXEC_ROOT" 2>/dev/null || true; fi
    fi
done
[ $stopped -gt 0 ] || echo "nothing of the local stack in $STATE was running"
echo "data kept in $STATE"
