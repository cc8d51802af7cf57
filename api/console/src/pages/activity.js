// The workspace's activity: `/v1/events` as a live feed, newest first. A reconnect continues
// after the last event received; when the server can no longer continue (it restarted, or the
// gap is too old) it says `resync`, and the feed says so rather than hiding the gap.

import { h, replace } from "../dom.js";
import { when } from "../format.js";
import { follow } from "../sse.js";

/** How many entries the feed keeps on the page. */
const KEPT = 200;

/** Where each kind of object is shown, by the prefix of its event names. */
const PAGES = /** @type {Record<string, string>} */ ({
  task: "tasks",
  agent: "agents",
  mcp_server_instance: "mcp",
  trigger: "triggers",
});

/**
 * @param {HTMLElement} main
 * @param {string[]} _params
 * @param {AbortSignal} signal
 */
export async function activityPage(main, _params, signal) {
  const feed = h("ol", { class: "feed", "aria-label": "Workspace events, newest first" });
  const connection = h("span", { class: "connection", role: "status" }, "Connecting…");
  replace(main, h("div", { class: "page-head" }, h("h1", {}, "Activity"), connection), feed);
  void follow(
    "/v1/events",
    {
      onEvent: (event) => {
        if (event.name === "connected") {
          return;
        }
        feed.prepend(entry(event.name, event.data));
        while (feed.children.length > KEPT) {
          feed.lastElementChild?.remove();
        }
      },
      onState: (state) => {
        connection.textContent = state === "open" ? "Live" : state === "reconnecting" ? "Reconnecting…" : "Ended";
      },
    },
    signal,
  );
}

/**
 * One event of the feed: when, what, and a link to the object.
 * @param {string} name e.g. `task_completed`
 * @param {any} data the object in its REST shape
 */
function entry(name, data) {
  if (name === "resync") {
    return h("li", { class: "resync" }, "Some events could not be delivered; reload the pages you are looking at.");
  }
  const prefix = Object.keys(PAGES).find((kind) => name.startsWith(`${kind}_`));
  const what = prefix ? name.slice(prefix.length + 1).replace(/_/g, " ") : name;
  const label = data?.name ?? data?.description ?? data?.id ?? "";
  const link = prefix && data?.id && !name.endsWith("_deleted") ? h("a", { href: `#/${PAGES[prefix]}/${encodeURIComponent(data.id)}` }, String(label)) : String(label);
  return h(
    "li",
    { "data-event": name },
    // When it arrived: the events are live, and objects carry no time of their last change.
    h("time", {}, when(new Date().toISOString())),
    " ",
    h("span", { class: "kind" }, prefix ? prefix.replace(/_/g, " ") : "event"),
    " ",
    link,
    " ",
    h("strong", {}, what),
    data?.status_message ? h("span", { class: "reason" }, ` ${data.status_message}`) : null,
  );
}
