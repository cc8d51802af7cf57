// The way in when the API refuses the request: the sign-in page the operators configured (a
// Kratos login, whose session cookie the API then accepts), or a bearer token pasted here.

import { authHeaders, setToken } from "../api.js";
import { errorLine, field, h, replace } from "../dom.js";

/**
 * @param {HTMLElement} main
 * @param {AbortSignal} signal
 * @param {() => void} signedIn called once the API accepts the credentials
 */
export async function loginPage(main, signal, signedIn) {
  /** @type {{login_url?: string | null}} */
  const settings = await fetch("/console/settings.json", { signal })
    .then((r) => r.json())
    .catch(() => ({}));
  const input = h("textarea", { name: "token", rows: 3, autocomplete: "off", spellcheck: "false", required: true });
  const error = errorLine();
  const form = h(
    "form",
    {
      class: "stack",
      onsubmit: async (event) => {
        event.preventDefault();
        error.clear();
        setToken(input.value.trim());
        // Checked here rather than through api.js, whose refusals would show this page again
        // and lose the reason.
        const response = await fetch("/v1/me", { headers: authHeaders({ Accept: "application/json" }) });
        if (response.ok) {
          signedIn();
          return;
        }
        setToken(null);
        const body = await response.json().catch(() => null);
        error.show(body?.detail ?? `${response.status} ${response.statusText}`);
      },
    },
    field("Bearer token", input, "A JWT for your workspace; kept in this tab only."),
    h("button", { type: "submit" }, "Use this token"),
    error.element,
  );
  replace(
    main,
    h("h1", {}, "Sign in"),
    h("p", {}, "The API did not accept this browser's credentials."),
    settings.login_url ? h("p", {}, h("a", { class: "button", href: loginLink(settings.login_url) }, "Sign in with your account")) : null,
    h("h2", {}, settings.login_url ? "Or use a token" : "Use a token"),
    form,
  );
  input.focus();
}

/**
 * The sign-in address, asked to come back here afterwards.
 * @param {string} loginUrl
 */
function loginLink(loginUrl) {
  const url = new URL(loginUrl, location.origin);
  url.searchParams.set("return_to", location.href);
  return url.toString();
}
