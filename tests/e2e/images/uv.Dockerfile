# Stands in for `ghcr.io/astral-sh/uv:python3.12-bookworm-slim` (examples/mcp-stdio.yaml) where no
# registry can be reached: Debian's Python with the reference MCP server mcp-server-time installed
# from PyPI at build time, and `uvx` as an offline launcher for it (see uvx).
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
ARG MCP_TIME_VERSION
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/uvx/mcp-server-time \
 && /opt/uvx/mcp-server-time/bin/pip install --quiet --no-cache-dir --disable-pip-version-check \
      "mcp-server-time==${MCP_TIME_VERSION}" \
 && echo "${MCP_TIME_VERSION}" >/opt/uvx/mcp-server-time/VERSION
COPY uvx /usr/local/bin/uvx
