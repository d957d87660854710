// Sign in and register.

import { h, errorBox, onSubmit } from "../dom.js";
import { navigate } from "../router.js";
import { session } from "../session.js";
import { joinHint, joinPending } from "./join.js";

function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "";
  // Only a path of this app: never an absolute URL (an open redirect).
  if (next.startsWith("/") && !next.startsWith("//")) return next;
  return joinPending() ? "/join" : "/projects";
}

function field(label, name, type = "text", extra = {}) {
  return h("label", {}, label, h("input", { name, type, required: true, ...extra }));
}

export function signInPage(params, outlet) {
  if (session.user) return navigate(nextPath(), { replace: true });
  const status = h("div", {}, errorBox(session.takeNotice()));
  const form = h(
    "form",
    { class: "card narrow", "data-testid": "signin-form" },
    h("h1", {}, "Sign in"),
    joinHint(),
    field("Email", "email", "email", { autocomplete: "email" }),
    field("Password", "password", "password", { autocomplete: "current-password" }),
    status,
    h("button", { type: "submit" }, "Sign in"),
    h("p", { class: "muted" }, "No account yet? ", h("a", { href: `/register${location.search}` }, "Register")),
  );
  onSubmit(form, status, async ({ email, password }) => {
    await session.signIn(email.trim(), password);
    navigate(nextPath());
  });
  outlet.append(form);
  form.elements.email.focus();
}

export function registerPage(params, outlet) {
  if (session.user) return navigate(nextPath(), { replace: true });
  const status = h("div");
  const form = h(
    "form",
    { class: "card narrow", "data-testid": "register-form" },
    h("h1", {}, "Create your account"),
    joinHint(),
    field("Email", "email", "email", { autocomplete: "email" }),
    field("Username", "username", "text", { autocomplete: "username", minlength: 3, maxlength: 32, pattern: "[A-Za-z0-9_.\\-]{3,32}", title: "3 to 32 letters, digits, '_', '.' or '-'" }),
    field("Password", "password", "password", { autocomplete: "new-password", minlength: 8 }),
    status,
    h("button", { type: "submit" }, "Register"),
    h("p", { class: "muted" }, "Already registered? ", h("a", { href: `/signin${location.search}` }, "Sign in")),
  );
  onSubmit(form, status, async ({ email, username, password }) => {
    await session.register({ email: email.trim(), username: username.trim(), password });
    navigate(nextPath());
  });
  outlet.append(form);
  form.elements.email.focus();
}
