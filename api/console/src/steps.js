// One step of a task's run as the task page shows it: what happened, and the model's words,
// the tool's arguments and result, or the error, as text. Everything in a step may come from a
// model or a tool, so it is only ever shown as text (see dom.js).

import { code, h } from "./dom.js";
import { show, when } from "./format.js";

/** What each step type is called on the page. */
const TITLES = /** @type {Record<string, string>} */ ({
  WorkflowStarted: "Run started",
  WorkflowResumed: "Run resumed",
  WorkflowPaused: "Paused",
  WorkflowCompleted: "Run completed",
  WorkflowFailed: "Run failed",
  WorkflowCancelled: "Run cancelled",
  LLMCallStarted: "Model call",
  LLMCallCompleted: "Model answered",
  LLMCallFailed: "Model call failed",
  ToolCallStarted: "Tool call",
  ToolCallCompleted: "Tool result",
  ToolCallFailed: "Tool call failed",
  HumanApprovalRequested: "Approval requested",
  HumanApprovalReceived: "Approval decided",
  RunnerLost: "Runner lost",
  RunnerStopped: "Runner handed the task back",
});

/** The fields shown in their own block, in this order; the rest is under "Details". */
const SHOWN = [
  ["content", "Answer"],
  ["arguments", "Arguments"],
  ["result", "Result"],
  ["error", "Error"],
  ["reason", "Reason"],
];

/** Fields every event carries, not worth repeating on each step. */
const IDS = new Set(["task_id", "agent_id", "execution_id", "message"]);

/**
 * The list item of a step event (`event` is the SSE event's payload).
 * @param {string} type the step type
 * @param {string} seq the step's sequence number (its SSE id)
 * @param {{timestamp?: string, data?: Record<string, any>}} event
 */
export function stepItem(type, seq, event) {
  const data = event.data ?? {};
  const tone = type.endsWith("Failed") || type === "RunnerLost" ? "bad" : type.startsWith("HumanApproval") ? "wait" : "";
  const title = TITLES[type] ?? type;
  const subject = data.tool ?? data.model ?? null;
  const blocks = SHOWN.filter(([key]) => data[key] !== undefined && data[key] !== null && data[key] !== "").map(
    ([key, label]) => h("div", { class: "step-block" }, h("span", { class: "label" }, label), code(readable(data[key]))),
  );
  const details = Object.fromEntries(
    Object.entries(data).filter(([key]) => !IDS.has(key) && !SHOWN.some(([shown]) => shown === key)),
  );
  return h(
    "li",
    { class: `step ${tone}`, "data-seq": seq, "data-type": type },
    h(
      "div",
      { class: "step-head" },
      h("strong", {}, title),
      subject ? h("code", {}, String(subject)) : null,
      data.approved === true ? " approved" : data.approved === false ? " rejected" : null,
      h("time", { dateTime: event.timestamp ?? "" }, when(event.timestamp)),
    ),
    data.message ? h("p", { class: "step-message" }, String(data.message)) : null,
    blocks,
    Object.keys(details).length > 0 ? h("details", {}, h("summary", {}, "Details"), code(details)) : null,
  );
}

/**
 * Tool arguments arrive as a JSON string; shown indented when they parse.
 * @param {unknown} value
 */
function readable(value) {
  if (typeof value === "string" && /^\s*[[{]/.test(value)) {
    try {
      return show(JSON.parse(value));
    } catch {
      return value;
    }
  }
  return show(value);
}
