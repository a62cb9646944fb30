#!/bin/sh
# Builds local stand-ins for the registry images docker-compose.yml and the Dockerfile use, from
# Debian packages only: debootstrap a bookworm root filesystem, `docker import` it, then one small
# Dockerfile per image. Cached: an image already present under its tag is kept (a real registry
# image too); a stand-in whose recipe changed since it was built is rebuilt. `--force` rebuilds all.
# STANDIN_ENGINE=podman builds into podman's store instead (deploy/k8s/podman-play.sh). Usage:
# build.sh [--force] [TAG...]: only the stand-ins named (default: all).
set -eu
export DOCKER_BUILDKIT=0  # the classic builder: dockerd 20.10 without buildx, as docker-compose 1.29 uses
ENGINE=${STANDIN_ENGINE:-docker}

HERE=$(cd "$(dirname "$0")" && pwd)
BASE=aula-standin/debian:bookworm
FORCE=
ONLY=
for arg in "$@"; do
    case $arg in --force) FORCE=$arg ;; *) ONLY="$ONLY $arg" ;; esac
done
# The same Debian mirror the host's apt uses (deb822 or one-line sources), else deb.debian.org.
MIRROR=${DEBIAN_MIRROR:-$(
    cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | sed -n -e 's/^URIs: *\([^ ]*\/debian\)\/* *$/\1/p' \
                 -e 's/^deb  *\(\[[^]]*\] *\)\{0,1\}\([^ ]*\/debian\)\/* .*/\2/p' | head -n 1
)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

log() { echo "standins: $*"; }

recipe_hash() {  # what a stand-in is built from: its directory and the base image's id
    (cd "$HERE/$1" && find . -type f | LC_ALL=C sort | xargs cat; $ENGINE image inspect -f '{{.Id}}' "$BASE") \
        | sha256sum | cut -c1-16
}

wanted() {  # wanted TAG [HASH]: true if TAG must be (re)built
    [ "$FORCE" = --force ] && return 0
    current=$($ENGINE image inspect -f '{{index .Config.Labels "aula.standin"}}' "$1" 2>/dev/null) \
        || return 0
    # No label: an image that is not ours (pulled from a registry): keep it.
    [ -n "${2:-}" ] && [ -n "$current" ] && [ "$current" != "<no value>" ] && [ "$current" != "$2" ]
}

build_base() {
    wanted "$BASE" || return 0
    command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
    rootfs=$(mktemp -d /tmp/aula-standin-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    log "debootstrap bookworm from $MIRROR"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$MIRROR" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | "$ENGINE" import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        -c 'CMD ["bash"]' -c 'LABEL aula.standin=base' - "$BASE" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    log "imported $BASE"
}

pip_ca() {  # the CA bundle the host's pip trusts, so pip in a container reaches PyPI the same way
    cert=$(pip config get global.cert 2>/dev/null || python3 -m pip config get global.cert 2>/dev/null || true)
    [ -n "$cert" ] && [ -s "$cert" ] || cert=/etc/ssl/certs/ca-certificates.crt
    cp "$cert" "$1"
}

build() {  # build TAG DIR
    case " ${ONLY:-$1} " in *" $1 "*) ;; *) return 0 ;; esac
    hash=$(recipe_hash "$2")
    wanted "$1" "$hash" || { log "$1 present"; return 0; }
    context=$(mktemp -d /tmp/aula-standin-context.XXXXXX)
    cp -R "$HERE/$2/." "$context/"
    [ "$2" = python ] && pip_ca "$context/pip-ca.crt"
    log "building $1"
    if ! "$ENGINE" build --build-arg "BASE=$BASE" --label "aula.standin=$hash" -t "$1" "$context" \
        >"$context.log" 2>&1; then
        tail -n 30 "$context.log"
        rm -rf "$context" "$context.log"
        log "building $1 failed"
        exit 1
    fi
    rm -rf "$context" "$context.log"
}

build_base
build python:3.11-slim python
build redis:7 redis
build postgres:16 postgres
build nginx:1.27 nginx
build prom/prometheus:v2.53.2 prometheus
