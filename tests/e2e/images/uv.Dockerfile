# Stands in for `ghcr.io/astral-sh/uv:python3.12-bookworm-slim` (examples/mcp-stdio.yaml) where no
# registry can be reached: Debian's Python with the reference MCP server mcp-server-time, from wheels
# that pip on the host fetched from PyPI into this context (the build itself reaches no index), and
# `uvx` as an offline launcher for it (see uvx).
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
ARG MCP_TIME_VERSION
COPY wheels/ /tmp/wheels/
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/uvx/mcp-server-time \
 && /opt/uvx/mcp-server-time/bin/pip install --quiet --no-cache-dir --disable-pip-version-check \
      --no-index --find-links /tmp/wheels "mcp-server-time==${MCP_TIME_VERSION}" \
 && rm -rf /tmp/wheels \
 && echo "${MCP_TIME_VERSION}" >/opt/uvx/mcp-server-time/VERSION
COPY uvx /usr/local/bin/uvx
