#!/usr/bin/env bash
# Makes a Docker engine and the test service images available on this machine, for suites that start real
# infrastructure with Testcontainers (marked <StackscopeNeedsDocker>true</StackscopeNeedsDocker>).
#
# - Where a working Docker engine answers already, it is used as it is (nothing is installed or started).
# - Otherwise Debian's docker.io is installed if dockerd is missing, and dockerd is started by this script as its own
#   process (--bridge=none --iptables=false: no private network is created; containers use host networking), its pid
#   written to artifacts/docker/dockerd.pid; `scripts/ensure-docker.sh --stop` stops it by that pid.
# - Images: a minimal Debian base (debootstrap from Debian's package registry, `docker import`), then the service images
#   from docker/<name>/Dockerfile. An image that exists already is kept. Names can be overridden
#   (STACKSCOPE_BASE_IMAGE, STACKSCOPE_POSTGRES_IMAGE, STACKSCOPE_REDIS_IMAGE) to use official images instead.
# Prints the environment the tests need (DOCKER_HOST, DOCKER_API_VERSION, TESTCONTAINERS_RYUK_DISABLED) as
# `export` lines on stdout; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
state=artifacts/docker
mkdir -p "$state"
base=${STACKSCOPE_BASE_IMAGE:-stackscope/debian:bookworm}
postgres=${STACKSCOPE_POSTGRES_IMAGE:-stackscope/postgres:15}
redis=${STACKSCOPE_REDIS_IMAGE:-stackscope/redis:7}
socket=/var/run/docker.sock

log() { echo "ensure-docker: $*" >&2; }

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$state/dockerd.pid" ]; then
    pid=$(cat "$state/dockerd.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" && for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      log "stopped dockerd (pid $pid)"
    fi
    rm -f "$state/dockerd.pid"
  fi
  exit 0
fi

answers() { timeout 10 docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; }

if ! answers; then
  if ! command -v dockerd >/dev/null 2>&1; then
    log "installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends docker.io >&2
  fi
  command -v debootstrap >/dev/null 2>&1 || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends debootstrap >&2; }
  log "starting dockerd (--bridge=none --iptables=false)"
  dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false --host "unix://$socket" --pidfile "$PWD/$state/dockerd.daemon.pid" \
      --data-root /var/lib/docker >"$state/dockerd.log" 2>&1 &
  echo $! >"$state/dockerd.pid"
  for _ in $(seq 1 150); do answers && break; sleep 0.2; done
  answers || { log "dockerd did not answer within 30 s; see $state/dockerd.log"; tail -n 20 "$state/dockerd.log" >&2; exit 1; }
fi
api=$(docker version --format '{{.Server.APIVersion}}')
export DOCKER_API_VERSION=$api

if ! docker image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq >&2; apt-get install -y -qq --no-install-recommends debootstrap >&2; }
  root=$(mktemp -d /tmp/stackscope-rootfs.XXXXXX)
  log "building $base with debootstrap (bookworm, minbase)"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$state/debootstrap.log" 2>&1 \
    || { log "debootstrap failed; see $state/debootstrap.log"; tail -n 20 "$state/debootstrap.log" >&2; rm -rf "$root"; exit 1; }
  tar -C "$root" -c . | docker import - "$base" >&2
  rm -rf "$root"
fi

build() { # $1: image name, $2: folder under docker/
  if ! docker image inspect "$1" >/dev/null 2>&1; then
    log "building $1 from docker/$2/Dockerfile"
    docker build --network host --build-arg BASE="$base" -t "$1" "docker/$2" >"$state/build-$2.log" 2>&1 \
      || { log "building $1 failed; see $state/build-$2.log"; tail -n 20 "$state/build-$2.log" >&2; exit 1; }
  fi
}
build "$postgres" postgres
build "$redis" redis

echo "export DOCKER_HOST=unix://$socket"
echo "export DOCKER_API_VERSION=$api"
echo "export TESTCONTAINERS_RYUK_DISABLED=true"
echo "export STACKSCOPE_POSTGRES_IMAGE=$postgres"
echo "export STACKSCOPE_REDIS_IMAGE=$redis"
