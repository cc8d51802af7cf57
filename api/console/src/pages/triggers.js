// Triggers: when each fires next (in the browser's time zone), the webhook address and how to
// sign a call to it, recent executions with how their tasks ended, and enable/disable.

import { all, get, post, segment } from "../api.js";
import { badge, code, errorLine, h, notify, replace, table } from "../dom.js";
import { localZone, relative, timeElement } from "../format.js";

/**
 * @param {HTMLElement} main
 * @param {string[]} _params
 * @param {AbortSignal} signal
 */
export async function triggersPage(main, _params, signal) {
  const [triggers, agents] = await Promise.all([all("/v1/triggers", signal), all("/v1/agents", signal)]);
  const agentNames = new Map(agents.map((agent) => [agent.id, agent.name]));
  replace(
    main,
    h("h1", {}, "Triggers"),
    table(
      "The workspace's triggers",
      ["Name", "Kind", "Agent", "Active", `Next firing (${localZone()})`, "Last fired"],
      triggers,
      (trigger) => [
        h("a", { href: `#/triggers/${segment(trigger.id)}` }, trigger.name),
        trigger.trigger_type,
        agentNames.get(trigger.agent_id) ?? trigger.agent_id,
        badge(trigger.is_active ? "active" : "disabled"),
        trigger.next_run_time ? timeElement(trigger.next_run_time) : "—",
        timeElement(trigger.last_execution_at),
      ],
      "No triggers. Create them through the API or with kubectl.",
    ),
  );
}

/**
 * @param {HTMLElement} main
 * @param {string[]} params
 * @param {AbortSignal} signal
 */
export async function triggerPage(main, [id], signal) {
  const path = `/v1/triggers/${segment(id)}`;
  const [trigger, executions] = await Promise.all([get(path, signal), get(`${path}/executions`, signal)]);
  /** @type {any[]} */
  const recent = executions.executions.slice(0, 20);
  // How each execution's task ended: one read per task, side by side.
  const outcomes = new Map(
    await Promise.all(
      recent
        .filter((execution) => execution.task_id)
        .map(async (execution) => /** @type {[string, string]} */ ([execution.task_id, await get(`/v1/tasks/${segment(execution.task_id)}`, signal).then((task) => task.status, () => "deleted")])),
    ),
  );
  const error = errorLine();
  const toggle = () =>
    error.run(async () => {
      await post(`${path}/${trigger.is_active ? "disable" : "enable"}`);
      notify(trigger.is_active ? "Disabled." : "Enabled.");
      await triggerPage(main, [id], signal);
    });
  replace(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, trigger.name),
      badge(trigger.is_active ? "active" : "disabled"),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: toggle }, trigger.is_active ? "Disable" : "Enable")),
    ),
    error.element,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Agent"),
      h("dd", {}, h("a", { href: `#/agents/${segment(trigger.agent_id)}` }, trigger.agent_id)),
      h("dt", {}, "Kind"),
      h("dd", {}, trigger.trigger_type),
      h("dt", {}, "Task"),
      h("dd", {}, trigger.task_description ?? "—"),
      trigger.consecutive_failures ? [h("dt", {}, "Failures in a row"), h("dd", {}, String(trigger.consecutive_failures))] : null,
    ),
    trigger.trigger_type === "cron" ? schedule(trigger) : null,
    trigger.trigger_type === "webhook" ? webhook(trigger) : null,
    h("h2", {}, "Recent executions"),
    table(
      "Recent executions",
      ["When", "Result", "Task", "How it ended", "Error"],
      recent,
      (execution) => [
        timeElement(execution.executed_at),
        badge(execution.status),
        execution.task_id ? h("a", { href: `#/tasks/${segment(execution.task_id)}` }, "Open task") : "—",
        execution.task_id ? badge(outcomes.get(execution.task_id) ?? "—") : "—",
        execution.error_message ?? "",
      ],
      "It has not fired yet.",
    ),
  );
}

/**
 * The cron schedule, and the next firing in the browser's time zone.
 * @param {any} trigger
 */
function schedule(trigger) {
  return [
    h("h2", {}, "Schedule"),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Cron"),
      h("dd", {}, h("code", {}, trigger.cron_expression ?? ""), ` in ${trigger.timezone ?? "UTC"}`),
      h("dt", {}, `Next firing (${localZone()})`),
      h("dd", {}, trigger.next_run_time ? [timeElement(trigger.next_run_time), ` (${relative(trigger.next_run_time)})`] : trigger.is_active ? "—" : "not while disabled"),
    ),
  ];
}

/**
 * The webhook address and how a sender signs a call.
 * @param {any} trigger
 */
function webhook(trigger) {
  const url = trigger.webhook_url ? new URL(trigger.webhook_url, location.origin).toString() : "";
  const example = [
    `body='{"text": "hello"}'`,
    "timestamp=$(date +%s)",
    `signature=sha256=$(printf '%s.%s' "$timestamp" "$body" | openssl dgst -sha256 -hmac "$WEBHOOK_KEY" -hex | sed 's/^.* //')`,
    `curl -X POST '${url}' -H 'Content-Type: application/json' \\`,
    `  -H "X-AgentArea-Timestamp: $timestamp" -H "X-AgentArea-Signature: $signature" -d "$body"`,
  ].join("\n");
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "URL"),
    h("dd", {}, h("code", {}, url)),
    h("dt", {}, "Methods"),
    h("dd", {}, (trigger.allowed_methods ?? []).join(", ")),
    h("dt", {}, "Sender"),
    h("dd", {}, trigger.webhook_type ?? "generic"),
  );
  // A named sender signs as it documents; the api says what to set where for it.
  if (trigger.webhook_type && trigger.webhook_type !== "generic") {
    return [h("h2", {}, "Webhook"), facts, h("p", {}, trigger.webhook_setup ?? "")];
  }
  return [
    h("h2", {}, "Webhook"),
    facts,
    h(
      "p",
      {},
      "Sign each call with the key shown when the trigger was created: ",
      h("code", {}, "X-AgentArea-Timestamp"),
      " is the Unix time in seconds, and ",
      h("code", {}, "X-AgentArea-Signature"),
      " is ",
      h("code", {}, "sha256="),
      " followed by the hex HMAC-SHA256 of the timestamp, a dot and the body.",
    ),
    code(example),
  ];
}
