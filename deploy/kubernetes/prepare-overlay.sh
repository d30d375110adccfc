#!/bin/sh
# Make the files an overlay's generators need, with the authsvc CLI on this machine:
#
#   deploy/kubernetes/prepare-overlay.sh DIR                  keys + registry-config.yml
#   deploy/kubernetes/prepare-overlay.sh DIR keys rotate      any authsvc command on DIR's keys
#
# DIR holds authsvc.toml (the pods' settings).  The first form runs `authsvc init` with the key
# files in DIR/keys (signing.key 0600, signing.crt, trust-bundle.pem; a scratch SQLite database
# beside them, which never leaves this machine), then writes DIR/registry-config.yml from
# `authsvc registry-config --full` for the same settings, as the registry pod needs it:
#   - --no-http-secret: the registry reads http.secret from the Secret registry-http-secret,
#     made from DIR/keys/registry-http-secret (created here once, random, if missing);
#   - --trust-bundle: the bundle where the registry mounts it (the ConfigMap authsvc-trust).
# Idempotent: existing keys are kept.  Every inherited AUTHSVC_* variable is dropped first, so a
# production AUTHSVC_DATABASE_URL in your shell is never touched.  authsvc must be on PATH.
set -eu

REGISTRY_TRUST_DIR=/etc/registry/trust   # the registry pod's mount of authsvc-trust
REGISTRY_STORAGE=/var/lib/registry       # the registry pod's mount of its volume
REGISTRY_ADDR=:5000                      # the registry container's port

dir=$(cd "${1:?usage: prepare-overlay.sh OVERLAY_DIR [AUTHSVC-ARGS...]}" && pwd -P)
shift
[ -f "$dir/authsvc.toml" ] || { echo "prepare-overlay.sh: no $dir/authsvc.toml" >&2; exit 1; }

for name in $(env | sed -n 's/^\(AUTHSVC_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$name"
done
umask 077
mkdir -p "$dir/keys"
export AUTHSVC_CONFIG="$dir/authsvc.toml" AUTHSVC_DATA_DIR="$dir/keys" \
    AUTHSVC_SIGNING_KEY="$dir/keys/signing.key" AUTHSVC_SIGNING_CERT="$dir/keys/signing.crt"

if [ $# -gt 0 ]; then
    exec authsvc "$@"
fi

authsvc init
if [ ! -s "$dir/keys/registry-http-secret" ]; then
    # 32 random bytes, URL-safe base64 (what `registry-config --full` itself would make).
    head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' > "$dir/keys/registry-http-secret.tmp"
    mv "$dir/keys/registry-http-secret.tmp" "$dir/keys/registry-http-secret"
fi
authsvc registry-config --full --no-http-secret --trust-bundle "$REGISTRY_TRUST_DIR/trust-bundle.pem" \
    --addr "$REGISTRY_ADDR" --storage "$REGISTRY_STORAGE" > "$dir/registry-config.yml.tmp"
chmod 0644 "$dir/registry-config.yml.tmp"
mv "$dir/registry-config.yml.tmp" "$dir/registry-config.yml"
echo "registry config: $dir/registry-config.yml"
[ -s "$dir/database-url" ] || \
    echo "next: write the PostgreSQL URL (postgresql+psycopg://USER:PASSWORD@HOST:5432/DB) to $dir/database-url"
