#!/usr/bin/env bash
# Benchmark: tool calls per second through the stdio bridge, made as the operator's task runner
# makes them (on a kept session), against a baseline measured in the same run: the same calls to
# the same reference server reached directly over streamable HTTP. Also calls that each open a
# session (and so start a stdio server) through the bridge, and the bridge's memory. No control
# plane needed.
#
#   scripts/bench-bridge.sh [count]        (default 200)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

count=${1:-200}
bash scripts/setup-test-deps.sh
log "building the bridge and the benchmark (release)"
cargo build --release --quiet -p agentarea-operator -p agentarea-tests --bin agentarea-operator --bin bench-bridge
"$CARGO_TARGET_DIR/release/bench-bridge" "$count"
