// Building the page. Every element is made with createElement and every piece of data goes in
// as a text node or a property: no markup is ever parsed from what the API returns, so a food
// named `<img onerror=...>` shows as those characters. (The CSP forbids inline script as well.)

/** An element: `props` are properties or attributes (`on…` functions are listeners). */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      element.className = value;
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (key in element && typeof value !== "string") {
      element[key] = value; // value, checked, disabled, selected as properties
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `parent` shows. */
export function show(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

/** A labelled input: the label names it for screen readers and takes clicks. */
let fields = 0;
export function field(label, props = {}) {
  const id = props.id ?? `field-${++fields}`;
  const input = props.options
    ? h("select", { ...props, id, options: undefined },
        props.options.map(([value, text]) => h("option", { value, selected: String(value) === String(props.value) }, text)))
    : h("input", { ...props, id });
  return { input, element: h("label", { for: id, class: "field" }, h("span", null, label), input) };
}

/** A message area that reads out what it is given (errors, confirmations). */
export function notice() {
  const element = h("p", { class: "notice", role: "status", "aria-live": "polite" });
  return {
    element,
    ok(text) { element.className = "notice ok"; element.textContent = text; },
    fail(error) {
      element.className = "notice error";
      element.textContent = error.code ? `${error.message} (${error.code})` : String(error.message ?? error);
    },
    clear() { element.className = "notice"; element.textContent = ""; },
  };
}

/** A button that runs `action`, disabled while it runs, reporting a failure to `report`. */
export function button(text, action, report, props = {}) {
  const element = h("button", { type: "button", ...props }, text);
  element.addEventListener("click", async () => {
    element.disabled = true;
    try {
      report?.clear();
      await action();
    } catch (error) {
      if (report) report.fail(error); else throw error;
    } finally {
      element.disabled = false;
    }
  });
  return element;
}
