// The console's only way to the data: the `/v1` REST API, with the person's own credentials.
// A Kratos session cookie goes along by itself (same origin); a pasted bearer token is kept for
// this browser tab only (sessionStorage), so closing the tab forgets it.

const TOKEN_KEY = "agentarea.console.token";

/** An error answer of the API: its status and the `detail` it gave. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} detail
   */
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/** Raised by every call once the API says the caller is not authenticated. */
export class Unauthenticated extends ApiError {}

/** The event the page listens for to offer a way in. */
export const UNAUTHENTICATED_EVENT = "agentarea:unauthenticated";

/** Tells the page that the credentials are missing or no longer valid. */
export function announceUnauthenticated() {
  window.dispatchEvent(new CustomEvent(UNAUTHENTICATED_EVENT));
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** @param {string | null} value */
export function setToken(value) {
  if (value) {
    sessionStorage.setItem(TOKEN_KEY, value);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

/**
 * The headers of every call: the bearer token when one was given.
 * @param {Record<string, string>} [extra]
 * @returns {Record<string, string>}
 */
export function authHeaders(extra = {}) {
  const bearer = token();
  return bearer ? { ...extra, Authorization: `Bearer ${bearer}` } : extra;
}

/**
 * Calls the API and returns the parsed body and the response headers.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {AbortSignal} [signal]
 * @returns {Promise<{body: any, headers: Headers}>}
 */
export async function call(method, path, body, signal) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, {
    method,
    headers: authHeaders(headers),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  const text = await response.text();
  const parsed = text ? parseJson(text) : null;
  if (!response.ok) {
    const detail = parsed && typeof parsed.detail === "string" ? parsed.detail : `${response.status} ${response.statusText}`;
    if (response.status === 401) {
      announceUnauthenticated();
      throw new Unauthenticated(response.status, detail);
    }
    throw new ApiError(response.status, detail);
  }
  return { body: parsed, headers: response.headers };
}

/** @param {string} text */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * GET `path` and return its body.
 * @param {string} path
 * @param {AbortSignal} [signal]
 */
export async function get(path, signal) {
  return (await call("GET", path, undefined, signal)).body;
}

/**
 * POST `body` to `path` and return the answer.
 * @param {string} path
 * @param {unknown} [body]
 */
export async function post(path, body) {
  return (await call("POST", path, body)).body;
}

/**
 * PATCH `path` with `body` and return the answer.
 * @param {string} path
 * @param {unknown} body
 */
export async function patch(path, body) {
  return (await call("PATCH", path, body)).body;
}

/** @param {string} path */
export async function del(path) {
  return (await call("DELETE", path)).body;
}

/**
 * One page of a list and the cursor of the next (from `X-Next-Cursor`).
 * @param {string} path the list path, with any filters as a query string
 * @param {string | null} cursor
 * @param {AbortSignal} [signal]
 * @param {number} [limit]
 * @returns {Promise<{items: any[], next: string | null, total: number | null}>}
 */
export async function page(path, cursor, signal, limit = 50) {
  const url = new URL(path, location.origin);
  url.searchParams.set("limit", String(limit));
  if (cursor) {
    url.searchParams.set("cursor", cursor);
  }
  const { body, headers } = await call("GET", url.pathname + url.search, undefined, signal);
  const total = headers.get("X-Total-Count");
  return { items: body ?? [], next: headers.get("X-Next-Cursor"), total: total === null ? null : Number(total) };
}

/**
 * Every item of a list, following cursors (for pickers: the workspace's agents, servers, skills).
 * @param {string} path
 * @param {AbortSignal} [signal]
 * @returns {Promise<any[]>}
 */
export async function all(path, signal) {
  const items = [];
  let cursor = null;
  do {
    const result = await page(path, cursor, signal, 1000);
    items.push(...result.items);
    cursor = result.next;
  } while (cursor);
  return items;
}

/** @param {string} id */
export function segment(id) {
  return encodeURIComponent(id);
}

/**
 * Downloads `path` as a YAML manifest (the API's `Accept: application/yaml`), saved as `filename`.
 * @param {string} path
 * @param {string} filename
 */
export async function downloadManifest(path, filename) {
  const response = await fetch(path, {
    headers: authHeaders({ Accept: "application/yaml" }),
    credentials: "same-origin",
  });
  if (!response.ok) {
    if (response.status === 401) {
      announceUnauthenticated();
    }
    throw new ApiError(response.status, `${response.status} ${response.statusText}`);
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = filename;
  link.click();
  URL.revokeObjectURL(link.href);
}
