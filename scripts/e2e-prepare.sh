#!/usr/bin/env bash
# Builds everything the end-to-end suite needs before a cluster exists: the Docker engine, the kind
# CLI and node image (kind/cluster.sh --prepare), our static binaries and image (kind/image.sh) and
# the test images (tests/e2e/build-images.sh). All of it is cached, so a second run costs seconds.
#
# On a new machine this is most of the suite's time, and most of it is waiting on downloads, apt and
# Docker rather than on the CPU: .ci/run starts it in the background first thing, so it overlaps
# with the static checks and the integration tests; scripts/e2e.sh runs it again under the same
# lock ($e2e_prepare_lock), which waits for a background run and then finds everything built.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

t0=$(date +%s)
stage() { log "e2e-prepare: $1 ($(( $(date +%s) - t0 ))s)"; }

stage "engine, kind CLI and node image (kind/cluster.sh --prepare), side by side with the static binaries"
bash kind/cluster.sh --prepare >/dev/null &
cluster_pid=$!
# The GitOps engine is Go, built by its own toolchain: beside the Rust builds, not after them.
bash tests/e2e/build-flux.sh >/dev/null &
flux_pid=$!
musl_binaries agentarea-operator agentarea-api scripted-model >/dev/null
stage "static binaries built"
wait "$cluster_pid"
wait "$flux_pid"
stage "engine and node image ready; building our image and the test images"
bash kind/image.sh >/dev/null
bash tests/e2e/build-images.sh >/dev/null
stage "done"
