// The console's shell: routes (`#/agents/<id>`, ...) to pages, the sign-in hint when the API
// refuses the credentials, and the workspace name in the header.
//
// A page is `(main, params, signal) => Promise<void>`: it fills `main`, and stops its streams
// and timers when `signal` aborts, which happens when the person goes to another page.

import { get, setToken, token, UNAUTHENTICATED_EVENT, Unauthenticated } from "./api.js";
import { h, replace } from "./dom.js";
import { activityPage } from "./pages/activity.js";
import { agentFormPage, agentPage, agentsPage } from "./pages/agents.js";
import { loginPage } from "./pages/login.js";
import { mcpFormPage, mcpPage, mcpServersPage } from "./pages/mcp.js";
import { taskPage } from "./pages/task.js";
import { tasksPage } from "./pages/tasks.js";
import { triggerPage, triggersPage } from "./pages/triggers.js";

/** @typedef {(main: HTMLElement, params: string[], signal: AbortSignal, query: URLSearchParams) => Promise<void>} Page */

/** @type {[RegExp, Page][]} */
const ROUTES = [
  [/^\/agents$/, agentsPage],
  [/^\/agents\/new$/, agentFormPage],
  [/^\/agents\/([^/]+)\/edit$/, agentFormPage],
  [/^\/agents\/([^/]+)$/, agentPage],
  [/^\/tasks$/, tasksPage],
  [/^\/tasks\/([^/]+)$/, taskPage],
  [/^\/mcp$/, mcpServersPage],
  [/^\/mcp\/new$/, mcpFormPage],
  [/^\/mcp\/([^/]+)$/, mcpPage],
  [/^\/triggers$/, triggersPage],
  [/^\/triggers\/([^/]+)$/, triggerPage],
  [/^\/activity$/, activityPage],
];

/** @type {AbortController | null} */
let current = null;

function mainElement() {
  return /** @type {HTMLElement} */ (document.getElementById("main"));
}

/** Shows the page the address names. */
async function route() {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const [path, search] = (location.hash.replace(/^#/, "") || "/agents").split("?");
  const main = mainElement();
  markSection(path);
  const match = ROUTES.map(([pattern, page]) => /** @type {const} */ ([pattern.exec(path), page])).find(([m]) => m);
  if (!match) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, "No page has this address. "), h("a", { href: "#/agents" }, "Go to the agents"));
    return;
  }
  const [found, page] = match;
  const params = /** @type {RegExpExecArray} */ (found).slice(1).map(decodeURIComponent);
  replace(main, h("p", { class: "loading" }, "Loading…"));
  try {
    await page(main, params, controller.signal, new URLSearchParams(search ?? ""));
    // The heading of the new page gets the focus, so keyboard and screen reader users start there.
    if (!controller.signal.aborted && document.activeElement === document.body) {
      main.querySelector("h1")?.setAttribute("tabindex", "-1");
      main.querySelector("h1")?.focus();
    }
  } catch (error) {
    if (controller.signal.aborted || error instanceof Unauthenticated) {
      return;
    }
    replace(main, h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, error instanceof Error ? error.message : String(error)));
  }
}

/** @param {string} path */
function markSection(path) {
  const section = path.split("/")[1];
  for (const link of document.querySelectorAll("nav a[data-section]")) {
    if (link.getAttribute("data-section") === section) {
      link.setAttribute("aria-current", "page");
    } else {
      link.removeAttribute("aria-current");
    }
  }
}

/** The API refused the credentials: offer a way in, then come back to the same page. */
async function showLogin() {
  current?.abort();
  current = new AbortController();
  await loginPage(mainElement(), current.signal, () => {
    updateHeader();
    void route();
  });
}

/** The workspace name and the sign-out button, from who the API says we are. */
async function updateHeader() {
  const signOut = /** @type {HTMLButtonElement} */ (document.getElementById("sign-out"));
  signOut.hidden = !token();
  const workspace = document.getElementById("workspace");
  if (!workspace) {
    return;
  }
  try {
    const me = await get("/v1/me");
    workspace.textContent = `Workspace ${me.workspace} · ${me.subject}`;
  } catch {
    workspace.textContent = "";
  }
}

function start() {
  window.addEventListener("hashchange", () => void route());
  window.addEventListener(UNAUTHENTICATED_EVENT, () => void showLogin());
  document.getElementById("sign-out")?.addEventListener("click", () => {
    setToken(null);
    void updateHeader();
    void showLogin();
  });
  void updateHeader();
  void route();
}

start();
