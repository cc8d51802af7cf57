#!/usr/bin/env bash
# Builds the GitOps engine the end-to-end suite runs (Flux's source-controller and
# kustomize-controller v1.9.6, from their Go modules through the module proxy) and the suite's Git
# server, static, once: cached outside git, keyed by the hash of the wrapper modules and sources
# here, so a second run is a no-op. Prints the directory that holds `bin/` (the three binaries)
# and `crds/` (the engine's CRDs, from the same modules).
#
# Each controller is built from a wrapper module (tests/e2e/flux/<controller>): the controllers'
# go.mod files carry replace directives, which only a main module applies, so `go install` of them
# refuses; the wrapper requires the controller, repeats its replaces, and builds its main package
# by import path. source-controller's pkg/artifact is pinned to v0.18.0: the v0.18.3 it asks for is
# not served by the module proxy. Newer releases (v1.10) need Go 1.27 and dependencies the proxy
# refuses; see the wrappers' go.mod.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${AGENTAREA_CACHE:-$HOME/.cache/agentarea}
key=$( (cd "$here" && cat flux/*/go.mod flux/*/go.sum flux/*/tools.go gitserver/go.mod gitserver/*.go build-flux.sh) | sha256sum | cut -c1-16)
out="$cache/flux/$key"
done_marker() { [[ -x $out/bin/source-controller && -x $out/bin/kustomize-controller && -x $out/bin/gitserver && -d $out/crds ]]; }
if done_marker; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/flux"
exec 9>"$cache/flux/.build.lock"
flock 9
if done_marker; then
  echo "$out"
  exit 0
fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp/bin" "$out.tmp/crds"
start=$(date +%s)
echo "building Flux v1.9.6 (source- and kustomize-controller) and the Git server; cold, about 5 minutes" >&2
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-modcacherw -mod=mod"
for controller in source-controller kustomize-controller; do
  work=$out.tmp/$controller
  cp -r "$here/flux/$controller" "$work"
  (cd "$work" && go build -trimpath -ldflags="-s -w" -o "$out.tmp/bin/$controller" "github.com/fluxcd/$controller")
  "$out.tmp/bin/$controller" --help >/dev/null 2>&1
  module_dir=$(cd "$work" && go list -m -f '{{.Dir}}' "github.com/fluxcd/$controller")
  cp "$module_dir"/config/crd/bases/*.yaml "$out.tmp/crds/"
  rm -rf "$work"
done
(cd "$here/gitserver" && go build -trimpath -ldflags="-s -w" -o "$out.tmp/bin/gitserver" .)
rm -rf "$out" && mv "$out.tmp" "$out"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out"
