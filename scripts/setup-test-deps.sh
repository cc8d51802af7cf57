#!/usr/bin/env bash
# Installs what the tests use besides Rust and Go, skipping whatever is already there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# (Filled in as the tests grow: MCP reference servers, helm, Chromium.)
exit 0
