#!/usr/bin/env bash
# Benchmark: the api (JWT auth, workspace scoping, watch cache) against the kube-apiserver with the
# same load tool (wrk), in the same run, with 10,000 agents stored across 100 workspaces: GET of one
# agent by id, and LIST of one workspace's agents (its first page of 100, the api's default), each
# against the direct request for the same objects. Then the agents' MCP endpoint: `tools/list` of
# that workspace's agents (made Ready) at /v1/mcp in the 2026-07-28 era, against LIST of the same
# agents through /v1 (the baseline: the same auth and cache, without MCP). Prints requests/s and p99
# for each pair, the ratios, and the api's memory.
#
#   scripts/bench-api.sh [duration-seconds] [connections] [agents] [workspaces]
#
# BENCH_TRACES=1 runs the api with trace export on (to a local OpenTelemetry Collector): compare
# its ratio with a run without to see what tracing costs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

duration=${1:-15}
connections=${2:-32}
agents=${3:-10000}
workspaces=${4:-100}
command -v wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }

log "building the api (release)"
cargo build --release --quiet -p agentarea-api
bin=$(control_plane_bin_dir)
state=$(mktemp -d /tmp/agentarea-bench-XXXXXX)
api_pid=
trap '[[ -n $api_pid ]] && kill $api_pid 2>/dev/null; stop_trace_collector; stop_control_plane; rm -rf "$state"' EXIT
start_control_plane "$state"
export KUBECONFIG=$state/kubeconfig
install_crds "$KUBECONFIG"
install_workspace_role "$KUBECONFIG" "$CARGO_TARGET_DIR/release/agentarea-api"

log "storing $agents agents across $workspaces workspaces"
per_workspace=$(( agents / workspaces ))
for w in $(seq 1 "$workspaces"); do
  printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ws-bench-%03d\n' "$w"
  for i in $(seq 1 "$per_workspace"); do
    printf -- '---\napiVersion: agentarea.io/v1alpha1\nkind: Agent\nmetadata:\n  name: agent-%04d\n  namespace: ws-bench-%03d\nspec:\n  instruction: Benchmark agent %d\n  model:\n    name: llama3.1:8b\n' "$i" "$w" "$i"
  done
done > "$state/agents.yaml"
"$bin/kubectl" apply --server-side -f "$state/agents.yaml" >/dev/null
namespace=ws-bench-$(printf '%03d' $(( (workspaces + 1) / 2 )))
name=agent-$(printf '%04d' $(( (per_workspace + 1) / 2 )))
uid=$("$bin/kubectl" get agent -n "$namespace" "$name" -o jsonpath='{.metadata.uid}')

if [[ ${BENCH_TRACES:-0} == 1 ]]; then
  log "trace export on"
  start_trace_collector "$state/otel"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AGENTAREA_JWT_SECRET=bench-secret
# The request limits are off: this measures what the api can serve, not what one caller may take.
AGENTAREA_WORKSPACE_REQUESTS_PER_SECOND=0 AGENTAREA_CALLER_REQUESTS_PER_SECOND=0 \
  AGENTAREA_LISTEN_ADDR=127.0.0.1:$port RUST_LOG=warn "$CARGO_TARGET_DIR/release/agentarea-api" >"$state/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
token=$("$CARGO_TARGET_DIR/release/agentarea-api" token --workspace "${namespace#ws-}")
curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/agents/$uid" >/dev/null

server=$(cat "$state/ready")
admin_token=$(cat "$state/admin-token")
curl -fsSk -H "Authorization: Bearer $admin_token" "$server/apis/agentarea.io/v1alpha1/namespaces/$namespace/agents/$name" >/dev/null

run() { # label url token [wrk options...] -> "rps p99_ms"
  local out
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency -H "Authorization: Bearer $3" "${@:4}" "$2")
  local rps p99
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  echo "$rps $p99"
}
log "load: $connections connections for ${duration}s each, 2 wrk threads"
kube_agents=$server/apis/agentarea.io/v1alpha1/namespaces/$namespace/agents
read -r api_rps api_p99 < <(run api "http://127.0.0.1:$port/v1/agents/$uid" "$token")
read -r kube_rps kube_p99 < <(run apiserver "$kube_agents/$name" "$admin_token")
read -r api_list_rps api_list_p99 < <(run api-list "http://127.0.0.1:$port/v1/agents?limit=100" "$token")
read -r kube_list_rps kube_list_p99 < <(run apiserver-list "$kube_agents?limit=100" "$admin_token")

# The agents' MCP endpoint lists Ready agents only: mark this workspace's Ready, as the operator would.
ready='{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Bench","message":"bench","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}'
patches=()
for i in $(seq 1 "$per_workspace"); do
  "$bin/kubectl" patch agent -n "$namespace" "agent-$(printf '%04d' "$i")" --subresource=status \
    --type merge -p "$ready" >/dev/null &
  patches+=($!)
  if (( ${#patches[@]} == 20 )); then wait "${patches[@]}"; patches=(); fi
done
(( ${#patches[@]} == 0 )) || wait "${patches[@]}"
tools_list='{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}'
cat >"$state/tools-list.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/list"
wrk.body = [[$tools_list]]
LUA
mcp_url=http://127.0.0.1:$port/v1/mcp
listed=""
for _ in $(seq 1 100); do
  listed=$(curl -sS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
    -H 'Mcp-Method: tools/list' \
    -d "$tools_list" "$mcp_url")
  [[ $(grep -o '"name":"agent-' <<<"$listed" | wc -l) -eq $per_workspace ]] && break
  sleep 0.2
done
[[ $(grep -o '"name":"agent-' <<<"$listed" | wc -l) -eq $per_workspace ]] ||
  { echo "tools/list did not list the $per_workspace Ready agents: ${listed:0:300}" >&2; exit 1; }
read -r mcp_rps mcp_p99 < <(run mcp-tools-list "$mcp_url" "$token" -s "$state/tools-list.lua")
read -r rest_rps rest_p99 < <(run rest-list "http://127.0.0.1:$port/v1/agents?limit=100" "$token")
api_rss=$(awk '/VmHWM/ {print $2}' /proc/$api_pid/status)

report() { # title api_rps api_p99 kube_rps kube_p99 api_label kube_label
  printf '\n%-40s %12s %10s\n' "$1" "requests/s" "p99 ms"
  printf '%-40s %12.0f %10.2f\n' "$6" "$2" "$3"
  printf '%-40s %12.0f %10.2f\n' "$7" "$4" "$5"
  awk -v a="$2" -v k="$4" -v ap="$3" -v kp="$5" \
    'BEGIN { printf "ratio api/apiserver: throughput %.2fx, p99 %.2fx\n", a/k, ap/kp }'
}
report "GET one agent (of $agents, $workspaces workspaces)" "$api_rps" "$api_p99" "$kube_rps" "$kube_p99" \
  "api  /v1/agents/{id} (JWT, cache)" "kube-apiserver GET (baseline)"
report "LIST a workspace's $per_workspace agents" "$api_list_rps" "$api_list_p99" "$kube_list_rps" "$kube_list_p99" \
  "api  /v1/agents?limit=100" "kube-apiserver LIST ?limit=100"
report "MCP tools/list of $per_workspace Ready agents" "$mcp_rps" "$mcp_p99" "$rest_rps" "$rest_p99" \
  "api  /v1/mcp tools/list (2026-07-28)" "api  /v1/agents?limit=100 (baseline)" | sed 's|api/apiserver|mcp/rest|'
echo "api peak RSS: $((api_rss / 1024)) MiB"
if [[ ${BENCH_TRACES:-0} == 1 ]]; then
  kill -TERM "$api_pid" && wait "$api_pid" 2>/dev/null || true   # flushes the last spans
  api_pid=
  echo "traces: on; spans the collector received: $(spans_received "$state/otel")"
else
  echo "traces: off"
fi
