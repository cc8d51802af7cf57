#!/usr/bin/env bash
# Installs (once) TypeScript at the version scripts/lib.sh pins, from npm, under $AGENTAREA_CACHE,
# and prints its directory. tests/tests/console.rs runs its `tsc` over api/console (JSDoc types
# checked, nothing emitted); it finds it through AGENTAREA_TYPESCRIPT_DIR, which scripts/test.sh
# exports, or runs this script.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"

dir=$(typescript_dir)
if [[ ! -x $dir/node_modules/.bin/tsc ]]; then
  log "installing typescript $TYPESCRIPT_VERSION from npm into $dir"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  npm install --prefix "$dir.tmp" --no-audit --no-fund --loglevel=error "typescript@$TYPESCRIPT_VERSION" >&2
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
echo "$dir"
