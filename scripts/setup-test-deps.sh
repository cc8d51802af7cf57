#!/usr/bin/env bash
# Installs what the tests use besides Rust and Go, skipping whatever is already there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

apt_packages=()
# Headless Chromium opens /docs in the api tests.
command -v chromium >/dev/null || apt_packages+=(chromium)
if ((${#apt_packages[@]})); then
  log "installing ${apt_packages[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${apt_packages[@]}" >/dev/null
fi
