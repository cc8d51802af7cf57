#!/usr/bin/env bash
# Builds the image the chart runs, agentarea/agentarea:<chart appVersion> (or $IMAGE), and prints
# its name.
#
# Where Docker can pull the Dockerfile's base images (rust:alpine, distroless), this is
# `docker build .`. Where it cannot (no registry), the same static musl binaries are built on the
# host with cargo and put into an image by Dockerfile.prebuilt, with the same user, paths and
# entrypoint. AGENTAREA_IMAGE_BUILD=dockerfile|prebuilt chooses explicitly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
source "$repo/scripts/lib.sh"

app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$repo/charts/agentarea/Chart.yaml")
image=${IMAGE:-agentarea/agentarea:$app_version}
mode=${AGENTAREA_IMAGE_BUILD:-}
if [[ -z $mode ]]; then
  base=$(sed -n 's/^FROM \([^ ]*\)$/\1/p' "$repo/Dockerfile" | tail -n 1)
  if docker image inspect "$base" >/dev/null 2>&1 || timeout 300 docker pull -q "$base" >/dev/null 2>&1; then
    mode=dockerfile
  else
    mode=prebuilt
  fi
fi

case $mode in
  dockerfile)
    log "docker build -t $image ."
    docker build -q -t "$image" "$repo" >/dev/null
    ;;
  prebuilt)
    log "building $image from host-built static binaries (Dockerfile.prebuilt)"
    bin_dir=$(musl_binaries agentarea-operator agentarea-api)
    ctx=$(mktemp -d /tmp/agentarea-image-XXXXXX)
    trap 'rm -rf "$ctx"' EXIT
    mkdir -p "$ctx/bin" "$ctx/tmp"
    cp "$bin_dir/agentarea-operator" "$bin_dir/agentarea-api" "$ctx/bin/"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
    # distroless's users: root, nobody and nonroot (65532), with the same homes.
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/passwd"
    printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$ctx/group"
    docker build -q -f "$repo/Dockerfile.prebuilt" -t "$image" "$ctx" >/dev/null
    ;;
  *)
    echo "AGENTAREA_IMAGE_BUILD must be dockerfile or prebuilt, not $mode" >&2
    exit 2
    ;;
esac
echo "$image"
