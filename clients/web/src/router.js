// Client-side routes (History API). The server answers these paths with index.html
// (collab/webapp/routes.py APP_ROUTES), so a reload or a shared link opens the same page.

const routes = [];
let cleanup = null;
let outlet = null;
let generation = 0;

/** `pattern` like "/projects/:pid"; `render(params, outlet)` may return a cleanup function. */
export function route(pattern, render) {
  const names = [];
  const source = pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  });
  routes.push({ regex: new RegExp(`^${source}/?$`), names, render });
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else if (path !== location.pathname + location.search) history.pushState(null, "", path);
  return show();
}

async function show() {
  if (cleanup) {
    const previous = cleanup;
    cleanup = null;
    try {
      await previous();
    } catch (error) {
      console.warn("leaving the page:", error);
    }
  }
  for (const { regex, names, render } of routes) {
    const match = regex.exec(location.pathname);
    if (!match) continue;
    const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
    const current = ++generation;
    outlet.replaceChildren();
    window.scrollTo(0, 0);
    const leave = await render(params, outlet);
    // A page that redirected (navigate() inside render) has been replaced meanwhile.
    if (current === generation) cleanup = leave || null;
    else if (typeof leave === "function") leave();
    return;
  }
  navigate("/", { replace: true });
}

export function start(element) {
  outlet = element;
  window.addEventListener("popstate", show);
  // Same-origin links are routed here instead of reloading the page.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (!link || link.origin !== location.origin || link.target || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    navigate(link.pathname + link.search);
  });
  return show();
}
