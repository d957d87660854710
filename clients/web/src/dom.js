// A tiny element builder: text is always set as text (never parsed as HTML), so nothing a user
// typed (names, descriptions, job output) can inject markup or script.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else if (key === "style") el.style.cssText = value; // CSSOM: allowed by the CSP as is
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A paragraph for an error (role="alert": read out by screen readers), or nothing. */
export function errorBox(message) {
  return message ? h("p", { class: "error", role: "alert" }, message) : null;
}

/** Form fields' values by name. */
export function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

/** Run `action` on submit with the form disabled meanwhile; its error is shown in `status`. */
export function onSubmit(form, status, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(form); // before disabling: disabled fields are not in FormData
    const controls = [...form.elements];
    controls.forEach((control) => (control.disabled = true));
    fill(status);
    try {
      await action(values);
    } catch (error) {
      fill(status, errorBox(error.message));
    } finally {
      controls.forEach((control) => (control.disabled = false));
    }
  });
}

export function timeAgo(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}
