#!/usr/bin/env bash
# Builds agentarea-cp (etcd + kube-apiserver + kube-controller-manager + kubectl in one binary) once
# and caches it outside git, keyed by the hash of this module's sources: a second run is a no-op.
# Prints the path of the directory that holds the binary and its kubectl symlink.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
k8s_version=v1.34.4
cache=${AGENTAREA_CACHE:-$HOME/.cache/agentarea}
key=$(cat "$here"/go.mod "$here"/go.sum "$here"/*.go "$here"/build.sh | sha256sum | cut -c1-16)
out="$cache/controlplane/$key"
if [[ -x $out/agentarea-cp && -L $out/kubectl ]]; then
  echo "$out"
  exit 0
fi
# One build at a time: a CI run builds the control plane for the tests while it prepares the kind
# node image (which holds the same binary) in the background; the second caller waits and reuses.
mkdir -p "$cache/controlplane"
exec 9>"$cache/controlplane/.build.lock"
flock 9
if [[ -x $out/agentarea-cp && -L $out/kubectl ]]; then
  echo "$out"
  exit 0
fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
pkg=k8s.io/component-base/version
minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
start=$(date +%s)
echo "building the local control plane (Kubernetes $k8s_version); a cold build takes 10-20 minutes" >&2
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp/agentarea-cp" .)
ln -sf agentarea-cp "$out.tmp/kubectl"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out"
