#!/usr/bin/env bash
# Install authsvc under gunicorn beside Debian's docker-registry package, as systemd services.
#
#   deploy/systemd/install.sh --realm https://registry.example.com/token     (Debian 12, as root)
#
# What it does (each step is skipped when already done, so it is safe to re-run, e.g. to upgrade):
#   1. apt-get install docker-registry python3-venv;
#   2. a system user `authsvc`; a venv in /opt/authsvc with this repository installed (pip);
#   3. /etc/authsvc: authsvc.toml (data_dir, realm; kept if present), authsvc.env (root-only:
#      AUTHSVC_DATABASE_URL, GUNICORN_CMD_ARGS; kept if present), gunicorn.conf.py (kept if present);
#   4. `authsvc init` as the authsvc user: schema and signing key in /var/lib/authsvc (0700);
#   5. /etc/docker/registry/config.yml from `authsvc registry-config --full` (an existing,
#      different one is kept as config.yml.bak-<time>), trusting a readable copy of authsvc's
#      trust bundle (authsvc-trust.pem, refreshed by the registry unit's drop-in at every start);
#   6. authsvc.service, the docker-registry.service drop-in, and /usr/local/sbin/authsvc (the CLI
#      with the service's settings, run as the authsvc user);
#   7. systemctl daemon-reload, enable --now authsvc, restart docker-registry -- when systemd runs.
#
# Options:
#   --realm URL          public URL of the token endpoint (required on the first install)
#   --bind ADDR          where gunicorn listens (first install; default 127.0.0.1:5001)
#   --registry-addr ADDR the registry's http.addr (default :5000)
#   --postgres           install the PostgreSQL driver too (then set AUTHSVC_DATABASE_URL in authsvc.env)
#   --source DIR         what to pip install (default: this repository)
#   --no-systemctl       install files only; print what to start
#   --root DIR           install into DIR as if it were / (tests, image builds): paths in the
#                        written files point into DIR, and no apt-get, user, chown or systemctl.
set -euo pipefail

SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
UNITS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=""
REALM=""
BIND=127.0.0.1:5001
REGISTRY_ADDR=:5000
SYSTEMCTL=yes
EXTRAS=""

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --realm) REALM=${2:?--realm needs a URL}; shift 2 ;;
        --bind) BIND=${2:?--bind needs HOST:PORT}; shift 2 ;;
        --registry-addr) REGISTRY_ADDR=${2:?--registry-addr needs HOST:PORT}; shift 2 ;;
        --postgres) EXTRAS="[postgres]"; shift ;;
        --source) SOURCE=$(cd "${2:?--source needs a directory}" && pwd -P); shift 2 ;;
        --no-systemctl) SYSTEMCTL=no; shift ;;
        --root) ROOT=$(mkdir -p "${2:?--root needs a directory}" && cd "$2" && pwd -P); SYSTEMCTL=no; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

# Every path this script writes or names, under ROOT (empty for a real install).
VENV=$ROOT/opt/authsvc
ETC=$ROOT/etc/authsvc
STATE=$ROOT/var/lib/authsvc
REGISTRY_ETC=$ROOT/etc/docker/registry
REGISTRY_STORAGE=$ROOT/var/lib/docker-registry
UNIT_DIR=$ROOT/etc/systemd/system
CLI=$ROOT/usr/local/sbin/authsvc
SERVICE_USER=authsvc

if [ -z "$ROOT" ]; then
    [ "$(id -u)" -eq 0 ] || die "run as root (or with --root DIR for a trial install)"
fi

# The authsvc commands below must see exactly the service's settings: drop whatever AUTHSVC_*
# the caller's shell has (authsvc refuses unknown ones, and a stray one would change the result).
for name in $(env | sed -n 's/^\(AUTHSVC_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$name"
done

step() { echo "install.sh: $*"; }

# -- 1. Debian packages ------------------------------------------------------------------------
if [ -z "$ROOT" ]; then
    missing=()
    for pkg in docker-registry python3-venv; do
        [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" = installed ] || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        step "apt-get install ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
else
    command -v docker-registry >/dev/null || step "note: docker-registry is not installed on this machine"
fi

# -- 2. user and venv ----------------------------------------------------------------------------
if [ -z "$ROOT" ] && ! getent passwd "$SERVICE_USER" >/dev/null; then
    step "creating the system user $SERVICE_USER"
    useradd --system --user-group --home-dir /var/lib/authsvc --no-create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER"
fi
if [ ! -x "$VENV/bin/python" ]; then
    step "creating the venv $VENV"
    python3 -m venv "$VENV"
fi
step "pip install $SOURCE$EXTRAS into $VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$SOURCE$EXTRAS"

# -- 3. /etc/authsvc -------------------------------------------------------------------------------
install -d -m 0755 "$ETC"
if [ ! -e "$ETC/authsvc.toml" ]; then
    [ -n "$REALM" ] || die "--realm URL is required on the first install (the public https://.../token URL)"
    step "writing $ETC/authsvc.toml"
    # Only what differs from the defaults; every other key: config/authsvc.example.toml.
    cat > "$ETC/authsvc.toml.tmp" <<EOF
# authsvc settings (every key: config/authsvc.example.toml in the authsvc sources).
# After a change: systemctl restart authsvc; if realm, issuer or services changed, also
# re-run install.sh (it rewrites the registry config) or authsvc registry-config by hand.
data_dir = "$STATE"
realm = "$REALM"
EOF
    chmod 0644 "$ETC/authsvc.toml.tmp"
    mv "$ETC/authsvc.toml.tmp" "$ETC/authsvc.toml"
elif [ -n "$REALM" ] && ! grep -q "^realm = \"$REALM\"\$" "$ETC/authsvc.toml"; then
    step "note: $ETC/authsvc.toml exists and is kept; --realm $REALM is ignored (edit the file)"
fi
if [ ! -e "$ETC/authsvc.env" ]; then
    step "writing $ETC/authsvc.env"
    (umask 077 && cat > "$ETC/authsvc.env" <<EOF
# Environment of authsvc.service and of /usr/local/sbin/authsvc (root-only: it may hold secrets).
# Only AUTHSVC_<KEY> variables naming a real setting are accepted.
#AUTHSVC_DATABASE_URL=postgresql+psycopg://authsvc:PASSWORD@db.internal/authsvc
# gunicorn's options (config: $ETC/gunicorn.conf.py); behind a reverse proxy on this host.
GUNICORN_CMD_ARGS="--bind $BIND"
EOF
    )
fi
if [ ! -e "$ETC/gunicorn.conf.py" ]; then
    install -m 0644 "$SOURCE/config/gunicorn.conf.py" "$ETC/gunicorn.conf.py"
elif ! cmp -s "$SOURCE/config/gunicorn.conf.py" "$ETC/gunicorn.conf.py"; then
    step "note: $ETC/gunicorn.conf.py differs from this release's config/gunicorn.conf.py; kept"
fi

# -- 4. state directory, schema and key, as the service user -------------------------------------
if [ -z "$ROOT" ]; then
    install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE"
    as_service=(runuser -u "$SERVICE_USER" --)
    run_as=$SERVICE_USER
else
    install -d -m 0700 "$STATE"
    as_service=()
    run_as=""
fi
authsvc() {
    (set -a; [ -r "$ETC/authsvc.env" ] && . "$ETC/authsvc.env"; set +a
     unset GUNICORN_CMD_ARGS
     cd "$STATE" && AUTHSVC_CONFIG="$ETC/authsvc.toml" "${as_service[@]}" "$VENV/bin/authsvc" "$@")
}
step "authsvc init"
authsvc init

# -- 5. the registry's config ----------------------------------------------------------------------
install -d -m 0755 "$REGISTRY_ETC"
install -m 0644 "$STATE/trust-bundle.pem" "$REGISTRY_ETC/authsvc-trust.pem"
config=$REGISTRY_ETC/config.yml
# The registry's user cannot read authsvc's state directory: it trusts the copy made above.
authsvc registry-config --full --addr "$REGISTRY_ADDR" --storage "$REGISTRY_STORAGE" \
    --trust-bundle "$REGISTRY_ETC/authsvc-trust.pem" > "$config.new"
if [ -e "$config" ] && ! cmp -s "$config" "$config.new"; then
    backup=$config.bak-$(date +%Y%m%d%H%M%S)
    cp -p "$config" "$backup"
    step "kept the previous registry config as $backup"
fi
# It holds http.secret (and the notification secret, if set): root and the registry only.
chmod 0640 "$config.new"
! getent group docker-registry >/dev/null || chgrp docker-registry "$config.new"
mv "$config.new" "$config"
step "registry config: $config"

# -- 6. units and the CLI wrapper ----------------------------------------------------------------
# The units name the real paths; under --root they are rewritten to point into ROOT.
relocate() {
    sed -e "s#/opt/authsvc#$VENV#g" -e "s#/etc/authsvc#$ETC#g" -e "s#/var/lib/authsvc#$STATE#g" \
        -e "s#/etc/docker/registry#$REGISTRY_ETC#g" "$1"
}
install -d -m 0755 "$UNIT_DIR" "$UNIT_DIR/docker-registry.service.d" "$(dirname "$CLI")"
relocate "$UNITS_SRC/authsvc.service" > "$UNIT_DIR/authsvc.service"
relocate "$UNITS_SRC/docker-registry.service.d/authsvc.conf" > "$UNIT_DIR/docker-registry.service.d/authsvc.conf"
chmod 0644 "$UNIT_DIR/authsvc.service" "$UNIT_DIR/docker-registry.service.d/authsvc.conf"
cat > "$CLI.tmp" <<EOF
#!/bin/sh
# authsvc's CLI with the service's settings, as the service's user, so that what it creates in
# $STATE stays readable by the service (written by deploy/systemd/install.sh).
set -a
[ -r "$ETC/authsvc.env" ] && . "$ETC/authsvc.env"
set +a
unset GUNICORN_CMD_ARGS
export AUTHSVC_CONFIG="$ETC/authsvc.toml"
cd "$STATE" 2>/dev/null || cd /
run_as=$run_as
if [ -n "\$run_as" ] && [ "\$(id -u)" = 0 ]; then
    exec runuser -u "\$run_as" -- "$VENV/bin/authsvc" "\$@"
fi
exec "$VENV/bin/authsvc" "\$@"
EOF
chmod 0755 "$CLI.tmp"
mv "$CLI.tmp" "$CLI"

# -- 7. start ----------------------------------------------------------------------------------------
if [ "$SYSTEMCTL" = yes ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now authsvc.service
    systemctl restart authsvc.service docker-registry.service
    step "authsvc and docker-registry (re)started"
else
    step "not starting anything; when systemd runs: systemctl daemon-reload && systemctl enable --now" \
         "authsvc.service && systemctl restart docker-registry.service"
fi
cat <<EOF
install.sh: done.  Create the first system administrator (password from a prompt, never argv):
    $CLI user create admin --admin
Then put TLS in front of the registry and authsvc (realm: $(sed -n 's/^realm = "\(.*\)"$/\1/p' "$ETC/authsvc.toml")).
EOF
