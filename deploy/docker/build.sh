#!/usr/bin/env bash
# Build the authsvc or the registry image, tagged by a hash of everything that goes into it, and
# do nothing when that tag exists already (CI builds on vfs storage, where every rebuild costs).
#
#   deploy/docker/build.sh authsvc  [--base IMAGE] [--extra-ca FILE] [--repo NAME] [--prune]
#   deploy/docker/build.sh registry [--base IMAGE] [--repo NAME] [--prune]
#
# Prints the image reference (REPO:HASH) on stdout; build output goes to stderr.
#   --base IMAGE     the BASE_IMAGE build argument (defaults: python:3.12-slim for authsvc,
#                    debian:bookworm-slim for the registry; deploy/docker/build-base.sh makes a local one)
#   --extra-ca FILE  a PEM bundle pip trusts during the build (TLS-intercepting proxies); it is
#                    not part of the hash and never reaches the runtime image
#   --repo NAME      image repository (default: authsvc or authsvc-registry)
#   --prune          afterwards remove this repository's images of other hashes, and dangling images
# Environment: DOCKER (client; default /usr/bin/docker, Debian's), DOCKER_HOST, BUILD_NETWORK
# (default host: build steps reach the Debian mirror and PyPI even where dockerd runs without
# iptables and so without bridge networking).
#
# The build context is a tarball of exactly the files the image needs (the same files the
# repository's .dockerignore lets through), made deterministic so that its hash, together with
# the base image's id, names the image: same inputs, same tag, no build.  The build itself runs
# on those files unpacked into a directory (modes kept, directories included), so that the docker
# CLI makes the context tar exactly as it does for `docker build .` in the checkout and for
# `docker-compose up --build` (compose 1.29 builds through the CLI): the daemon keys each COPY on
# the entries' headers, and the CLI's differ from any tar made here (file-type bits in modes), so
# only this way do the three share every cached layer.  The authsvc image's build stage (the venv
# with its dependencies: pip's downloads) is tagged REPO:HASH-build, so that --prune keeps it: the
# next code change rebuilds only what follows it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}

die() { echo "build.sh: $*" >&2; exit 1; }

what=${1:-}
shift || true
case "$what" in
    authsvc) base=python:3.12-slim; repo=authsvc ;;
    registry) base=debian:bookworm-slim; repo=authsvc-registry ;;
    *) die "usage: build.sh authsvc|registry [--base IMAGE] [--extra-ca FILE] [--repo NAME] [--prune]" ;;
esac
extra_ca=""
prune=false
while [ $# -gt 0 ]; do
    case "$1" in
        --base) base=${2:?--base needs an image}; shift 2 ;;
        --extra-ca) extra_ca=${2:?--extra-ca needs a file}; shift 2 ;;
        --repo) repo=${2:?--repo needs a name}; shift 2 ;;
        --prune) prune=true; shift ;;
        *) die "unknown option: $1" ;;
    esac
done
[ -z "$extra_ca" ] || [ -r "$extra_ca" ] || die "--extra-ca: cannot read $extra_ca"
[ -z "$extra_ca" ] || [ "$what" = authsvc ] || die "--extra-ca is for the authsvc image only"

base_id=$("$DOCKER" image inspect --format '{{.Id}}' "$base" 2>/dev/null) \
    || die "base image $base is not present (docker pull it, or deploy/docker/build-base.sh)"

work=$(mktemp -d "${TMPDIR:-/tmp}/authsvc-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "$what" = authsvc ]; then
    # The repository root, as compose.yaml's build context and `docker build .` have it.
    context=$REPO
    dockerfile=deploy/docker/Dockerfile
    cd "$context"
    # Tracked and untracked-but-not-ignored files: what `docker build .` would see in this tree.
    git ls-files -co --exclude-standard -- authsvc setup.cfg pyproject.toml README.md \
            config/gunicorn.conf.py deploy/docker/Dockerfile deploy/docker/entrypoint.sh \
            deploy/docker/requirements.py \
        | grep -vE '(^|/)__pycache__/|\.pyc$' | sort -u \
        | while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done >"$work/files"
else
    # Its own directory, as `docker build deploy/docker/registry` has it.
    context=$REPO/deploy/docker/registry
    dockerfile=Dockerfile
    cd "$context"
    git ls-files -co --exclude-standard -- . | sort -u \
        | while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done >"$work/files"
fi
[ -s "$work/files" ] || die "no input files found under $context (not a git checkout?)"
# The files and, before them, every directory above one (not the root), each as its own entry.
awk -F/ '{ p = ""; for (i = 1; i < NF; i++) { p = p (i > 1 ? "/" : "") $i; print p } }' "$work/files" \
    | sort -u | cat - "$work/files" >"$work/entries"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --no-recursion \
    -cf "$work/context.tar" -T "$work/entries"
hash=$( { sha256sum <"$work/context.tar"; echo "$base_id"; } | sha256sum | cut -c1-12)
ref="$repo:$hash"

if "$DOCKER" image inspect "$ref" >/dev/null 2>&1; then
    echo "build.sh: $ref is up to date" >&2
else
    mkdir "$work/context"
    tar -xf "$work/context.tar" -C "$work/context"
    if [ -n "$extra_ca" ]; then
        cp "$extra_ca" "$work/context/deploy/docker/extra-ca.crt"
        chmod 0644 "$work/context/deploy/docker/extra-ca.crt"
    fi
    echo "build.sh: building $ref from $base" >&2
    build() {
        "$DOCKER" build --rm --force-rm --network "${BUILD_NETWORK:-host}" -f "$work/context/$dockerfile" \
            --build-arg "BASE_IMAGE=$base" "$@" "$work/context" >&2
    }
    if [ "$what" = authsvc ]; then
        build --target build -t "$ref-build" || die "docker build of $ref-build (the build stage) failed"
    fi
    build --label "io.authsvc.input-hash=$hash" -t "$ref" || die "docker build of $ref failed"
fi

if $prune; then
    "$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}' "$repo" | while read -r old; do
        [ "$old" = "$ref" ] || [ "$old" = "$ref-build" ] || "$DOCKER" image rm "$old" >/dev/null 2>&1 || true
    done
    "$DOCKER" image prune -f >/dev/null
fi
echo "$ref"
