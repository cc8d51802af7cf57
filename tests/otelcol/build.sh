#!/usr/bin/env bash
# Builds agentarea-otelcol (an OpenTelemetry Collector with the OTLP receiver and the file exporter,
# see main.go) once and caches it outside git, keyed by the hash of this module's sources: a second
# run is a no-op. Prints the path of the directory that holds the binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${AGENTAREA_CACHE:-$HOME/.cache/agentarea}
key=$(cat "$here"/go.mod "$here"/go.sum "$here"/*.go "$here"/build.sh | sha256sum | cut -c1-16)
out="$cache/otelcol/$key"
if [[ -x $out/agentarea-otelcol ]]; then
  echo "$out"
  exit 0
fi
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
start=$(date +%s)
echo "building the OpenTelemetry Collector for the tests; a cold build takes about 2 minutes" >&2
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp/agentarea-otelcol" .)
rm -rf "$out" && mv "$out.tmp" "$out"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out"
