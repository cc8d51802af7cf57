#!/usr/bin/env bash
# Benchmark: signed webhook deliveries per second through the api (the signature checked as GitHub
# makes it, the validation rules and conditions applied, a Task created) against the
# kube-apiserver's own rate of Task creates, measured with the same load tool (wrk) in the same
# run: the floor, since every accepted delivery is one Task create. Three api runs: a trigger
# without conditions, one with rule conditions (and validation rules) that match, and one whose
# conditions do not match (each delivery answered 200 skipped and recorded in the trigger's
# status, with no Task). Prints requests/s and p99 of each and the ratios to the baseline.
#
#   scripts/bench-webhooks.sh [duration-seconds] [connections]
#
# GitHub signs no time, so one signed request can be sent again and again (a generic or Slack
# one would be refused as a replay): wrk repeats one delivery.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

duration=${1:-10}
connections=${2:-16}
command -v wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }

log "building the api (release)"
cargo build --release --quiet -p agentarea-api
bin=$(control_plane_bin_dir)
state=$(mktemp -d /tmp/agentarea-bench-webhooks-XXXXXX)
# A copy of the binary: another checkout building into the same target directory could replace
# `release/agentarea-api` while this runs.
cp "$CARGO_TARGET_DIR/release/agentarea-api" "$state/agentarea-api"
api=$state/agentarea-api
api_pid=
trap '[[ -n $api_pid ]] && kill $api_pid 2>/dev/null; stop_control_plane; rm -rf "$state"' EXIT
start_control_plane "$state"
export KUBECONFIG=$state/kubeconfig
install_crds "$KUBECONFIG"
install_workspace_role "$KUBECONFIG" "$api"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AGENTAREA_JWT_SECRET=bench-secret
# The request limits are off and the Task quota out of reach: this measures what the api can
# serve, not what one workspace may take.
AGENTAREA_WORKSPACE_REQUESTS_PER_SECOND=0 AGENTAREA_CALLER_REQUESTS_PER_SECOND=0 \
  AGENTAREA_WORKSPACE_QUOTA=count/tasks.agentarea.io=10000000 \
  AGENTAREA_LISTEN_ADDR=127.0.0.1:$port RUST_LOG=warn "$api" >"$state/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
base=http://127.0.0.1:$port

body='{"action":"opened","issue":{"title":"Disk full","number":7,"labels":["bug"]}}'
printf '%s' "$body" >"$state/body.json"

# new_trigger WORKSPACE CONDITIONS -> "URL SECRET" of a new GitHub webhook trigger in WORKSPACE.
new_trigger() {
  local token
  token=$("$api" token --workspace "$1")
  curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' "$base/v1/agents" \
    -d '{"name":"responder","instruction":"Triage.","model_id":"m"}' >/dev/null
  curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' "$base/v1/triggers" \
    -d "{\"name\":\"hook\",\"agent_id\":\"responder\",\"trigger_type\":\"webhook\",\"webhook_type\":\"github\",
         \"task_description\":\"{{ webhook.event }}: {{ payload.issue.title }}\",$2}" |
    python3 -c 'import json,sys; t=json.load(sys.stdin); print(t["webhook_url"], t["webhook_secret"])'
}
matching='"conditions":{"type":"rule","rules":[{"field":"webhook.event","operator":"eq","value":"issues"},
  {"field":"payload.action","operator":"eq","value":"opened"},{"field":"payload.issue.labels","operator":"contains","value":"bug"}]},
  "validation_rules":{"required_fields":["issue.title"],"json_schema":{"type":"object","required":["action","issue"]}}'
not_matching='"conditions":{"type":"rule","rules":[{"field":"payload.action","operator":"eq","value":"closed"}]}'

# run LABEL URL [HEADER...] -> "rps p99_ms non2xx": wrk POSTs the body with the headers given.
run() {
  local label=$1 url=$2
  shift 2
  local args=()
  for header in "$@"; do args+=(-H "$header"); done
  cat >"$state/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$state/body.json", "rb"); wrk.body = f:read("*a"); f:close()
LUA
  local out
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$state/post.lua" \
    -H 'content-type: application/json' "${args[@]}" "$url")
  local rps p99 bad
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps $p99 ${bad:-0}"
}

github_headers() { # SECRET -> the headers GitHub sends
  local mac
  mac=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1)
  printf '%s\n' "X-Hub-Signature-256: sha256=$mac" "X-GitHub-Event: issues" "X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958"
}

log "load: $connections connections for ${duration}s each, 2 wrk threads"
server=$(cat "$state/ready")
admin_token=$(cat "$state/admin-token")
"$bin/kubectl" create namespace bench-floor >/dev/null
task='{"apiVersion":"agentarea.io/v1alpha1","kind":"Task","metadata":{"generateName":"floor-"},"spec":{"agent":"responder","input":"issues: Disk full"}}'
printf '%s' "$task" >"$state/body.json"
read -r floor_rps floor_p99 floor_bad < <(run apiserver \
  "$server/apis/agentarea.io/v1alpha1/namespaces/bench-floor/tasks" "Authorization: Bearer $admin_token")
printf '%s' "$body" >"$state/body.json"

declare -A rps p99 bad
for variant in off on skipped; do
  case $variant in
    off) fields='"is_active":true' ;;
    on) fields=$matching ;;
    skipped) fields=$not_matching ;;
  esac
  read -r url secret < <(new_trigger "bench-$variant" "$fields")
  mapfile -t headers < <(github_headers "$secret")
  read -r rps[$variant] p99[$variant] bad[$variant] < <(run "$variant" "$base$url" "${headers[@]}")
done

printf '\n%-58s %12s %10s %8s\n' "signed deliveries (GitHub, one trigger)" "requests/s" "p99 ms" "non-2xx"
printf '%-58s %12.0f %10.2f %8s\n' "kube-apiserver Task create (the floor)" "$floor_rps" "$floor_p99" "$floor_bad"
printf '%-58s %12.0f %10.2f %8s\n' "api, no conditions (202, a Task each)" "${rps[off]}" "${p99[off]}" "${bad[off]}"
printf '%-58s %12.0f %10.2f %8s\n' "api, matching conditions + validation rules (202)" "${rps[on]}" "${p99[on]}" "${bad[on]}"
printf '%-58s %12.0f %10.2f %8s\n' "api, conditions not matching (200 skipped, recorded)" "${rps[skipped]}" "${p99[skipped]}" "${bad[skipped]}"
awk -v f="$floor_rps" -v off="${rps[off]}" -v on="${rps[on]}" -v s="${rps[skipped]}" 'BEGIN {
  printf "ratio to the floor: conditions off %.2fx, conditions on %.2fx, skipped %.2fx\n", off/f, on/f, s/f }'
warned=$(grep -c "was not recorded" "$state/api.log" || true)
echo "skipped deliveries whose record lost every try on the trigger's status: $warned"
