#!/usr/bin/env bash
# Installs (once) the contract tests' Python tools - schemathesis, openapi-python-client and the
# generated client's runtime dependencies, at the versions scripts/lib.sh pins - into a virtualenv
# of their own under $AGENTAREA_CACHE, and prints its directory. The tests find it through
# AGENTAREA_CONTRACT_VENV, which scripts/test.sh exports, or run this script.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"

venv=$(contract_venv)
# The marker is written last, so an interrupted install is redone rather than trusted.
if [[ ! -f $venv/.installed ]]; then
  log "installing schemathesis and openapi-python-client from PyPI into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION" \
    "httpx==$HTTPX_VERSION" "attrs==$ATTRS_VERSION" "python-dateutil==$PYTHON_DATEUTIL_VERSION" >&2
  touch "$venv/.installed"
fi
echo "$venv"
