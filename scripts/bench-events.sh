#!/usr/bin/env bash
# Benchmark: `GET /v1/events` with many clients. C SSE clients over W workspaces while agents are
# created through the apiserver at a steady rate: the time from each create's acknowledgement to
# each client's receipt (p50, p99), deliveries lost (must be zero), and the api's memory; against a
# baseline measured in the same run, as many watches made directly on the kube-apiserver. Then the
# same clients spread over R api replicas against the single one, memory per replica, and what a
# resumption costs on the replica a client left and on one started since.
#
#   scripts/bench-events.sh [clients] [workspaces] [creates] [replicas]   (default 1000 100 500 3)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

clients=${1:-1000}
workspaces=${2:-100}
creates=${3:-500}
replicas=${4:-3}
bash scripts/setup-test-deps.sh
log "building the api and the benchmark (release)"
cargo build --release --quiet -p agentarea-api -p agentarea-tests --bin agentarea-api --bin bench-events
# Each client is a connection at both ends (the benchmark's and the api's): past the usual 1,024.
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < 2 * clients + 512 )); then
  echo "open files limited to $(ulimit -n): too few for $clients clients" >&2
  exit 1
fi
AGENTAREA_CP_BIN_DIR=$(control_plane_bin_dir)
export AGENTAREA_CP_BIN_DIR
state=$(mktemp -d /tmp/agentarea-bench-events-XXXXXX)
trap 'stop_control_plane; rm -rf "$state"' EXIT
start_control_plane "$state"
export AGENTAREA_TEST_KUBECONFIG=$state/kubeconfig
install_crds "$AGENTAREA_TEST_KUBECONFIG"
install_workspace_role "$AGENTAREA_TEST_KUBECONFIG" "$CARGO_TARGET_DIR/release/agentarea-api"
"$CARGO_TARGET_DIR/release/bench-events" "$clients" "$workspaces" "$creates" "$replicas"
