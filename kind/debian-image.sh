#!/usr/bin/env bash
# Prints the name of a local Debian bookworm base image, making it first when Docker lacks it.
#
# Machines without an image registry cannot pull debian:bookworm-slim; debootstrap makes the same
# root file system from Debian's package archive (about 2 minutes), and `docker import` turns it
# into an image. The kind node image, kube-proxy's image and the test images start from it.
set -euo pipefail
image=${AGENTAREA_DEBIAN_IMAGE:-agentarea.local/debian:bookworm}
mirror=${AGENTAREA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
fi
root=$(mktemp -d /tmp/agentarea-debootstrap-XXXXXX)
trap 'rm -rf "$root"' EXIT
log "debootstrap bookworm into $root (once; then cached as the image $image)"
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -n 20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# What the official slim images also drop: apt lists and caches, documentation.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' - "$image" >/dev/null
echo "$image"
