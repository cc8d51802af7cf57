// Times and short texts as people read them: in the browser's own time zone and language.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** The browser's time zone, e.g. `Europe/Berlin`. */
export function localZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * `iso` in the browser's time zone, or a dash when absent or unreadable.
 * @param {string | null | undefined} iso
 */
export function when(iso) {
  if (!iso) {
    return "—";
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date);
}

/**
 * A `<time>` element showing `iso` locally, with the exact instant as its machine value.
 * @param {string | null | undefined} iso
 */
export function timeElement(iso) {
  const element = document.createElement("time");
  element.textContent = when(iso);
  if (iso) {
    element.dateTime = iso;
    element.title = iso;
  }
  return element;
}

/**
 * How long ago (or until) `iso` is from `now`, e.g. `3 min ago`, `in 2 h`.
 * @param {string | null | undefined} iso
 * @param {number} [now]
 */
export function relative(iso, now = Date.now()) {
  if (!iso) {
    return "";
  }
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  if (Number.isNaN(seconds)) {
    return "";
  }
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
  const magnitude = Math.abs(seconds);
  if (magnitude < 60) {
    return format.format(seconds, "second");
  }
  if (magnitude < 3600) {
    return format.format(Math.round(seconds / 60), "minute");
  }
  if (magnitude < 86400) {
    return format.format(Math.round(seconds / 3600), "hour");
  }
  return format.format(Math.round(seconds / 86400), "day");
}

/**
 * `text` cut to `length` characters, with an ellipsis when cut.
 * @param {string | null | undefined} text
 * @param {number} length
 */
export function clip(text, length) {
  if (!text) {
    return "";
  }
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/**
 * A value for display: JSON for objects, the text for strings.
 * @param {unknown} value
 */
export function show(value) {
  if (value === null || value === undefined) {
    return "";
  }
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/** The REST task statuses, as the API's `status` filter names them. */
export const TASK_STATUSES = ["pending", "running", "paused", "awaiting_approval", "completed", "failed", "cancelled"];

/** @param {string} status */
export function isFinished(status) {
  return status === "completed" || status === "failed" || status === "cancelled";
}
