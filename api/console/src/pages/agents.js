// Agents: the list with readiness, one agent with its tools and a form to start a task, and the
// create/edit form whose skills, MCP tools and callable agents are picked from what the
// workspace has (tools as discovery found them).

import { all, del, downloadManifest, get, patch, post, segment } from "../api.js";
import { badge, code, confirmDialog, errorLine, field, h, notify, replace, select, submitting, table } from "../dom.js";
import { clip, timeElement } from "../format.js";

/**
 * @param {HTMLElement} main
 * @param {string[]} _params
 * @param {AbortSignal} signal
 */
export async function agentsPage(main, _params, signal) {
  const agents = await all("/v1/agents", signal);
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Agents"), h("a", { class: "button", href: "#/agents/new" }, "New agent")),
    table(
      "The workspace's agents",
      ["Name", "Ready", "Model", "Tools", "Created"],
      agents,
      (agent) => [
        h("a", { href: `#/agents/${segment(agent.id)}` }, agent.name),
        readiness(agent),
        h("code", {}, agent.model_id),
        String(agent.tools.length),
        timeElement(agent.created_at),
      ],
      "No agents yet. Create one to start tasks.",
    ),
  );
}

/**
 * Ready, or why not.
 * @param {any} agent
 */
function readiness(agent) {
  return agent.ready
    ? badge("Ready")
    : h("span", {}, badge("Not ready"), agent.status_message ? h("span", { class: "reason" }, ` ${agent.status_message}`) : null);
}

/**
 * @param {HTMLElement} main
 * @param {string[]} params
 * @param {AbortSignal} signal
 */
export async function agentPage(main, [id], signal) {
  const agent = await get(`/v1/agents/${segment(id)}`, signal);
  const description = h("textarea", { name: "description", rows: 3, required: true });
  const approval = h("input", { type: "checkbox", name: "requires_human_approval" });
  const error = errorLine();
  const start = h(
    "form",
    {
      class: "stack",
      onsubmit: submitting(error, async () => {
        const task = await post("/v1/tasks", {
          agent_id: agent.id,
          description: description.value,
          requires_human_approval: approval.checked,
        });
        location.hash = `#/tasks/${segment(task.id)}`;
      }),
    },
    field("What should the agent do?", description),
    h("label", { class: "check" }, approval, " Every tool call waits for my approval"),
    h("button", { type: "submit" }, "Start task"),
    error.element,
  );
  const remove = async () => {
    if (await confirmDialog(`Delete the agent ${agent.name}? Its tasks stay.`, "Delete agent")) {
      await error.run(async () => {
        await del(`/v1/agents/${segment(agent.id)}`);
        notify(`Deleted ${agent.name}.`);
        location.hash = "#/agents";
      });
    }
  };
  const exportYaml = () =>
    error.run(() => downloadManifest(`/v1/agents/${segment(agent.id)}`, `${agent.k8s_name}.yaml`));
  // An agent a GitOps engine applies is changed in Git: no edit, no delete (the API refuses both).
  const fromGit = Boolean(agent.managed_by);
  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, agent.name, fromGit ? [" ", h("span", { class: "badge info", title: `Managed by ${agent.managed_by}: change it in Git` }, "from Git")] : null),
      h(
        "div",
        { class: "actions" },
        fromGit ? null : h("a", { class: "button", href: `#/agents/${segment(agent.id)}/edit` }, "Edit"),
        h("a", { class: "button", href: `#/tasks?agent_id=${segment(agent.id)}` }, "Tasks"),
        h("button", { type: "button", onclick: exportYaml }, "Export YAML"),
        fromGit ? null : h("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
      ),
    ),
    h(
      "dl",
      { class: "facts" },
      fact("Ready", readiness(agent)),
      fact("Model", h("code", {}, agent.model_id), agent.model_endpoint ? ` at ${agent.model_endpoint}` : null),
      fact("Description", agent.description ?? "—"),
      fact("Skills", agent.skills.length ? agent.skills.join(", ") : "—"),
      fact("Agents it may call", agent.agents?.length ? agent.agents.map((/** @type {any} */ a) => a.name ?? a.agent_id).join(", ") : "—"),
      fact("Approval policy", agent.tool_approval.policy, agent.tool_approval.timeout_seconds ? ` (${agent.tool_approval.timeout_seconds} s, then ${agent.tool_approval.on_timeout})` : null),
      fact("Created", timeElement(agent.created_at), agent.created_by ? ` by ${agent.created_by}` : null),
      fromGit ? fact("Managed by", `${agent.managed_by}: change it in Git`) : null,
    ),
    h("h2", {}, "Instruction"),
    code(agent.instruction),
    h("h2", {}, "Tools"),
    table(
      "Tools the agent can call",
      ["Tool", "Needs approval"],
      agent.tools,
      (/** @type {string} */ tool) => [h("code", {}, tool), agent.tools_requiring_approval.includes(tool) ? badge("approval", "wait") : "no"],
      "No tools resolved.",
    ),
    h("h2", {}, "Start a task"),
    start,
  );
}

/**
 * A term and its description.
 * @param {string} term
 * @param {...(string | Node | null)} description
 */
function fact(term, ...description) {
  return [h("dt", {}, term), h("dd", {}, ...description)];
}

/**
 * The create form (`#/agents/new`) or the edit form (`#/agents/<id>/edit`).
 * @param {HTMLElement} main
 * @param {string[]} params
 * @param {AbortSignal} signal
 */
export async function agentFormPage(main, [id], signal) {
  const [agent, skills, servers, agents] = await Promise.all([
    id ? get(`/v1/agents/${segment(id)}`, signal) : Promise.resolve(null),
    all("/v1/skills", signal),
    all("/v1/mcp-server-instances", signal),
    all("/v1/agents", signal),
  ]);
  const name = h("input", { name: "name", required: true, maxlength: 253, value: agent?.name ?? "" });
  const description = h("input", { name: "description", value: agent?.description ?? "" });
  const instruction = h("textarea", { name: "instruction", rows: 6, required: true });
  instruction.value = agent?.instruction ?? "";
  const model = h("input", { name: "model_id", required: true, value: agent?.model_id ?? "" });
  const endpoint = h("input", { name: "model_endpoint", type: "url", value: agent?.model_endpoint ?? "", placeholder: "https://…/v1" });
  const policy = select(
    "policy",
    [
      ["None", "Only tools marked below"],
      ["Destructive", "Tools that may destroy (by their hints)"],
      ["NotReadOnly", "Tools that are not read-only"],
      ["All", "Every tool"],
    ],
    agent?.tool_approval.policy ?? "None",
  );
  const timeout = h("input", { name: "timeout_seconds", type: "number", min: 1, value: agent?.tool_approval.timeout_seconds ?? "" });
  const onTimeout = select("on_timeout", [["Reject", "Tell the model it was rejected"], ["Fail", "Fail the task"]], agent?.tool_approval.on_timeout ?? "Reject");
  const skillBoxes = skills.map((skill) => checkbox("skill", skill.k8s_name, skill.name, agent?.skills.includes(skill.k8s_name) ?? false));
  const serverPickers = servers.map((server) => serverPicker(server, agent));
  const otherAgents = agents.filter((other) => other.id !== agent?.id);
  const chosenAgents = new Set((agent?.agents ?? []).map((/** @type {any} */ a) => a.agent_id));
  const agentBoxes = otherAgents.map((other) => checkbox("agent", other.id, other.name, chosenAgents.has(other.id)));
  const error = errorLine();

  const body = () => ({
    name: name.value.trim(),
    description: description.value.trim() || null,
    instruction: instruction.value,
    model_id: model.value.trim(),
    model_endpoint: endpoint.value.trim() || null,
    skills: skillBoxes.filter((box) => box.input.checked).map((box) => box.input.value),
    tools_config: { mcp_server_configs: serverPickers.map((picker) => picker.config()).filter((config) => config !== null) },
    agents: agentBoxes.filter((box) => box.input.checked).map((box) => ({ agent_id: box.input.value })),
    tool_approval: {
      policy: policy.value,
      timeout_seconds: timeout.value ? Number(timeout.value) : null,
      on_timeout: onTimeout.value,
    },
  });
  const form = h(
    "form",
    {
      class: "stack",
      onsubmit: submitting(error, async () => {
        const saved = agent ? await patch(`/v1/agents/${segment(agent.id)}`, body()) : await post("/v1/agents", body());
        notify(`Saved ${saved.name}.`);
        location.hash = `#/agents/${segment(saved.id)}`;
      }),
    },
    field("Name", name),
    field("Description", description),
    field("Instruction", instruction, "What the agent is and how it works; the model's system prompt."),
    field("Model", model, "The model's name at its endpoint."),
    field("Model endpoint", endpoint, "An OpenAI-compatible base URL; empty uses the operator's default."),
    h("fieldset", {}, h("legend", {}, "Skills"), skillBoxes.length ? skillBoxes.map((box) => box.label) : h("p", { class: "empty" }, "The workspace has no skills.")),
    h(
      "fieldset",
      {},
      h("legend", {}, "MCP tools"),
      h("p", { class: "hint" }, "Pick a server to offer all its tools, or pick tools to offer only those."),
      serverPickers.length ? serverPickers.map((picker) => picker.element) : h("p", { class: "empty" }, "The workspace has no MCP servers."),
    ),
    h("fieldset", {}, h("legend", {}, "Agents it may call"), agentBoxes.length ? agentBoxes.map((box) => box.label) : h("p", { class: "empty" }, "No other agents.")),
    h(
      "fieldset",
      {},
      h("legend", {}, "Tool approval"),
      field("Calls that wait for approval", policy),
      field("Wait at most (seconds)", timeout, "Empty waits until someone decides."),
      field("When nobody decides in time", onTimeout),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, agent ? "Save" : "Create agent"), h("a", { class: "button secondary", href: agent ? `#/agents/${segment(agent.id)}` : "#/agents" }, "Cancel")),
    error.element,
  );
  replace(main, h("h1", {}, agent ? `Edit ${agent.name}` : "New agent"), form);
}

/**
 * A labelled checkbox.
 * @param {string} name
 * @param {string} value
 * @param {string} text
 * @param {boolean} checked
 */
function checkbox(name, value, text, checked) {
  const input = h("input", { type: "checkbox", name, value, checked });
  return { input, label: h("label", { class: "check" }, input, ` ${text}`) };
}

/**
 * One MCP server of the form: use it, and which of its discovered tools (each maybe needing
 * approval).
 * @param {any} server
 * @param {any} agent
 */
function serverPicker(server, agent) {
  const existing = agent?.tools_config.mcp_server_configs.find((/** @type {any} */ c) => c.mcp_server_id === server.id);
  const use = h("input", { type: "checkbox", name: "server", value: server.id, checked: Boolean(existing) });
  /** @type {Map<string, any>} */
  const allowed = new Map((existing?.allowed_tools ?? []).map((/** @type {any} */ t) => [t.tool_name, t]));
  const tools = server.tools.map((/** @type {any} */ tool) => {
    const pick = h("input", { type: "checkbox", name: `tool:${server.name}`, value: tool.name, checked: allowed.has(tool.name) });
    const confirm = h("input", {
      type: "checkbox",
      name: `confirm:${server.name}`,
      value: tool.name,
      checked: allowed.get(tool.name)?.requires_user_confirmation ?? false,
      "aria-label": `${tool.name} needs approval`,
    });
    pick.addEventListener("change", () => {
      if (pick.checked) {
        use.checked = true;
      } else {
        confirm.checked = false;
      }
    });
    // A tool that needs approval is listed, so it is offered by name.
    confirm.addEventListener("change", () => {
      if (confirm.checked) {
        pick.checked = true;
        use.checked = true;
      }
    });
    return {
      pick,
      confirm,
      row: h("li", {}, h("label", { class: "check" }, pick, " ", h("code", {}, tool.name)), h("label", { class: "check small" }, confirm, " needs approval"), tool.description ? h("small", {}, ` ${clip(tool.description, 120)}`) : null),
    };
  });
  return {
    element: h(
      "div",
      { class: "server-pick" },
      h("label", { class: "check" }, use, " ", h("strong", {}, server.name), " ", badge(server.status)),
      tools.length ? h("ul", { class: "tool-picks" }, tools.map((/** @type {any} */ t) => t.row)) : h("small", {}, " (no tools discovered yet)"),
    ),
    config() {
      if (!use.checked) {
        return null;
      }
      const picked = tools.filter((/** @type {any} */ t) => t.pick.checked);
      return {
        mcp_server_id: server.id,
        allowed_tools: picked.map((/** @type {any} */ t) => ({ tool_name: t.pick.value, requires_user_confirmation: t.confirm.checked })),
      };
    },
  };
}
