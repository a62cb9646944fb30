#!/bin/sh
# `redis-server [config file] [--option value ...]` as user redis in /data; anything else as is.
set -e
if [ "${1:-}" = redis-server ]; then
    shift
    case "${1:-}" in
        -* | "") set -- redis-server --protected-mode no --dir /data "$@" ;;
        *) conf=$1; shift; set -- redis-server "$conf" --protected-mode no --dir /data "$@" ;;
    esac
    if [ "$(id -u)" = 0 ]; then
        chown -R redis:redis /data
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi
exec "$@"
