// One task, live: its steps as they happen (the task's SSE stream), what it waits for, and the
// actions a person takes on it: cancel, pause/resume, approve or reject a waiting tool call.
//
// Steps are keyed by their sequence number (the SSE id). A reconnect continues after the last
// one received (`Last-Event-ID`, see sse.js) and a reload starts from the first, so each step is
// on the page exactly once.

import { get, post, segment } from "../api.js";
import { badge, code, confirmDialog, errorLine, h, keepingFocus, notify, replace } from "../dom.js";
import { isFinished, relative, show, timeElement } from "../format.js";
import { follow } from "../sse.js";
import { stepItem } from "../steps.js";

/** SSE events that close a task's stream. */
const FINAL_EVENTS = new Set(["task_completed", "task_failed", "task_cancelled", "error"]);

/**
 * @param {HTMLElement} main
 * @param {string[]} params
 * @param {AbortSignal} signal
 */
export async function taskPage(main, [id], signal) {
  const path = `/v1/tasks/${segment(id)}`;
  let task = await get(path, signal);
  const summary = h("div", {});
  const approvals = h("section", { "aria-labelledby": "approvals-heading" });
  const outcome = h("section", {});
  const connection = h("span", { class: "connection", role: "status" }, "Connecting…");
  const steps = h("ol", { class: "steps", "aria-label": "Steps" });
  const error = errorLine();
  /** @type {Set<string>} */
  const seen = new Set();

  /** The task as last shown, so a read that changed nothing leaves the page (and focus) alone. */
  let shown = "";
  const render = () => {
    const now = JSON.stringify(task);
    if (now === shown) {
      return;
    }
    shown = now;
    keepingFocus(main, () => {
      replace(summary, ...header(task, act));
      replace(approvals, ...pendingApprovals(task, decide));
      replace(outcome, ...result(task));
    });
  };

  /** @param {string} action `cancel`, `pause` or `resume` */
  async function act(action) {
    if (action === "cancel" && !(await confirmDialog("Cancel this task? A cancelled task does not continue.", "Cancel task"))) {
      return;
    }
    await error.run(async () => {
      await post(`${path}/${action}`);
      notify(`Task ${action === "cancel" ? "cancelled" : action === "pause" ? "pausing" : "resuming"}.`);
      await refresh();
    });
  }

  /**
   * @param {string} toolCallId
   * @param {boolean} approved
   * @param {string} reason
   */
  async function decide(toolCallId, approved, reason) {
    await error.run(async () => {
      await post(`${path}/approvals`, { tool_call_id: toolCallId, approved, reason: reason || null });
      notify(approved ? "Approved." : "Rejected.");
      await refresh();
    });
  }

  async function refresh() {
    task = await get(path, signal);
    render();
  }

  // The task body changes with its steps; several steps in a burst cause one read.
  /** @type {number | undefined} */
  let scheduled;
  const refreshSoon = () => {
    if (scheduled === undefined) {
      scheduled = window.setTimeout(() => {
        scheduled = undefined;
        if (!signal.aborted) void refresh().catch(() => {});
      }, 200);
    }
  };

  render();
  replace(
    main,
    summary,
    error.element,
    approvals,
    outcome,
    h("div", { class: "page-head" }, h("h2", {}, "Steps"), connection),
    steps,
  );

  void follow(
    `${path}/events`,
    {
      onEvent: (event) => {
        if (event.id !== null && !FINAL_EVENTS.has(event.name)) {
          if (seen.has(event.id)) {
            return;
          }
          seen.add(event.id);
          steps.append(stepItem(event.name, event.id, event.data ?? {}));
        }
        if (event.name !== "connected") {
          refreshSoon();
        }
      },
      onState: (state) => {
        connection.textContent = state === "open" ? "Live" : state === "reconnecting" ? "Reconnecting…" : "Ended";
      },
      onError: (failed) => error.show(failed),
    },
    signal,
    (event) => FINAL_EVENTS.has(event.name),
  );
}

/**
 * The title, facts and actions of a task.
 * @param {any} task
 * @param {(action: string) => void} act
 */
function header(task, act) {
  const finished = isFinished(task.status);
  const paused = task.paused || task.status === "paused";
  return [
    h("div", { class: "page-head" }, h("h1", {}, "Task"), badge(task.status.replace("_", " "), undefined)),
    h("p", { class: "task-description" }, task.description),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Agent"),
      h("dd", {}, h("a", { href: `#/agents/${segment(task.agent_id)}` }, task.agent_name)),
      h("dt", {}, "Started"),
      h("dd", {}, timeElement(task.started_at ?? task.created_at), task.created_by ? ` by ${task.created_by}` : null),
      task.completed_at ? [h("dt", {}, "Ended"), h("dd", {}, timeElement(task.completed_at))] : null,
      h("dt", {}, "Steps"),
      h("dd", {}, String(task.step_count)),
    ),
    finished
      ? null
      : h(
          "div",
          { class: "actions" },
          paused
            ? h("button", { type: "button", onclick: () => act("resume") }, "Resume")
            : h("button", { type: "button", onclick: () => act("pause") }, "Pause"),
          h("button", { type: "button", class: "danger", onclick: () => act("cancel") }, "Cancel task"),
        ),
  ];
}

/**
 * The tool calls waiting for a decision, each with approve and reject.
 * @param {any} task
 * @param {(toolCallId: string, approved: boolean, reason: string) => void} decide
 */
function pendingApprovals(task, decide) {
  /** @type {any[]} */
  const pending = task.pending_approvals ?? [];
  if (pending.length === 0) {
    return [];
  }
  return [
    h("h2", { id: "approvals-heading" }, "Waiting for your approval"),
    h(
      "ul",
      { class: "approvals" },
      pending.map((call) => {
        const reason = h("input", { name: "reason", "aria-label": `Reason for ${call.tool_name}`, placeholder: "Reason (optional)" });
        return h(
          "li",
          { class: "approval", "data-tool-call-id": call.tool_call_id },
          h("div", {}, h("strong", {}, "Call "), h("code", {}, call.tool_name), call.deadline ? h("small", {}, ` decide ${relative(call.deadline)}`) : null),
          call.reason ? h("p", { class: "hint" }, call.reason) : null,
          code(readableArguments(call.arguments)),
          h(
            "div",
            { class: "actions" },
            reason,
            h("button", { type: "button", onclick: () => decide(call.tool_call_id, true, reason.value) }, `Approve ${call.tool_name}`),
            h("button", { type: "button", class: "danger", onclick: () => decide(call.tool_call_id, false, reason.value) }, `Reject ${call.tool_name}`),
          ),
        );
      }),
    ),
  ];
}

/** @param {string} args */
function readableArguments(args) {
  try {
    return show(JSON.parse(args));
  } catch {
    return args;
  }
}

/**
 * The result of a finished task, or why it failed.
 * @param {any} task
 */
function result(task) {
  if (!isFinished(task.status)) {
    return [];
  }
  // `output` is the answer as the agent gave it (text, or a structured value).
  const answer = task.result ? task.result.output : null;
  return [
    h("h2", {}, task.status === "completed" ? "Result" : "Outcome"),
    task.reason || task.message ? h("p", { class: task.status === "completed" ? "" : "error" }, [task.reason, task.message].filter(Boolean).join(": ")) : null,
    answer !== null && answer !== undefined ? h("div", { class: "result" }, code(show(answer))) : null,
  ];
}
