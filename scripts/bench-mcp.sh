#!/usr/bin/env bash
# Benchmark: time from creating N managed McpServerInstances to all their children (Deployment
# and Service) applied by the operator, against a baseline measured in the same run: the same
# number of Deployments and Services applied directly with kubectl. Also the operator's peak memory.
# Then a peer, side by side on the same control plane: ToolHive's thv-operator
# (scripts/peer-toolhive.sh) with as many of its own MCPServer resources, timed to the same point
# (each server's Deployment and Service applied), and its peak memory. BENCH_PEER=0 skips it.
#
#   scripts/bench-mcp.sh [count]        (default 200)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

count=${1:-200}
log "building the operator (release)"
cargo build --release --quiet -p agentarea-operator
bin=$(control_plane_bin_dir)
state=$(mktemp -d /tmp/agentarea-bench-mcp-XXXXXX)
operator_pid=
peer_pid=
trap '[[ -n $operator_pid ]] && kill $operator_pid 2>/dev/null; [[ -n $peer_pid ]] && kill $peer_pid 2>/dev/null
  stop_control_plane; rm -rf "$state"' EXIT
peer=()
if [[ ${BENCH_PEER:-1} == 1 ]]; then
  mapfile -t peer < <(bash scripts/peer-toolhive.sh)
fi
start_control_plane "$state"
export KUBECONFIG=$state/kubeconfig
install_crds "$KUBECONFIG"
kubectl=$bin/kubectl
$kubectl create namespace bench-baseline >/dev/null
$kubectl create namespace bench-operator >/dev/null

children_in() { # namespace -> number of Deployments plus Services
  $kubectl get deployments,services -n "$1" --no-headers 2>/dev/null | wc -l
}
wait_for_children() { # namespace wanted
  while (( $(children_in "$1") < $2 )); do sleep 0.2; done
}
count_of() { # kind namespace
  $kubectl get "$1" -n "$2" --no-headers 2>/dev/null | wc -l
}
now_ms() { date +%s%3N; }

log "baseline: $count Deployments and Services applied directly"
for i in $(seq 1 "$count"); do
  cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: server-$i}
spec:
  replicas: 1
  selector: {matchLabels: {app: server-$i}}
  template:
    metadata: {labels: {app: server-$i}}
    spec: {containers: [{name: server, image: "example.org/mcp/server:1", ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: server-$i}
spec: {selector: {app: server-$i}, ports: [{port: 8080}]}
YAML
done >"$state/baseline.yaml"
start=$(now_ms)
$kubectl apply --server-side -n bench-baseline -f "$state/baseline.yaml" >/dev/null
wait_for_children bench-baseline $((count * 2))
baseline_ms=$(( $(now_ms) - start ))

log "operator: $count managed McpServerInstances"
# Servers are not reachable (no kubelet runs them): discovery fails fast and backs off, as it
# would while pods start; the measured part is the operator applying the children.
AGENTAREA_HEALTH_ADDR=127.0.0.1:0 AGENTAREA_WATCH_NAMESPACE=bench-operator RUST_LOG=warn \
  AGENTAREA_MANAGED_ENDPOINT_TEMPLATE='http://127.0.0.1:9{path}' AGENTAREA_MCP_TIMEOUT_SECONDS=2 \
  "$CARGO_TARGET_DIR/release/agentarea-operator" >"$state/operator.log" 2>&1 &
operator_pid=$!
sleep 2
for i in $(seq 1 "$count"); do
  printf -- '---\napiVersion: agentarea.io/v1alpha1\nkind: McpServerInstance\nmetadata: {name: server-%d}\nspec:\n  managed: {image: "example.org/mcp/server:1", port: 8080}\n' "$i"
done >"$state/instances.yaml"
start=$(now_ms)
$kubectl apply --server-side -n bench-operator -f "$state/instances.yaml" >/dev/null
wait_for_children bench-operator $((count * 2))
operator_ms=$(( $(now_ms) - start ))
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$operator_pid/status")

printf '\n%-52s %10s\n' "$count servers: create -> Deployment+Service applied" "ms"
printf '%-52s %10d\n' "baseline (kubectl apply of the children)" "$baseline_ms"
printf '%-52s %10d\n' "operator (kubectl apply of McpServerInstances)" "$operator_ms"
awk -v o="$operator_ms" -v b="$baseline_ms" 'BEGIN { printf "ratio operator/baseline: %.2fx\n", o/b }'
echo "operator peak RSS: $((rss_kib / 1024)) MiB"

if ((${#peer[@]} == 2)); then
  log "peer: thv-operator with $count MCPServers"
  $kubectl apply --server-side -f "${peer[1]}" >/dev/null
  $kubectl wait --for condition=established --timeout=60s crd/mcpservers.toolhive.stacklok.dev >/dev/null
  $kubectl create namespace bench-peer >/dev/null
  WATCH_NAMESPACE=bench-peer POD_NAMESPACE=bench-peer TOOLHIVE_RUNNER_IMAGE=example.org/toolhive/proxyrunner:1 \
    "${peer[0]}" --metrics-bind-address=0 --health-probe-bind-address=127.0.0.1:0 >"$state/peer.log" 2>&1 &
  peer_pid=$!
  sleep 2
  for i in $(seq 1 "$count"); do
    printf -- '---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServer\nmetadata: {name: server-%d}\nspec: {image: "example.org/mcp/server:1", transport: streamable-http, proxyPort: 8080, mcpPort: 8080}\n' "$i"
  done >"$state/peer.yaml"
  start=$(now_ms)
  $kubectl apply --server-side -n bench-peer -f "$state/peer.yaml" >/dev/null
  deadline=$(( $(now_ms) + 600000 ))
  while (( $(count_of deployments bench-peer) < count || $(count_of services bench-peer) < count )); do
    if ! kill -0 "$peer_pid" 2>/dev/null || (( $(now_ms) > deadline )); then
      echo "thv-operator did not apply the children; its log:" >&2; tail -20 "$state/peer.log" >&2; exit 1
    fi
    sleep 0.2
  done
  peer_ms=$(( $(now_ms) - start ))
  peer_kib=$(awk '/VmHWM/ {print $2}' "/proc/$peer_pid/status")
  printf '%-52s %10d\n' "peer: thv-operator (kubectl apply of MCPServers)" "$peer_ms"
  awk -v o="$operator_ms" -v p="$peer_ms" 'BEGIN { printf "ratio operator/peer: %.2fx\n", o/p }'
  echo "thv-operator peak RSS: $((peer_kib / 1024)) MiB"
  echo "children per server: ours $(( $(children_in bench-operator) / count )) of Deployment+Service" \
    "(+ServiceAccount); thv-operator's: $(count_of deployments bench-peer) deployments," \
    "$(count_of services bench-peer) services, $(count_of serviceaccounts bench-peer) serviceaccounts," \
    "$(count_of configmaps bench-peer) configmaps, $(count_of rolebindings bench-peer) rolebindings"
fi
