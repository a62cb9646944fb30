#!/bin/sh
# `podman kube play` of deploy/k8s/overlays/podman on this host (README, Scaling out):
#   deploy/k8s/podman-play.sh build    the images into podman: stand-ins from Debian packages
#                                      (deploy/standins/build.sh) and aula:local (the Dockerfile)
#   deploy/k8s/podman-play.sh [MEDIA]  render with kubectl, play the migrate Job (as a Pod) until
#                                      it exits 0, then web, worker, beat and Redis on a podman
#                                      network; enqueue a catalog rebuild through web's API and
#                                      wait for SUCCESS. MEDIA: a folder copied into /media first.
#   deploy/k8s/podman-play.sh down     remove what a run left (pods, volumes, secrets, network)
# A run removes what it made on exit, publishes ports on 127.0.0.1 only, and gives up after
# KUBE_PLAY_TIMEOUT_S (default 300) per wait. Exit 3 with one line: podman, kubectl or an image is
# missing (a skip, not a failure). The pods, volumes and Secret carry the manifests' names: do not
# run it beside a podman deployment of Aula on the same host.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
TIMEOUT_S=${KUBE_PLAY_TIMEOUT_S:-300}
NET=aula-kube-play
PODS="aula-migrate redis-pod-0 web-pod-0 worker-pod-0 beat-pod-0"
VOLUMES="aula-data aula-media redis-data"
WORK=$(mktemp -d /tmp/aula-kube-play.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

log() { echo "kube-play: $*"; }
skip() { log "skipped: $*"; exit 3; }

engine_conf() {  # a containers.conf with the limits and the runtime this host allows
    # Rootful podman sets nofile and nproc above the host's hard limits; without CAP_SYS_RESOURCE
    # (podman inside a container) setrlimit then fails (EPERM), so: the host's own limits (nproc
    # no higher than pid_max, where podman caps conmon's).
    nofile=$(awk '/^Max open files/ {print $5}' /proc/self/limits)
    nproc=$(awk '/^Max processes/ {print $4}' /proc/self/limits)
    pid_max=$(cat /proc/sys/kernel/pid_max)
    [ "$nofile" = unlimited ] && nofile=1048576
    if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
    {
        echo '[containers]'
        echo "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
        # crun 1.8 refuses cgroup v1 with a controller on the v2 hierarchy too ("cgroups in hybrid
        # mode not supported"); runc runs there.
        if grep -qs . /sys/fs/cgroup/unified/cgroup.controllers && command -v runc >/dev/null; then
            printf '[engine]\nruntime = "runc"\n'
        fi
    } >"$WORK/containers.conf"
    export CONTAINERS_CONF="$WORK/containers.conf"
}

down() {  # remove the pods, volumes, secrets and network of a run (each only if present)
    for pod in $PODS; do
        podman pod exists "$pod" && podman pod rm -f -t 5 "$pod" >/dev/null
    done
    for volume in $VOLUMES; do
        podman volume exists "$volume" && podman volume rm -f "$volume" >/dev/null
    done
    podman secret ls --format '{{.Name}}' | grep '^aula-secrets-' | xargs -r podman secret rm >/dev/null
    podman network exists "$NET" && podman network rm -f "$NET" >/dev/null
    return 0
}

finish() {
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
        for pod in $PODS; do
            for container in $(podman ps -a --filter "pod=$pod" --format '{{.Names}}'); do
                case $container in *-infra) continue ;; esac
                echo "--- $container"
                podman logs --tail 30 "$container" 2>&1 || true
            done
        done
    fi
    down || true
    rm -rf "$WORK"
    exit "$rc"
}

until_deadline() {  # until_deadline WHAT COMMAND...: retry COMMAND every 2 s for TIMEOUT_S
    what=$1
    shift
    deadline=$(($(date +%s) + TIMEOUT_S))
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || { log "gave up after ${TIMEOUT_S}s waiting for $what"; return 1; }
        sleep 2
    done
}

api() {  # api METHOD PATH [BODY]: web's answer on loopback, with the run's admin token
    curl -fsS -m 30 -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} "http://127.0.0.1:$WEB_PORT$2"
}

field() { "$PYTHON" -c "import json, sys; doc = json.load(sys.stdin); print($1)"; }  # of stdin's JSON

ready() {  # true once web answers ready; its last answer in $WORK/ready.json
    code=$(curl -sS -m 30 -o "$WORK/ready.json" -w '%{http_code}' \
        "http://127.0.0.1:$WEB_PORT/api/health/ready" 2>/dev/null) || return 1
    [ "$code" = 200 ] || { echo "$code $(cat "$WORK/ready.json")" >>"$WORK/not-ready.log"; return 1; }
}

task_done() {  # true once the task left the queue; its record in $WORK/task.json
    api GET "/api/tasks/$TASK_ID" >"$WORK/task.json" || return 1
    case $(field "doc['state']" <"$WORK/task.json") in SUCCESS | FAILURE) return 0 ;; *) return 1 ;; esac
}

command -v podman >/dev/null || skip "podman is missing (apt-get install podman)"
engine_conf
case ${1:-} in
    build)
        STANDIN_ENGINE=podman "$ROOT/deploy/standins/build.sh" python:3.11-slim redis:7
        log "building aula:local"
        podman build -q -t aula:local "$ROOT" >/dev/null
        exit 0 ;;
    down) down; exit 0 ;;
esac
MEDIA=${1:-}
command -v kubectl >/dev/null || skip "kubectl is missing (apt-get install kubernetes-client)"
for image in aula:local redis:7; do
    podman image exists "$image" || skip "no image $image in podman (deploy/k8s/podman-play.sh build)"
done
for pod in $PODS; do
    podman pod exists "$pod" && { log "pod $pod exists: a run is under way, or remove it with '$0 down'"; exit 1; }
done
trap finish EXIT
trap 'exit 1' INT TERM

# The manifests on a copy, with a Secret of this run's own: a new key and admin token.
cp -R "$ROOT/deploy/k8s" "$WORK/k8s"
TOKEN=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(24))')
KEY=$("$PYTHON" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
sed -e "s/^ENCRYPTION_KEY=.*/ENCRYPTION_KEY=$KEY/" -e "s/^ADMIN_TOKEN=.*/ADMIN_TOKEN=$TOKEN/" \
    "$WORK/k8s/base/secret.env.example" >"$WORK/k8s/base/secret.env"
kubectl kustomize "$WORK/k8s/overlays/podman" >"$WORK/rendered.yaml"
"$PYTHON" "$ROOT/deploy/k8s/podman_split.py" "$WORK/rendered.yaml" "$WORK"
. "$WORK/ports.env"

podman network create "$NET" >/dev/null
for secret in "$WORK"/secret-*.json; do
    name=$(basename "$secret" .json)
    podman secret create "${name#secret-}" "$secret" >/dev/null
done
log "migrate"
podman kube play --network "$NET" "$WORK/migrate.yaml" >/dev/null
code=$(timeout "$TIMEOUT_S" podman wait aula-migrate-migrate)
[ "$code" = 0 ] || { log "migrate exited $code"; exit 1; }
if [ -n "$MEDIA" ]; then
    root=$(podman volume inspect -f '{{.Mountpoint}}' aula-media)
    cp -R "$MEDIA/." "$root/"
    chmod -R a+rX "$root"
fi
log "web, worker, beat and redis; web on 127.0.0.1:$WEB_PORT"
# podman 4.3 makes the probes healthchecks run by systemd timers: without systemd it logs "unable
# to get systemd connection to add healthchecks" and none run. The script's own waits check.
podman kube play --network "$NET" "$WORK/play.yaml" >/dev/null
until_deadline "web ready (/api/health/ready)" ready
log "web ready: $(cat "$WORK/ready.json")"
TASK_ID=$(api POST /api/catalog/rebuild '{"source": "local"}' | field "doc['task_id']")
log "catalog rebuild enqueued: task $TASK_ID"
until_deadline "task $TASK_ID" task_done
cat "$WORK/task.json"
echo
items=$(api GET '/api/catalog/items?source=local&limit=200' | field "[i['source_id'] for i in doc['items']]")
log "catalog items: $items"
state=$(field "doc['state']" <"$WORK/task.json")
log "task $TASK_ID $state"
[ "$state" = SUCCESS ]
