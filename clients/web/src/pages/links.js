// The owner's share links on a project page: make one (a role, an expiry, a number of uses),
// see its address once to copy it, follow each link's status, revoke it.

import { h, fill, errorBox, onSubmit, timeAgo } from "../dom.js";
import { get, post, del } from "../api.js";

const EXPIRIES = [
  ["", "never expires"],
  ["3600", "expires in 1 hour"],
  ["86400", "expires in 1 day"],
  ["604800", "expires in 7 days"],
];
const USES = [
  ["", "any number of uses"],
  ["1", "1 use"],
  ["5", "5 uses"],
  ["25", "25 uses"],
];

export function linksCard(projectId) {
  const list = h("ul", { class: "list", "data-testid": "links" });
  const status = h("div");
  const made = h("div", { "data-testid": "new-link" });
  let shown = null; // the id of the link whose address `made` shows
  const form = h(
    "form",
    { class: "inline", "data-testid": "make-link" },
    h("select", { name: "role", "aria-label": "Role" }, h("option", { value: "viewer" }, "viewer"), h("option", { value: "collaborator" }, "collaborator")),
    h("select", { name: "expires_in", "aria-label": "Expiry" }, EXPIRIES.map(([value, label]) => h("option", { value }, label))),
    h("select", { name: "max_uses", "aria-label": "Uses" }, USES.map(([value, label]) => h("option", { value }, label))),
    h("button", { type: "submit" }, "Make a link"),
  );
  onSubmit(form, status, async ({ role, expires_in, max_uses }) => {
    const body = { role };
    if (expires_in) body.expires_in = Number(expires_in);
    if (max_uses) body.max_uses = Number(max_uses);
    const link = await post(`/projects/${projectId}/links`, body);
    showOnce(link);
    await refresh();
  });

  // The address holds the token: the server keeps only its hash, so it is shown this once.
  function showOnce(link) {
    shown = link.id;
    const field = h("input", { value: link.url, readonly: true, "aria-label": "Share link", "data-testid": "link-url" });
    const copy = h("button", { type: "button", class: "small" }, "Copy");
    copy.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(link.url);
        copy.textContent = "Copied";
      } catch {
        copy.textContent = "Select and copy it";
      }
    });
    fill(made, h("p", { class: "muted small" }, `Anyone signed in who opens this joins as ${link.role}. It is shown only now:`), h("div", { class: "inline copy" }, field, copy));
  }

  async function refresh() {
    try {
      const links = await get(`/projects/${projectId}/links?limit=100`);
      fill(list, links.length ? links.map(row) : h("li", { class: "muted" }, "No links yet."));
    } catch (error) {
      fill(list, h("li", {}, errorBox(error.message)));
    }
  }

  function row(link) {
    const uses = link.max_uses ? `${link.uses} of ${link.max_uses} uses` : `${link.uses} uses`;
    const expiry = link.expires_at ? ` · expires ${new Date(link.expires_at).toLocaleString()}` : "";
    const revoke = h("button", { type: "button", class: "link small", "data-testid": "revoke-link" }, "Revoke");
    revoke.addEventListener("click", async () => {
      fill(status);
      try {
        await del(`/projects/${projectId}/links/${link.id}`);
        if (shown === link.id) fill(made); // a revoked address is nothing to copy any more
        await refresh();
      } catch (error) {
        fill(status, errorBox(error.message));
      }
    });
    return h(
      "li",
      { "data-link-id": link.id, "data-status": link.status },
      h("span", { class: `badge ${link.role}` }, link.role), " ",
      h("span", { class: `link-status ${link.status}` }, link.status.replace("_", " ")),
      h("span", { class: "meta" }, `${uses}${expiry} · made ${timeAgo(link.created_at)}`),
      link.status === "active" ? [" ", revoke] : null,
    );
  }

  const element = h("section", { class: "card" }, h("h2", {}, "Share links"), form, made, status, list);
  return { element, refresh };
}
