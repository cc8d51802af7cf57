// MCP server instances: phase and endpoint, the tools discovery found with the hints their
// servers declare, the reason when not ready, and a form for the three kinds (a managed
// container, a remote URL, a compound of other instances).

import { all, del, get, post, segment } from "../api.js";
import { badge, code, confirmDialog, errorLine, field, h, notify, replace, select, submitting, table } from "../dom.js";
import { timeElement } from "../format.js";

/**
 * @param {HTMLElement} main
 * @param {string[]} _params
 * @param {AbortSignal} signal
 */
export async function mcpServersPage(main, _params, signal) {
  const servers = await all("/v1/mcp-server-instances", signal);
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "MCP servers"), h("a", { class: "button", href: "#/mcp/new" }, "New server")),
    table(
      "The workspace's MCP server instances",
      ["Name", "Kind", "Status", "Endpoint", "Tools"],
      servers,
      (server) => [
        h("a", { href: `#/mcp/${segment(server.id)}` }, server.name),
        server.json_spec.type,
        h("span", {}, badge(server.status), server.status_message ? h("span", { class: "reason" }, ` ${server.status_message}`) : null),
        server.endpoint ? h("code", {}, server.endpoint) : "—",
        String(server.tools.length),
      ],
      "No MCP servers yet.",
    ),
  );
}

/** The MCP tool hints, as MCP names them, and how the page says each when the server set it. */
const HINTS = /** @type {const} */ ([
  ["readOnlyHint", "read-only", "writes"],
  ["destructiveHint", "destructive", "not destructive"],
  ["idempotentHint", "idempotent", "not idempotent"],
  ["openWorldHint", "open world", "closed world"],
]);

/**
 * The hints a server declared for a tool; absent ones are left out (MCP's defaults apply).
 * @param {Record<string, any> | null | undefined} annotations
 */
function hints(annotations) {
  if (!annotations) {
    return "none declared";
  }
  const said = HINTS.filter(([key]) => typeof annotations[key] === "boolean").map(([key, yes, no]) => badge(annotations[key] ? yes : no, "idle"));
  return said.length ? h("span", { class: "hints" }, said) : "none declared";
}

/**
 * @param {HTMLElement} main
 * @param {string[]} params
 * @param {AbortSignal} signal
 */
export async function mcpPage(main, [id], signal) {
  const server = await get(`/v1/mcp-server-instances/${segment(id)}`, signal);
  const error = errorLine();
  const path = `/v1/mcp-server-instances/${segment(server.id)}`;
  /** @param {string} action */
  const act = (action) =>
    error.run(async () => {
      await post(`${path}/${action}`);
      notify(`Asked to ${action.replace("-", " ")}.`);
      await mcpPage(main, [id], signal);
    });
  const remove = async () => {
    if (await confirmDialog(`Delete the MCP server ${server.name}? Agents using it lose its tools.`, "Delete server")) {
      await error.run(async () => {
        await del(path);
        notify(`Deleted ${server.name}.`);
        location.hash = "#/mcp";
      });
    }
  };
  const managed = server.json_spec.type === "docker";
  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, server.name),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => act("discover-tools") }, "Discover tools"),
        managed ? h("button", { type: "button", onclick: () => act("start") }, "Start") : null,
        managed ? h("button", { type: "button", onclick: () => act("stop") }, "Stop") : null,
        h("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
      ),
    ),
    error.element,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Status"),
      h("dd", {}, badge(server.status)),
      server.status_message ? [h("dt", {}, "Why"), h("dd", { class: "reason" }, server.status_message)] : null,
      h("dt", {}, "Kind"),
      h("dd", {}, server.json_spec.type),
      h("dt", {}, "Endpoint"),
      h("dd", {}, server.endpoint ? h("code", {}, server.endpoint) : "—"),
      h("dt", {}, "Created"),
      h("dd", {}, timeElement(server.created_at), server.created_by ? ` by ${server.created_by}` : null),
    ),
    h("h2", {}, "Tools"),
    table(
      "Tools the server offers",
      ["Tool", "Description", "Hints"],
      server.tools,
      (/** @type {any} */ tool) => [h("code", {}, tool.name), tool.description ?? "", hints(tool.annotations)],
      "No tools discovered.",
    ),
    h("h2", {}, "Specification"),
    code(server.json_spec),
  );
}

/**
 * The create form for the three kinds.
 * @param {HTMLElement} main
 * @param {string[]} _params
 * @param {AbortSignal} signal
 */
export async function mcpFormPage(main, _params, signal) {
  const others = await all("/v1/mcp-server-instances", signal);
  const name = h("input", { name: "name", required: true });
  const description = h("input", { name: "description" });
  const kind = select("type", [["url", "Remote URL"], ["docker", "Managed container"], ["compound", "Compound of other servers"]], "url");

  const endpoint = h("input", { name: "endpoint", type: "url", placeholder: "https://…/mcp" });
  const urlTransport = select("url_transport", [["streamable-http", "Streamable HTTP"], ["sse", "SSE"]]);
  const image = h("input", { name: "image", placeholder: "ghcr.io/…:tag" });
  const port = h("input", { name: "port", type: "number", min: 1, max: 65535 });
  const dockerTransport = select("docker_transport", [["streamable-http", "Streamable HTTP"], ["sse", "SSE"], ["stdio", "stdio (behind the bridge)"]]);
  const command = h("input", { name: "cmd", placeholder: "npx -y @modelcontextprotocol/server-everything" });
  const environment = h("textarea", { name: "environment", rows: 3, placeholder: "KEY=value, one per line" });
  const members = others.map((other) => {
    const input = h("input", { type: "checkbox", name: "member", value: other.id });
    const prefix = h("input", { name: `prefix:${other.name}`, "aria-label": `Prefix for ${other.name}`, placeholder: "prefix (optional)" });
    return { input, prefix, row: h("li", {}, h("label", { class: "check" }, input, ` ${other.name}`), " ", prefix) };
  });

  const sections = {
    url: h("fieldset", {}, h("legend", {}, "Remote server"), field("Endpoint", endpoint), field("Transport", urlTransport)),
    docker: h(
      "fieldset",
      {},
      h("legend", {}, "Managed container"),
      field("Image", image),
      field("Port", port, "Where the server listens; not needed for stdio."),
      field("Transport", dockerTransport),
      field("Command", command, "Words separated by spaces; empty runs the image's own command."),
      field("Environment", environment),
    ),
    compound: h("fieldset", {}, h("legend", {}, "Members"), members.length ? h("ul", { class: "tool-picks" }, members.map((m) => m.row)) : h("p", { class: "empty" }, "No servers to combine yet.")),
  };
  const showKind = () => {
    for (const [key, section] of Object.entries(sections)) {
      section.hidden = key !== kind.value;
    }
  };
  kind.addEventListener("change", showKind);
  showKind();

  const spec = () => {
    switch (kind.value) {
      case "docker":
        return {
          type: "docker",
          image: image.value.trim(),
          port: port.value ? Number(port.value) : undefined,
          transport: dockerTransport.value,
          cmd: command.value.trim() ? command.value.trim().split(/\s+/) : [],
          environment: Object.fromEntries(
            environment.value
              .split("\n")
              .map((line) => line.trim())
              .filter((line) => line.includes("="))
              .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
          ),
        };
      case "compound":
        return {
          type: "compound",
          members: members.filter((m) => m.input.checked).map((m) => ({ instance: m.input.value, prefix: m.prefix.value.trim() || undefined })),
        };
      default:
        return { type: "url", endpoint: endpoint.value.trim(), transport: urlTransport.value };
    }
  };
  const error = errorLine();
  const form = h(
    "form",
    {
      class: "stack",
      onsubmit: submitting(error, async () => {
        const created = await post("/v1/mcp-server-instances", { name: name.value.trim(), description: description.value.trim() || null, json_spec: spec() });
        notify(`Created ${created.name}.`);
        location.hash = `#/mcp/${segment(created.id)}`;
      }),
    },
    field("Name", name),
    field("Description", description),
    field("Kind", kind),
    Object.values(sections),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create server"), h("a", { class: "button secondary", href: "#/mcp" }, "Cancel")),
    error.element,
  );
  replace(main, h("h1", {}, "New MCP server"), form);
}
