// The collab web app: boot, the page frame and the routes.

import { h, fill } from "./dom.js";
import { route, navigate, start } from "./router.js";
import { session } from "./session.js";
import { signInPage, registerPage } from "./pages/auth.js";
import { projectsPage } from "./pages/projects.js";
import { projectPage } from "./pages/project.js";
import { workspacePage } from "./pages/workspace.js";
import { joinPage, keepJoinToken } from "./pages/join.js";

const account = h("div", { class: "account" });
const outlet = h("main", { id: "page" });

function renderAccount(user) {
  if (!user) return fill(account, h("a", { href: "/signin" }, "Sign in"));
  fill(
    account,
    h("span", { class: "who", "data-testid": "me" }, user.username),
    h("button", { class: "link", type: "button", onclick: async () => {
      await session.signOut();
      navigate("/signin");
    } }, "Sign out"),
  );
}

/** Pages behind sign-in: without a session, the sign-in page (and back here afterwards). */
function signedIn(render) {
  return (params, element) => {
    if (!session.user) {
      navigate(`/signin?next=${encodeURIComponent(location.pathname)}`, { replace: true });
      return null;
    }
    return render(params, element);
  };
}

route("/", () => navigate(session.user ? "/projects" : "/signin", { replace: true }));
route("/signin", signInPage);
route("/register", registerPage);
route("/projects", signedIn(projectsPage));
route("/projects/:pid", signedIn(projectPage));
route("/projects/:pid/workspaces/:wid", signedIn(workspacePage));
route("/projects/:pid/workspaces/:wid/documents/:did", signedIn(workspacePage));
route("/join", joinPage); // signs in first itself, keeping the link's token

session.onChange((user) => {
  renderAccount(user);
  // Signed out from elsewhere (session closed, refresh refused): back to the sign-in page.
  if (!user && !["/signin", "/register"].includes(location.pathname)) navigate("/signin");
});

document.body.replaceChildren(
  h("header", { class: "topbar" }, h("a", { class: "brand", href: "/" }, "collab"), account),
  outlet,
);
renderAccount(null);
keepJoinToken();
session.restore().finally(() => start(outlet));
