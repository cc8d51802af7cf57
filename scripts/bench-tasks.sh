#!/usr/bin/env bash
# Benchmark: tasks per second through the executor (scripted model, real MCP `echo` tool) against a
# baseline of the same model and tool calls made directly in the same run, and the operator's
# memory with every finished Task kept against its memory idle, and the apiserver's write requests
# per Task, by resource.
#
#   scripts/bench-tasks.sh [count]        (default 1000)
#
# BENCH_TRACES=1 runs the operator with trace export on (to a local OpenTelemetry Collector):
# compare its ratio with a run without to see what tracing costs. BENCH_PROFILE=1 also prints
# where the kube-apiserver spends its CPU while the Tasks run (a 10 s profile of its pprof).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

count=${1:-1000}
bash scripts/setup-test-deps.sh
log "building the operator and the benchmark (release)"
cargo build --release --quiet -p agentarea-operator -p agentarea-tests --bin agentarea-operator --bin bench-tasks
AGENTAREA_CP_BIN_DIR=$(control_plane_bin_dir)
export AGENTAREA_CP_BIN_DIR
state=$(mktemp -d /tmp/agentarea-bench-tasks-XXXXXX)
trap 'stop_trace_collector; stop_control_plane; rm -rf "$state"' EXIT
start_control_plane "$state"
export AGENTAREA_TEST_KUBECONFIG=$state/kubeconfig
install_crds "$AGENTAREA_TEST_KUBECONFIG"
if [[ ${BENCH_TRACES:-0} == 1 ]]; then
  log "trace export on (the operator started by the benchmark inherits OTEL_EXPORTER_OTLP_ENDPOINT)"
  start_trace_collector "$state/otel"
fi
profiler=
profile=${TMPDIR:-/tmp}/bench-tasks-apiserver.pprof
if [[ ${BENCH_PROFILE:-0} == 1 ]]; then
  # 10 s of the kube-apiserver's CPU, from when the Tasks start being created.
  (
    while [[ ! -f $state/tasks-before ]]; do sleep 0.2; done
    KUBECONFIG=$AGENTAREA_TEST_KUBECONFIG "$AGENTAREA_CP_BIN_DIR/kubectl" get --raw \
      "/debug/pprof/profile?seconds=10" >"$profile"
  ) &
  profiler=$!
fi
BENCH_STATE=$state "$CARGO_TARGET_DIR/release/bench-tasks" "$count"
echo "apiserver writes per Task while they ran (the Task's create included):"
python3 scripts/write-counts.py "$state/tasks-before" "$state/tasks-after" "$count"
if [[ ${BENCH_TRACES:-0} == 1 ]]; then
  echo "traces: on; spans the collector received: $(spans_received "$state/otel")"
else
  echo "traces: off"
fi
if [[ -n $profiler ]]; then
  wait "$profiler"
  echo "the kube-apiserver's CPU while the Tasks ran (10 s, by cumulative time):"
  go tool pprof -top -cum -nodecount=45 "$profile" 2>/dev/null | sed -n '5,55p'
  echo "(the whole profile: $profile; go tool pprof -http=: $profile)"
fi
