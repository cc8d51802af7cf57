#!/usr/bin/env bash
# The end-to-end suite: the product in a real kind cluster, as a user installs it. Brings up a
# fresh cluster (kind/cluster.sh: a Docker engine, a node image, kind), builds and loads our image
# and the test images, installs the chart with helm --wait, runs `cargo test --test e2e` against
# it, and deletes the cluster (AGENTAREA_E2E_KEEP=1 keeps it for a look afterwards).
# Arguments go to the test binary (e.g. `scripts/e2e.sh managed_stdio` runs the tests matching it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

cluster=${AGENTAREA_E2E_CLUSTER:-agentarea-e2e}
release=agentarea
namespace=agentarea
state=$AGENTAREA_CACHE/e2e
mkdir -p "$state"
kubeconfig=$state/kubeconfig
t0=$(date +%s)
stage() { log "$1 ($(( $(date +%s) - t0 ))s since start)"; }

bash scripts/setup-test-deps.sh
kubectl="$(control_plane_bin_dir)/kubectl"
helm="$(helm_bin_dir)/helm"

# The engine, node image, static binaries and images: waits for .ci/run's background build of them
# if one is under way, else builds what is missing (cached, so seconds when nothing is).
stage "preparing the engine, node image, static binaries and images (scripts/e2e-prepare.sh)"
flock --close "$e2e_prepare_lock" bash scripts/e2e-prepare.sh
stage "bringing up the kind cluster $cluster (log: $state/cluster.log)"
if ! kind=$(bash kind/cluster.sh --name "$cluster" --kubeconfig "$kubeconfig" --recreate 2>"$state/cluster.log"); then
  cat "$state/cluster.log" >&2
  exit 1
fi
if [[ ${AGENTAREA_E2E_KEEP:-0} != 1 ]]; then
  trap '"$kind" delete cluster --name "$cluster" --kubeconfig "$kubeconfig" >/dev/null 2>&1 || true' EXIT
fi

stage "building the images"
image=$(bash kind/image.sh)
images_env=$(bash tests/e2e/build-images.sh)
eval "$(sed 's/^/export /' <<<"$images_env")"
stage "loading the images into the node"
for i in "$image" "$AGENTAREA_E2E_IMAGE_NODE" "$AGENTAREA_E2E_IMAGE_UV" "$AGENTAREA_E2E_IMAGE_MODEL" \
  "$AGENTAREA_E2E_IMAGE_FLUX" "$AGENTAREA_E2E_IMAGE_GIT"; do
  "$kind" load docker-image "$i" --name "$cluster" >/dev/null
done

stage "helm upgrade --install $release"
values=$state/values.yaml
"$helm" upgrade --install "$release" charts/agentarea --kubeconfig "$kubeconfig" \
  --namespace "$namespace" --create-namespace \
  -f charts/agentarea/ci/kind-values.yaml -f tests/e2e/values.yaml \
  --set image.repository="${image%:*}" --set image.tag="${image##*:}" --wait --timeout 5m
# The suite's own releases start from the same values.
"$helm" get values "$release" --kubeconfig "$kubeconfig" -n "$namespace" -o yaml >"$values"

stage "running the end-to-end tests"
export AGENTAREA_E2E_KUBECONFIG=$kubeconfig AGENTAREA_E2E_API_URL=http://127.0.0.1:8000
export AGENTAREA_E2E_RELEASE=$release AGENTAREA_E2E_RELEASE_NAMESPACE=$namespace
export AGENTAREA_E2E_IMAGE=$image AGENTAREA_E2E_CHART_VALUES=$values
export AGENTAREA_KUBECTL=$kubectl AGENTAREA_HELM=$helm
set +e
cargo test -p agentarea-tests --test e2e -- "$@"
status=$?
set -e
# What the cluster needs, for sizing a laptop or a CI runner: the node container's memory now,
# with the release and the suite's leftovers running.
log "kind node memory: $(docker stats --no-stream --format '{{.MemUsage}}' "$cluster-control-plane" 2>/dev/null)"
if ((status != 0)); then
  log "the suite failed: the cluster's state"
  "$kubectl" --kubeconfig "$kubeconfig" get pods -A -o wide >&2 || true
  "$kind" export logs "$state/logs" --name "$cluster" >/dev/null 2>&1 && log "node logs: $state/logs"
fi
stage "done"
exit "$status"
