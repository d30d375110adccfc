#!/bin/sh
# The registry image's entrypoint: the arguments the official registry:2 / registry:3 images
# take, so a manifest or compose file written for them runs this image unchanged:
#
#   CONFIG.yml | CONFIG.yaml               serve that config      (compose: command: [CONFIG])
#   serve CONFIG | garbage-collect CONFIG  that subcommand        (Kubernetes: args: [serve, CONFIG])
#   help | -h | --version | -...           the registry's own options
#   anything else                          run as is (a shell, `registry garbage-collect ...`)
#
# The official image's ENTRYPOINT is a script of exactly these rules around its `registry`
# binary; Debian's binary is /usr/bin/docker-registry (`registry` is a link to it here).  A
# fixed ENTRYPOINT of `docker-registry serve` would make Kubernetes' `args: [serve, CONFIG]`
# run `serve serve CONFIG`, which fails with "open serve: no such file or directory".
set -e

case "${1:-}" in
    *.yaml|*.yml) set -- /usr/bin/docker-registry serve "$@" ;;
    serve|garbage-collect|help|-*) set -- /usr/bin/docker-registry "$@" ;;
esac
exec "$@"
