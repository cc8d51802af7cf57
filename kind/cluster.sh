#!/usr/bin/env bash
# Brings up a kind cluster from kind-config.yaml, on a laptop with Docker or on a machine with no
# Docker engine and no image registry at all:
#
#   kind/cluster.sh [--name NAME] [--kubeconfig FILE] [--recreate] [--prepare]
#
# --prepare stops after steps 1-3 (everything that takes long on a new machine), so a CI run can
# do them in the background while it compiles and tests, and bring the cluster up later in seconds.
#
# 1. a Docker engine (kind/engine.sh: nothing to do where one runs);
# 2. the kind CLI: the one on PATH, else built once from its Go module into the cache;
# 3. the node image: $AGENTAREA_KIND_NODE_IMAGE if set; kind's stock kindest/node where Docker can
#    pull it; else one built here for Kubernetes v1.34.4 (kind/node/build.sh, cached);
# 4. the cluster, unless one of that name exists (--recreate deletes it first).
#
# Prints the kind binary's path on stdout, so callers (make, scripts/e2e.sh) use the same one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${AGENTAREA_CACHE:-$HOME/.cache/agentarea}
kind_version=${KIND_VERSION:-v0.33.0}
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

name=agentarea
kubeconfig=${KUBECONFIG:-}
recreate=false
prepare=false
while (($#)); do
  case $1 in
    --name) name=$2; shift 2 ;;
    --kubeconfig) kubeconfig=$2; shift 2 ;;
    --recreate) recreate=true; shift ;;
    --prepare) prepare=true; shift ;;
    *) echo "usage: $0 [--name NAME] [--kubeconfig FILE] [--recreate] [--prepare]" >&2; exit 2 ;;
  esac
done

bash "$here/engine.sh"

kind_bin() {
  if command -v kind >/dev/null; then
    command -v kind
    return
  fi
  local dir=$cache/kind/bin-$kind_version
  if [[ ! -x $dir/kind ]]; then
    log "building kind $kind_version from its Go module (once; cached in $dir)"
    CGO_ENABLED=0 GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$kind_version"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir/kind"
}
kind=$(kind_bin)

# The stock node image of kind $kind_version (what `kind create cluster` pulls without --image).
stock_image() {
  local dir
  dir=$(go mod download -json "sigs.k8s.io/kind@$kind_version" 2>/dev/null \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [[ -n $dir ]] && sed -n 's/^const Image = "\(.*\)"$/\1/p' "$dir/pkg/apis/config/defaults/image.go"
}

node_image_args=()
if [[ -n ${AGENTAREA_KIND_NODE_IMAGE:-} ]]; then
  node_image_args=(--image "$AGENTAREA_KIND_NODE_IMAGE")
elif ! command -v go >/dev/null; then
  log "no Go toolchain to build a node image: kind uses its stock kindest/node"
elif stock=$(stock_image) && [[ -n $stock ]] && timeout 600 docker pull -q "$stock" >/dev/null 2>&1; then
  log "using kind's stock node image $stock"
else
  log "kind's stock node image cannot be pulled here: using a node image built locally"
  node_image_args=(--image "$(bash "$here/node/build.sh")")
fi

if $prepare; then
  echo "$kind"
  exit 0
fi

kubeconfig_args=()
[[ -n $kubeconfig ]] && kubeconfig_args=(--kubeconfig "$kubeconfig")
if "$kind" get clusters 2>/dev/null | grep -qx "$name"; then
  if $recreate; then
    log "deleting the kind cluster $name"
    "$kind" delete cluster --name "$name" "${kubeconfig_args[@]}" >&2
  else
    log "kind cluster $name exists"
    "$kind" export kubeconfig --name "$name" "${kubeconfig_args[@]}" >&2
    echo "$kind"
    exit 0
  fi
fi
log "creating the kind cluster $name from kind-config.yaml"
"$kind" create cluster --name "$name" --config "$repo/kind-config.yaml" "${node_image_args[@]}" \
  "${kubeconfig_args[@]}" --wait 3m >&2
echo "$kind"
