// Joining a project through a share link: /join#<token> (README "Share links").
//
// The token rides in the fragment, which the browser never sends to a server (nor in a
// Referer). It is taken out of the address bar at once, so it stays out of the history and of
// screen shares, and kept in this tab's sessionStorage until the join is answered: a user who
// must sign in or register first comes back to /join and the join goes ahead.

import { h, fill, errorBox } from "../dom.js";
import { post } from "../api.js";
import { navigate } from "../router.js";
import { session } from "../session.js";

const PENDING_KEY = "collab.join_token";
const MESSAGES = {
  404: "This link is not valid.",
  410: "This link has expired or was revoked or used up.",
};

/** Called before anything else at start-up: keeps the token of /join#<token>, whatever
 *  page the app then shows (a session that cannot be restored sends it to /signin). */
export function keepJoinToken() {
  if (location.pathname !== "/join" || location.hash.length < 2) return;
  sessionStorage.setItem(PENDING_KEY, location.hash.slice(1));
  history.replaceState(null, "", "/join");
}

export async function joinPage(params, outlet) {
  keepJoinToken(); // a link opened in a tab where the app is already running
  const token = sessionStorage.getItem(PENDING_KEY);
  if (token && !session.user) return navigate("/signin?next=/join", { replace: true });
  const card = h("section", { class: "card narrow", "data-testid": "join" }, h("h1", {}, "Join a project"));
  outlet.append(card);
  if (!token) return card.append(errorBox(MESSAGES[404]));
  card.append(h("p", { class: "muted" }, "Joining…"));
  try {
    const membership = await post(`/links/${encodeURIComponent(token)}/join`);
    sessionStorage.removeItem(PENDING_KEY);
    navigate(`/projects/${membership.project_id}`, { replace: true });
  } catch (error) {
    const message = MESSAGES[error.status];
    // An unreachable server or a rate limit: the token is kept, a reload tries again.
    if (message) sessionStorage.removeItem(PENDING_KEY);
    fill(
      card,
      h("h1", {}, "Join a project"),
      errorBox(message || error.message),
      message ? h("p", { class: "muted" }, "Ask the project's owner for a new link.") : null,
      h("a", { href: "/projects" }, "Go to your projects"),
    );
  }
}

/** Whether a link's join waits for the user to sign in (however they reached the form: a
 *  session that could not be restored sends them to /signin without `next`). */
export function joinPending() {
  return Boolean(sessionStorage.getItem(PENDING_KEY));
}

/** For the sign-in and register pages: why the user was sent there. */
export function joinHint() {
  return joinPending()
    ? h("p", { class: "muted", "data-testid": "join-hint" }, "Sign in or register to join the project you were invited to.")
    : null;
}
