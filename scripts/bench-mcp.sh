#!/usr/bin/env bash
# Benchmark: time from creating N managed McpServerInstances until the operator has applied all
# their children (ServiceAccount, Deployment, Service, NetworkPolicy, as the chart runs it) and
# written every instance's status, against a baseline measured in the same run: kubectl applying
# exactly the objects the operator wrote (taken from the cluster afterwards, owner references
# dropped). For both, the apiserver's write requests per server, by resource (from its
# /metrics), and the operator's peak memory.
# Then a peer, side by side on the same control plane: ToolHive's thv-operator
# (scripts/peer-toolhive.sh) with as many of its own MCPServer resources, timed to the point where
# each server's Deployment and Service exist, and its peak memory. BENCH_PEER=0 skips it.
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
statuses_in() { # namespace -> number of McpServerInstances whose status the operator has written
  $kubectl get mcpserverinstances -n "$1" -o jsonpath='{range .items[*]}{.status.observedGeneration}{"\n"}{end}' |
    grep -c . || true
}
count_of() { # kind namespace
  $kubectl get "$1" -n "$2" --no-headers 2>/dev/null | wc -l
}
scrape() { $kubectl get --raw /metrics >"$1"; }
now_ms() { date +%s%3N; }

log "operator: $count managed McpServerInstances"
# Servers are not reachable (no kubelet runs them): discovery fails fast and backs off, as it
# would while pods start; the measured part is the operator applying the children and status.
AGENTAREA_HEALTH_ADDR=127.0.0.1:0 AGENTAREA_WATCH_NAMESPACE=bench-operator RUST_LOG=warn \
  AGENTAREA_MANAGED_ENDPOINT_TEMPLATE='http://127.0.0.1:9{path}' AGENTAREA_MCP_TIMEOUT_SECONDS=2 \
  AGENTAREA_MCP_INGRESS_FROM_LABELS=app.kubernetes.io/name=agentarea,app.kubernetes.io/component=operator \
  "$CARGO_TARGET_DIR/release/agentarea-operator" >"$state/operator.log" 2>&1 &
operator_pid=$!
sleep 2
for i in $(seq 1 "$count"); do
  printf -- '---\napiVersion: agentarea.io/v1alpha1\nkind: McpServerInstance\nmetadata: {name: server-%d}\nspec:\n  managed: {image: "example.org/mcp/server:1", port: 8080}\n' "$i"
done >"$state/instances.yaml"
scrape "$state/operator-before"
start=$(now_ms)
$kubectl apply --server-side -n bench-operator -f "$state/instances.yaml" >/dev/null
while (( $(children_in bench-operator) < count * 2 || $(statuses_in bench-operator) < count )); do sleep 0.2; done
operator_ms=$(( $(now_ms) - start ))
scrape "$state/operator-after"
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$operator_pid/status")
kill $operator_pid && wait $operator_pid 2>/dev/null || true
operator_pid=

log "baseline: kubectl apply of the same children"
$kubectl get serviceaccounts,deployments,services,networkpolicies -n bench-operator -o json |
  python3 -c '
import json, sys
made = [o for o in json.load(sys.stdin)["items"]
        if any(r["kind"] == "McpServerInstance" for r in o["metadata"].get("ownerReferences", []))]
for o in made:
    meta = o["metadata"]
    o["metadata"] = {"name": meta["name"], "labels": meta.get("labels", {})}
    o.pop("status", None)
    if o["kind"] == "Service":
        for assigned in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
            o["spec"].pop(assigned, None)
json.dump({"apiVersion": "v1", "kind": "List", "items": made}, sys.stdout)
' >"$state/children.json"
sleep 3 # let the controller-manager finish with the operator's Deployments first
scrape "$state/baseline-before"
start=$(now_ms)
$kubectl apply --server-side -n bench-baseline -f "$state/children.json" >/dev/null
while (( $(children_in bench-baseline) < count * 2 )); do sleep 0.2; done
baseline_ms=$(( $(now_ms) - start ))
scrape "$state/baseline-after"

printf '\n%-60s %10s\n' "$count servers: create -> children applied, status written" "ms"
printf '%-60s %10d\n' "baseline (kubectl apply of the $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$state/children.json") children)" "$baseline_ms"
printf '%-60s %10d\n' "operator (kubectl apply of McpServerInstances)" "$operator_ms"
awk -v o="$operator_ms" -v b="$baseline_ms" 'BEGIN { printf "ratio operator/baseline: %.2fx\n", o/b }'
echo "operator peak RSS: $((rss_kib / 1024)) MiB"
echo "apiserver writes per server, operator run (the controller-manager's included):"
python3 scripts/write-counts.py "$state/operator-before" "$state/operator-after" "$count"
echo "apiserver writes per server, baseline run:"
python3 scripts/write-counts.py "$state/baseline-before" "$state/baseline-after" "$count"

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
  echo "children per server: ours a ServiceAccount, a Deployment, a Service and a NetworkPolicy;" \
    "(+ServiceAccount); thv-operator's: $(count_of deployments bench-peer) deployments," \
    "$(count_of services bench-peer) services, $(count_of serviceaccounts bench-peer) serviceaccounts," \
    "$(count_of configmaps bench-peer) configmaps, $(count_of rolebindings bench-peer) rolebindings"
fi
