#!/usr/bin/env bash
# Applies examples/ into workspace WORKSPACE (namespace ws-WORKSPACE, labelled as the api labels
# workspaces) of the kind cluster CLUSTER:
#
#   kind/examples.sh WORKSPACE CLUSTER
#
# The managed MCP examples run node:22-alpine and uv's image. Where Docker cannot pull them (no
# registry), it builds stand-ins that run the same reference servers offline (tests/e2e/images),
# loads them into the node, and applies the examples with only those image names changed.
# AGENTAREA_EXAMPLE_IMAGES=upstream applies them as written, =local always uses the stand-ins;
# the default, auto, decides by trying to pull.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
workspace=${1:?usage: kind/examples.sh WORKSPACE CLUSTER}
cluster=${2:?usage: kind/examples.sh WORKSPACE CLUSTER}
kubectl=${KUBECTL:-kubectl}
kind=${KIND:-kind}
namespace=ws-$workspace
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

"$kubectl" create namespace "$namespace" --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null
"$kubectl" label namespace "$namespace" "agentarea.io/workspace=$workspace" --overwrite >/dev/null

dir=$(mktemp -d /tmp/agentarea-examples-XXXXXX)
trap 'rm -rf "$dir"' EXIT
cp "$repo"/examples/*.yaml "$dir/"
node_image=node:22-alpine
uv_image=ghcr.io/astral-sh/uv:python3.12-bookworm-slim
pullable() { timeout 300 docker pull -q "$1" >/dev/null 2>&1; }
case ${AGENTAREA_EXAMPLE_IMAGES:-auto} in
  upstream) stand_ins=false ;;
  local) stand_ins=true ;;
  auto) if pullable "$node_image" && pullable "$uv_image"; then stand_ins=false; else stand_ins=true; fi ;;
  *) echo "AGENTAREA_EXAMPLE_IMAGES must be auto, upstream or local" >&2; exit 2 ;;
esac
if $stand_ins; then
  log "the examples' node and uv images: offline stand-ins (tests/e2e/images)"
  stand_ins=$(bash "$repo/tests/e2e/build-images.sh" node uv)
  node_local=$(sed -n 's/^AGENTAREA_E2E_IMAGE_NODE=//p' <<<"$stand_ins")
  uv_local=$(sed -n 's/^AGENTAREA_E2E_IMAGE_UV=//p' <<<"$stand_ins")
  "$kind" load docker-image "$node_local" "$uv_local" --name "$cluster" >/dev/null
  sed -i "s#image: $node_image\$#image: $node_local#; s#image: $uv_image\$#image: $uv_local#" "$dir"/*.yaml
fi
"$kubectl" apply --server-side -n "$namespace" -f "$dir"
