#!/bin/sh
# The authsvc container's start path.
#
#   serve [GUNICORN ARGS...]   (default) `authsvc init`, then gunicorn on $AUTH_LISTEN.
#                              init is idempotent: schema created or upgraded, the signing key
#                              and certificate made on first start and kept afterwards.
#   init-registry              the compose stack's one-shot step: `authsvc init`, then the
#                              registry's whole config into $REGISTRY_CONFIG (see below).
#   anything else              run as is: `authsvc user create admin --admin`, a shell, ...
#
# init-registry reads (none of them is an authsvc setting, hence no AUTHSVC_ prefix):
#   REGISTRY_CONFIG      where to write the registry config (default /srv/authsvc-public/registry.yml)
#   REGISTRY_VERSION     2 (default) or 3: distribution 3.x needs jwks + signingalgorithms
#   REGISTRY_ADDR        the registry's http.addr (default 0.0.0.0:5000)
#   REGISTRY_STORAGE     its filesystem root (default /var/lib/registry, the official image's volume)
#   REGISTRY_EVENTS_URL  where it posts notifications, used only when AUTHSVC_NOTIFICATION_SECRET is
#                        set (default http://$REGISTRY_EVENTS_HOST:$AUTH_PORT/registry/events,
#                        i.e. http://authsvc:5001/registry/events on a compose network)
set -eu

serve() {
    authsvc init
    exec gunicorn -c /etc/authsvc/gunicorn.conf.py -b "${AUTH_LISTEN:-0.0.0.0:5001}" "$@" 'authsvc:create_app()'
}

init_registry() {
    config=${REGISTRY_CONFIG:-/srv/authsvc-public/registry.yml}
    version=${REGISTRY_VERSION:-2}
    authsvc init
    set -- --full --registry-version "$version" --addr "${REGISTRY_ADDR:-0.0.0.0:5000}" \
        --storage "${REGISTRY_STORAGE:-/var/lib/registry}"
    if [ -n "${AUTHSVC_NOTIFICATION_SECRET:-}" ]; then
        events=${REGISTRY_EVENTS_URL:-http://${REGISTRY_EVENTS_HOST:-authsvc}:${AUTH_PORT:-5001}/registry/events}
        set -- "$@" --events-url "$events"
    fi
    # The config holds http.secret (and the notification secret): readable by the owner and the
    # group the registry joins (group_add in compose), nobody else.  Written aside, then renamed,
    # so a registry (re)starting meanwhile never reads half a file.
    umask 027
    authsvc registry-config "$@" > "$config.tmp"
    mv "$config.tmp" "$config"
    echo "registry config: $config (registry $version.x)"
}

case "${1:-serve}" in
    serve) [ $# -gt 0 ] && shift; serve "$@" ;;
    init-registry) init_registry ;;
    *) exec "$@" ;;
esac
