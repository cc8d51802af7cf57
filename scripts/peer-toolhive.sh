#!/usr/bin/env bash
# The peer operator the MCP benchmark compares with: ToolHive's thv-operator (a Go
# controller-runtime operator for MCP servers), built once from its public Go module and cached by
# version. Prints two lines: the binary's path, and the directory of its CRDs.
#
# v0.47.0 is the newest release whose dependencies the Go module proxy serves here (v0.66.0 needs
# modules it refuses). Nothing of it is committed: it is built from the module cache.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

version=${TOOLHIVE_VERSION:-v0.47.0}
module=github.com/stacklok/toolhive
dir=$AGENTAREA_CACHE/peer/thv-operator-$version
if [[ ! -x $dir/thv-operator ]]; then
  log "building thv-operator $version from its Go module (once; cached in $dir; about 5 minutes)"
  rm -rf "$dir.tmp"
  CGO_ENABLED=0 GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" "$module/cmd/thv-operator@$version"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
source_dir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
echo "$dir/thv-operator"
echo "$source_dir/deploy/charts/operator-crds/files/crds"
