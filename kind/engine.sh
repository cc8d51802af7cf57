#!/usr/bin/env bash
# Makes sure a Docker engine answers. Where one already runs (a laptop with Docker Desktop or a
# CI runner), it does nothing. Otherwise it installs Debian's docker.io when dockerd is missing and
# starts dockerd in the background (these machines have no systemd), logging to
# $AGENTAREA_CACHE/dockerd.log.
#
# Machines whose capability bounding set lacks CAP_SYS_RESOURCE cannot start privileged containers
# (a kind node is one); there dockerd gets kind/runc-wrapper as its default runtime. That is
# detected from /proc/self/status, never assumed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${AGENTAREA_CACHE:-$HOME/.cache/agentarea}
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null; then
  if ! command -v apt-get >/dev/null; then
    echo "no Docker engine answers and dockerd is not installed; install Docker first" >&2
    exit 1
  fi
  log "installing Docker from Debian's packages (docker.io)"
  export DEBIAN_FRONTEND=noninteractive
  flock /tmp/agentarea-apt.lock apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  flock /tmp/agentarea-apt.lock apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends docker.io jq >/dev/null
fi

lacks_cap_sys_resource() {
  local capbnd
  capbnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
  (( ((0x$capbnd >> 24) & 1) == 0 ))
}

args=()
if lacks_cap_sys_resource; then
  command -v jq >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends jq >/dev/null
  log "this machine lacks CAP_SYS_RESOURCE: dockerd runs containers through kind/runc-wrapper"
  install -D -m 0755 "$here/runc-wrapper" /usr/local/libexec/agentarea/runc-wrapper
  # Flags rather than /etc/docker/daemon.json, so an administrator's daemon.json stays untouched.
  args+=(--add-runtime agentarea-runc=/usr/local/libexec/agentarea/runc-wrapper
         --default-runtime agentarea-runc)
fi

mkdir -p "$cache"
log "starting dockerd (log: $cache/dockerd.log)"
# setsid: the engine outlives this script, as a system service would; so it closes every descriptor
# it inherited beyond stdio first, or it would hold its callers' locks and pipes open for good (a CI
# run's lock on scripts/e2e-prepare.sh, a caller's $(...) capture).
# shellcheck disable=SC2016
setsid bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null; done; exec dockerd "$@"' \
  dockerd "${args[@]}" >"$cache/dockerd.log" 2>&1 < /dev/null &
for _ in $(seq 1 120); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
tail -n 30 "$cache/dockerd.log" >&2
echo "dockerd did not answer within 60s" >&2
exit 1
