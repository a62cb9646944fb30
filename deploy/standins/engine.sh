#!/bin/sh
# Makes sure a Docker engine, docker-compose and debootstrap are here for `make compose-test`.
# Exit 0: ready. Exit 3: not here and not startable outside CI (one line says why: skip).
# In CI (CI=true) it installs Debian's docker.io, docker-compose and debootstrap and starts dockerd
# (as root, or with sudo); any failure there is an error, never a skip.
set -u
LOG=${DOCKERD_LOG:-/tmp/aula-dockerd.log}

if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
tools_here() { command -v docker-compose >/dev/null && command -v debootstrap >/dev/null; }
engine_up() { docker info >/dev/null 2>&1; }

start_engine() {  # start dockerd in the background and wait up to 60 s for it to answer
    command -v dockerd >/dev/null || return 1
    # shellcheck disable=SC2086
    $SUDO sh -c "nohup dockerd >'$LOG' 2>&1 &" || return 1
    i=0
    while [ $i -lt 60 ]; do
        engine_up && return 0
        sleep 1
        i=$((i + 1))
    done
    return 1
}

if [ "${CI:-}" = true ]; then
    if ! tools_here || ! command -v dockerd >/dev/null; then
        echo "compose-test: installing Debian's docker.io, docker-compose and debootstrap"
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
            docker.io docker-compose debootstrap >/dev/null || exit 1
    fi
    engine_up || start_engine || { echo "compose-test: dockerd did not start (see $LOG)"; exit 1; }
    exit 0
fi

if ! tools_here; then
    echo "compose-test: skipped: docker-compose or debootstrap missing (apt-get install docker.io docker-compose debootstrap)"
    exit 3
fi
if engine_up; then exit 0; fi
if [ "$(id -u)" = 0 ] && start_engine; then exit 0; fi
echo "compose-test: skipped: no Docker engine answers and none could be started (dockerd as root)"
exit 3
