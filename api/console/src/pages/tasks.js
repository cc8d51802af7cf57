// Tasks: the workspace's tasks with filters (status, agent), kept current from the workspace's
// event stream, and a form to start one.

import { all, page, post, segment } from "../api.js";
import { badge, errorLine, field, h, keepingFocus, replace, select, submitting, table } from "../dom.js";
import { clip, TASK_STATUSES, timeElement } from "../format.js";
import { follow } from "../sse.js";

/**
 * @param {HTMLElement} main
 * @param {string[]} _params
 * @param {AbortSignal} signal
 * @param {URLSearchParams} query `status` and `agent_id` filters
 */
export async function tasksPage(main, _params, signal, query) {
  const agents = await all("/v1/agents", signal);
  const agentNames = new Map(agents.map((agent) => [agent.id, agent.name]));
  const status = select("status", [["", "Any status"], ...TASK_STATUSES.map((s) => /** @type {[string, string]} */ ([s, s.replace("_", " ")]))], query.get("status") ?? "");
  const agent = select("agent_id", [["", "Any agent"], ...agents.map((a) => /** @type {[string, string]} */ ([a.id, a.name]))], query.get("agent_id") ?? "");
  const filters = h(
    "form",
    {
      class: "filters",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        const next = new URLSearchParams();
        if (status.value) next.set("status", status.value);
        if (agent.value) next.set("agent_id", agent.value);
        const search = next.toString();
        location.hash = `#/tasks${search ? `?${search}` : ""}`;
      },
    },
    field("Status", status),
    field("Agent", agent),
    h("button", { type: "submit" }, "Filter"),
  );
  const list = h("div", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show more");
  /** @type {any[]} */
  let shown = [];
  /** @type {string | null} */
  let next = null;
  const path = `/v1/tasks?${filterQuery(query)}`;

  const render = () => {
    keepingFocus(list, () => replace(
      list,
      table(
        "Tasks",
        ["Task", "Agent", "Status", "Started", "Steps"],
        shown,
        (task) => [
          h("a", { href: `#/tasks/${segment(task.id)}` }, clip(task.description, 80) || task.id),
          agentNames.get(task.agent_id) ?? task.agent_name,
          badge(task.status),
          timeElement(task.started_at ?? task.created_at),
          String(task.step_count),
        ],
        "No tasks match.",
      ),
    ));
    more.hidden = next === null;
  };
  const reload = async () => {
    const first = await page(path, null, signal);
    shown = first.items;
    next = first.next;
    render();
  };
  more.addEventListener("click", async () => {
    const result = await page(path, next, signal);
    shown = [...shown, ...result.items];
    next = result.next;
    render();
  });
  await reload();
  replace(main, h("div", { class: "page-head" }, h("h1", {}, "Tasks")), filters, list, more, h("h2", {}, "Start a task"), newTaskForm(agents));

  // Task changes in the workspace refresh the first page (at most twice a second).
  /** @type {number | undefined} */
  let pending;
  void follow(
    "/v1/events",
    {
      onEvent: (event) => {
        if (event.name.startsWith("task_") && pending === undefined) {
          pending = window.setTimeout(() => {
            pending = undefined;
            if (!signal.aborted) void reload().catch(() => {});
          }, 500);
        }
      },
    },
    signal,
  );
}

/**
 * The API's query string for the page's filters.
 * @param {URLSearchParams} query
 */
function filterQuery(query) {
  const filters = new URLSearchParams();
  for (const key of ["status", "agent_id"]) {
    const value = query.get(key);
    if (value) filters.set(key, value);
  }
  return filters.toString();
}

/**
 * A form that starts a task with a chosen agent.
 * @param {any[]} agents
 */
function newTaskForm(agents) {
  const agent = select("agent", agents.map((a) => /** @type {[string, string]} */ ([a.id, a.name])));
  const description = h("textarea", { name: "description", rows: 3, required: true });
  const approval = h("input", { type: "checkbox", name: "requires_human_approval" });
  const error = errorLine();
  return h(
    "form",
    {
      class: "stack",
      onsubmit: submitting(error, async () => {
        const task = await post("/v1/tasks", { agent_id: agent.value, description: description.value, requires_human_approval: approval.checked });
        location.hash = `#/tasks/${segment(task.id)}`;
      }),
    },
    field("Agent", agent),
    field("What should the agent do?", description),
    h("label", { class: "check" }, approval, " Every tool call waits for my approval"),
    h("button", { type: "submit", disabled: agents.length === 0 }, "Start task"),
    error.element,
  );
}
