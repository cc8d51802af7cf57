// Server-Sent Events read over fetch rather than EventSource: EventSource cannot send the bearer
// token. Like EventSource, a dropped stream is opened again with `Last-Event-ID`, so the server
// continues after the last event this page received: nothing is lost and nothing repeats.

import { announceUnauthenticated, authHeaders, Unauthenticated } from "./api.js";

/**
 * One event: the SSE `event:` name, the `data` of its JSON body, and its `id:` (if any).
 * @typedef {{name: string, id: string | null, data: any}} StreamEvent
 */

/**
 * What a stream tells its reader besides events.
 * @typedef {object} StreamHandlers
 * @property {(event: StreamEvent) => void} onEvent
 * @property {(state: "open" | "reconnecting" | "closed") => void} [onState]
 * @property {(error: Error) => void} [onError] a refusal that reconnecting cannot fix (401, 404)
 */

const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 10_000;

/**
 * Follows the stream at `path` until `signal` aborts or the server ends it after a final event.
 * @param {string} path
 * @param {StreamHandlers} handlers
 * @param {AbortSignal} signal
 * @param {(event: StreamEvent) => boolean} [isLast] an event after which the stream is complete
 */
export async function follow(path, handlers, signal, isLast = () => false) {
  /** @type {string | null} */
  let lastId = null;
  let retry = FIRST_RETRY_MS;
  let finished = false;
  while (!signal.aborted && !finished) {
    try {
      /** @type {Record<string, string>} */
      const headers = { Accept: "text/event-stream" };
      if (lastId !== null) {
        headers["Last-Event-ID"] = lastId;
      }
      const response = await fetch(path, { headers: authHeaders(headers), credentials: "same-origin", signal });
      if (response.status === 401) {
        announceUnauthenticated();
        throw new Unauthenticated(401, "Not authenticated");
      }
      if (!response.ok || !response.body) {
        const body = await response.json().catch(() => null);
        const error = new Error(body?.detail ?? `${response.status} ${response.statusText}`);
        handlers.onError?.(error);
        return;
      }
      handlers.onState?.("open");
      retry = FIRST_RETRY_MS;
      for await (const event of events(response.body)) {
        if (event.id !== null) {
          lastId = event.id;
        }
        handlers.onEvent(event);
        if (isLast(event)) {
          finished = true;
          break;
        }
      }
    } catch (error) {
      if (signal.aborted) {
        break;
      }
      if (error instanceof Unauthenticated) {
        handlers.onError?.(error);
        return;
      }
    }
    if (!signal.aborted && !finished) {
      handlers.onState?.("reconnecting");
      await sleep(retry, signal);
      retry = Math.min(retry * 2, LONGEST_RETRY_MS);
    }
  }
  handlers.onState?.("closed");
}

/**
 * The events of an SSE body, parsed as the SSE format says: fields up to a blank line, comment
 * lines (the server's keep-alives) ignored.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<StreamEvent>}
 */
async function* events(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  /** @type {{name: string, id: string | null, data: string[]}} */
  let pending = { name: "message", id: null, data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        return;
      }
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (pending.data.length > 0) {
            yield { name: pending.name, id: pending.id, data: unwrap(pending.data.join("\n")) };
          }
          pending = { name: "message", id: null, data: [] };
          continue;
        }
        if (line.startsWith(":")) {
          continue;
        }
        const colon = line.indexOf(":");
        const fieldName = colon < 0 ? line : line.slice(0, colon);
        const fieldValue = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (fieldName === "event") {
          pending.name = fieldValue;
        } else if (fieldName === "data") {
          pending.data.push(fieldValue);
        } else if (fieldName === "id") {
          pending.id = fieldValue;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * The payload of an AgentArea event: its body is `{"event": name, "data": payload}`.
 * @param {string} text
 */
function unwrap(text) {
  try {
    const body = JSON.parse(text);
    return body && typeof body === "object" && "data" in body ? body.data : body;
  } catch {
    return text;
  }
}

/**
 * @param {number} ms
 * @param {AbortSignal} signal
 * @returns {Promise<void>}
 */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = window.setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      window.clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
