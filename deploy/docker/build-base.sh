#!/usr/bin/env bash
# Make a local Debian base image with debootstrap + `docker import`, for machines that cannot pull
# from an internet registry (CI here): the authsvc and registry Dockerfiles build FROM it.
#
#   deploy/docker/build-base.sh            prints the image reference, e.g. authsvc-base/debian:bookworm-3f2a9c1e0b4d
#
# The image has python3, python3-venv and ca-certificates (what deploy/docker/Dockerfile needs).
# Both steps are cached, because a debootstrap takes minutes and vfs storage copies every layer:
#   - the root filesystem tarball under $CACHE_DIR/base/, named by a hash of suite + packages;
#   - the imported image, tagged with that hash (nothing is done when the tag exists).
# Environment: DOCKER (client; default /usr/bin/docker, Debian's), DOCKER_HOST, CACHE_DIR
# (default /var/cache/authsvc-ci), SUITE (bookworm), MIRROR (default: this machine's Debian mirror
# from /etc/apt/sources.list*), IMAGE_REPO (authsvc-base/debian).  Needs root (debootstrap).
set -euo pipefail

SUITE=${SUITE:-bookworm}
PACKAGES=python3,python3-venv,ca-certificates
CACHE_DIR=${CACHE_DIR:-/var/cache/authsvc-ci}
IMAGE_REPO=${IMAGE_REPO:-authsvc-base/debian}
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}

die() { echo "build-base.sh: $*" >&2; exit 1; }

# The mirror apt already uses here: it is reachable, and may be the only one that is.
default_mirror() {
    local uri
    uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
              /etc/apt/sources.list.d/*.list 2>/dev/null \
          | grep -v -- '-security' | grep -oE 'https?://[^ ]+' | head -n 1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${MIRROR:-$(default_mirror)}

# Bump the trailing version when the way the tarball is made changes (it is part of the key).
key=$(printf '%s\n' "$SUITE" "$PACKAGES" "minbase-v1" | sha256sum | cut -c1-12)
ref="$IMAGE_REPO:$SUITE-$key"
tarball="$CACHE_DIR/base/debian-$SUITE-$key.tar"

if "$DOCKER" image inspect "$ref" >/dev/null 2>&1; then
    echo "$ref"
    exit 0
fi

if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
    mkdir -p "$CACHE_DIR/base"
    work=$(mktemp -d "$CACHE_DIR/base/rootfs.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    log="$work.log"
    echo "build-base.sh: debootstrap $SUITE from $MIRROR (a few minutes; log: $log)" >&2
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/root" "$MIRROR" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "debootstrap failed (full log: $log)"
    fi
    # Nothing an image needs: package lists and downloaded .debs are most of the size.
    rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
           "$work/root/var/log/"*.log "$work/root/tmp/"*
    # A deterministic tarball (sorted names), written under a temporary name first so that an
    # interrupted run never leaves a truncated cache entry behind.
    tar --numeric-owner --sort=name -C "$work/root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -f "$log"
fi

"$DOCKER" import --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase --include=$PACKAGES $SUITE" "$tarball" "$ref" >/dev/null \
    || die "docker import of $tarball failed"
echo "$ref"
