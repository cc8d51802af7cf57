// Building the page. Every string given here becomes a text node or an attribute value, never
// markup: task output, tool results and names come from models and other people, so nothing the
// console shows is ever parsed as HTML. There is deliberately no way to set innerHTML.

/** @typedef {string | number | Node | null | undefined | false} Child */
/** @typedef {Child | Child[]} Children */

/**
 * Properties of an element: `class`, `on<event>` handlers, booleans (`disabled`, `checked`,
 * `hidden`, ...) and any attribute as a string.
 * @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Props
 */

const BOOLEAN_PROPERTIES = new Set(["checked", "disabled", "hidden", "required", "selected", "open", "multiple", "readOnly"]);

/**
 * An element with `props` and `children`.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {...Children} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false && !BOOLEAN_PROPERTIES.has(key)) {
      continue;
    }
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (BOOLEAN_PROPERTIES.has(key)) {
      /** @type {any} */ (element)[key] = Boolean(value);
    } else if (key === "value" && "value" in element) {
      /** @type {any} */ (element).value = String(value);
    } else {
      element.setAttribute(key === "className" ? "class" : key, String(value));
    }
  }
  append(element, children);
  return element;
}

/**
 * Appends children (nested arrays flattened; null, undefined and false skipped).
 * @param {Element | DocumentFragment} parent
 * @param {Children[]} children
 */
export function append(parent, children) {
  for (const child of children.flat(2)) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.append(typeof child === "number" ? String(child) : child);
  }
}

/**
 * Replaces everything in `parent` with `children`.
 * @param {Element} parent
 * @param {...Children} children
 */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

/**
 * Runs `update`, which rebuilds parts of `container`, and gives the focus back to the control
 * that had it (the same kind of control with the same text), so a person working with the
 * keyboard keeps their place while the page follows the task.
 * @param {HTMLElement} container
 * @param {() => void} update
 */
export function keepingFocus(container, update) {
  const focused = document.activeElement;
  const had = focused instanceof HTMLElement && container.contains(focused) ? { tag: focused.tagName, text: focused.textContent } : null;
  update();
  if (had && !container.contains(focused)) {
    const again = [...container.querySelectorAll(had.tag)].find((element) => element.textContent === had.text);
    if (again instanceof HTMLElement) {
      again.focus();
    }
  }
}

/**
 * A `<pre>` of `value` as indented JSON (or as it is, when it is a string).
 * @param {unknown} value
 */
export function code(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return h("pre", { class: "code" }, text ?? "");
}

/**
 * A labelled form field.
 * @param {string} label
 * @param {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} control
 * @param {string} [hint]
 */
export function field(label, control, hint) {
  const id = control.id || `f-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  control.id = id;
  const hintElement = hint ? h("small", { id: `${id}-hint` }, hint) : null;
  if (hintElement) {
    control.setAttribute("aria-describedby", hintElement.id);
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintElement);
}

/**
 * A `<select>` of `options` ([value, label] pairs) with `selected` chosen.
 * @param {string} name
 * @param {[string, string][]} options
 * @param {string} [selected]
 */
export function select(name, options, selected) {
  return h(
    "select",
    { name },
    options.map(([value, label]) => h("option", { value, selected: value === selected }, label)),
  );
}

/**
 * A small coloured word for a status.
 * @param {string} text
 * @param {string} [tone] `ok`, `bad`, `wait` or `idle`; derived from the text when absent
 */
export function badge(text, tone) {
  return h("span", { class: `badge ${tone ?? toneOf(text)}` }, text);
}

/** @param {string} status */
function toneOf(status) {
  switch (status) {
    case "completed":
    case "Ready":
    case "Running":
    case "running":
    case "active":
    case "fired":
      return "ok";
    case "failed":
    case "Failed":
    case "Not ready":
    case "cancelled":
      return "bad";
    case "awaiting_approval":
    case "paused":
    case "Pending":
    case "pending":
    case "skipped":
      return "wait";
    default:
      return "idle";
  }
}

/**
 * A table with `headings` and one row per item.
 * @template T
 * @param {string} caption
 * @param {string[]} headings
 * @param {T[]} items
 * @param {(item: T) => Children[]} cells
 * @param {string} [empty] what to say when there are no items
 */
export function table(caption, headings, items, cells, empty = "None yet.") {
  if (items.length === 0) {
    return h("p", { class: "empty" }, empty);
  }
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headings.map((heading) => h("th", { scope: "col" }, heading)))),
      h("tbody", {}, items.map((item) => h("tr", {}, cells(item).map((cell) => h("td", {}, cell))))),
    ),
  );
}

/**
 * Asks a yes/no question in a modal dialog (focus stays inside it; Escape answers no).
 * @param {string} question
 * @param {string} confirmLabel
 * @returns {Promise<boolean>}
 */
export function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-label": question },
      h("p", {}, question),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "danger", onclick: () => close(true) }, confirmLabel),
        h("button", { type: "button", onclick: () => close(false) }, "Keep"),
      ),
    );
    /** @param {boolean} answer */
    function close(answer) {
      dialog.close();
      dialog.remove();
      resolve(answer);
    }
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * Shows `message` in the page's status line for a few seconds.
 * @param {string} message
 */
export function notify(message) {
  const notice = document.getElementById("notice");
  if (!notice) {
    return;
  }
  notice.textContent = message;
  window.setTimeout(() => {
    if (notice.textContent === message) {
      notice.textContent = "";
    }
  }, 5000);
}

/**
 * The submit handler of a form: runs `action` instead of the browser's submission, and shows
 * what went wrong on `error` when it fails.
 * @param {{run(action: () => Promise<void>): Promise<void>}} error
 * @param {() => Promise<void>} action
 * @returns {(event: Event) => Promise<void>}
 */
export function submitting(error, action) {
  return async (event) => {
    event.preventDefault();
    await error.run(action);
  };
}

/**
 * An element that shows the error of a failed action (`role="alert"`, so it is announced).
 */
export function errorLine() {
  const line = h("p", { class: "error", role: "alert", hidden: true });
  return {
    element: line,
    /** @param {unknown} error */
    show(error) {
      line.textContent = error instanceof Error ? error.message : String(error);
      line.hidden = false;
    },
    clear() {
      line.textContent = "";
      line.hidden = true;
    },
    /**
     * Runs an action of the page, showing here why it failed, if it does.
     * @param {() => Promise<void>} action
     */
    async run(action) {
      this.clear();
      try {
        await action();
      } catch (failed) {
        this.show(failed);
      }
    },
  };
}
