#!/usr/bin/env bash
# Runs a command with a Docker daemon and ltisync's Lambda base image.
#
# The daemon: the one DOCKER_HOST (or the default socket) already answers
# on, else a dockerd started here on a private socket and stopped when the
# command ends, however it ends. dockerd and debootstrap come from Debian's
# packages when missing (root only). The daemon started here does not touch
# iptables, so its bridge has no NAT: a container reaches this machine's
# bridge address (exported as LTISYNC_DOCKER_BRIDGE_ADDRESS, where the
# sam-local driver's relays listen) and nothing beyond the machine.
#
# The image: no registry is reachable here, so nothing is pulled. A Debian
# minbase root filesystem with ca-certificates (the functions load the
# system's CA store at start, as on Lambda's provided.al2023 image) is built
# once with debootstrap into .tools/lambda-image (a stamp keeps it) and
# imported into the daemon when the daemon does not have it. SAM CLI adds
# its Runtime Interface Emulator on top (`--invoke-image`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
suite=bookworm
image=ltisync-lambda-base:$suite
cache=$here/.tools/lambda-image
rootfs=$cache/rootfs-$suite.tar
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

fail() { echo "with-docker: $*" >&2; exit 1; }

install_missing() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || [ -f "$rootfs" ] || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null ||
    fail "Docker cannot run here: ${missing[*]} missing, and installing needs root and apt-get"
  echo "installing ${missing[*]} from Debian's packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

daemon_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_daemon() {
  [ "$(id -u)" -eq 0 ] || fail "no Docker daemon answers, and starting dockerd needs root"
  local dir; dir=$(mktemp -d -t ltisync-docker.XXXXXX)
  export DOCKER_HOST=unix://$dir/docker.sock
  dockerd --host "$DOCKER_HOST" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    --iptables=false --ip6tables=false >"$dir/dockerd.log" 2>&1 &
  local pid=$!
  trap "stop_daemon $pid '$dir'" EXIT INT TERM
  for _ in $(seq 1 150); do
    daemon_answers && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$dir/dockerd.log" >&2; fail "dockerd exited at start"; }
    sleep 0.2
  done
  cat "$dir/dockerd.log" >&2
  fail "dockerd did not answer in 30 s"
}

# Stops every container of this daemon, then the daemon itself.
stop_daemon() {
  local pid=$1 dir=$2 left
  left=$(docker ps -q 2>/dev/null || true)
  [ -n "$left" ] && docker rm -f $left >/dev/null 2>&1 || true
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -rf "$dir"
}

build_rootfs() {
  [ -f "$rootfs" ] && return 0
  echo "building the Lambda base image's root filesystem (Debian $suite minbase, once)" >&2
  local dir; dir=$(mktemp -d -t ltisync-rootfs.XXXXXX)
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 ||
    { tail -20 "$dir.log" >&2; rm -rf "$dir" "$dir.log"; fail "debootstrap failed"; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
    "$dir"/usr/share/doc "$dir"/usr/share/man "$dir"/usr/share/locale
  mkdir -p "$cache"
  tar --numeric-owner -C "$dir" -cf "$rootfs.part" .
  mv "$rootfs.part" "$rootfs"
  rm -rf "$dir" "$dir.log"
}

# The host's address on Docker's default bridge, where SAM CLI's containers run.
bridge_address() {
  local address iface
  address=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)
  if [ -z "$address" ]; then
    iface=$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true)
    address=$(ip -4 -o addr show dev "${iface:-docker0}" 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
  fi
  [ -n "$address" ] || fail "cannot tell this machine's address on Docker's bridge"
  echo "$address"
}

import_image() {
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  echo "importing $image into the Docker daemon" >&2
  docker import "$rootfs" "$image" >/dev/null
}

install_missing
daemon_answers || start_daemon
build_rootfs
import_image
export LTISYNC_LAMBDA_IMAGE=$image
LTISYNC_DOCKER_BRIDGE_ADDRESS=$(bridge_address)
export LTISYNC_DOCKER_BRIDGE_ADDRESS
echo "Docker $(docker version --format '{{.Server.Version}}') on ${DOCKER_HOST:-the default socket}, image $image" >&2
"$@"
