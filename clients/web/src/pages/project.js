// One project: its workspaces (open, create), its members (the owner invites, changes roles
// and removes) and, for the owner, its share links.

import { h, fill, errorBox, onSubmit } from "../dom.js";
import { get, post, patch, del } from "../api.js";
import { navigate } from "../router.js";
import { session } from "../session.js";
import { linksCard } from "./links.js";

const GRANTABLE = ["collaborator", "viewer"];

export async function projectPage({ pid }, outlet) {
  let project;
  try {
    project = await get(`/projects/${pid}`);
  } catch (error) {
    outlet.append(h("section", { class: "card" }, h("h1", {}, "Project"), errorBox(error.message), h("a", { href: "/projects" }, "Back to projects")));
    return;
  }
  const isOwner = project.role === "owner";
  const canEdit = isOwner || project.role === "collaborator";
  const members = h("div", { "data-testid": "members" });

  outlet.append(
    h("nav", { class: "crumbs" }, h("a", { href: "/projects" }, "Projects"), " / ", h("span", {}, project.name)),
    h(
      "section",
      { class: "card" },
      h("h1", {}, project.name, " ", h("span", { class: `badge ${project.role || "none"}` }, project.role || "reader")),
      project.description ? h("p", {}, project.description) : null,
    ),
    h("div", { class: "columns" }, workspacesCard(project, canEdit), h("section", { class: "card" }, h("h2", {}, "Members"), members)),
  );
  if (isOwner) {
    const links = linksCard(project.id);
    outlet.append(links.element);
    links.refresh();
  }
  await renderMembers(project, members, isOwner);
}

function workspacesCard(project, canEdit) {
  const status = h("div");
  const items = project.workspaces.map((ws) =>
    h("li", {}, h("a", { class: "title", href: `/projects/${project.id}/workspaces/${ws.id}` }, ws.name), ws.description ? h("span", { class: "muted" }, ` — ${ws.description}`) : null),
  );
  const form = h(
    "form",
    { class: "inline", "data-testid": "new-workspace" },
    h("input", { name: "name", placeholder: "Workspace name", required: true, maxlength: 100 }),
    h("button", { type: "submit" }, "Create workspace"),
  );
  onSubmit(form, status, async ({ name }) => {
    const ws = await post(`/projects/${project.id}/workspaces`, { name: name.trim() });
    navigate(`/projects/${project.id}/workspaces/${ws.id}`);
  });
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Workspaces"),
    h("ul", { class: "list", "data-testid": "workspaces" }, items.length ? items : h("li", { class: "muted" }, "No workspaces yet.")),
    canEdit ? [form, status] : null,
  );
}

async function renderMembers(project, element, isOwner) {
  let list;
  try {
    list = await get(`/projects/${project.id}/collaborators?limit=100`);
  } catch (error) {
    fill(element, errorBox(error.message));
    return;
  }
  const status = h("div");
  const refresh = () => renderMembers(project, element, isOwner);
  const act = async (action) => {
    fill(status);
    try {
      await action();
      await refresh();
    } catch (error) {
      fill(status, errorBox(error.message));
    }
  };
  const rows = list.map((member) => {
    const self = member.user_id === session.user?.id;
    let role = h("span", { class: `badge ${member.role}` }, member.role);
    if (isOwner && member.role !== "owner") {
      role = h("select", { "aria-label": `Role of ${member.username}`, onchange: (event) => act(() => patch(`/projects/${project.id}/collaborators/${member.user_id}`, { role: event.target.value })) }, GRANTABLE.map((name) => h("option", { value: name, selected: name === member.role }, name)));
    }
    const remove = isOwner && member.role !== "owner" ? removeButton(member, () => act(() => del(`/projects/${project.id}/collaborators/${member.user_id}`))) : null;
    return h("tr", { "data-username": member.username }, h("td", {}, member.username, self ? h("span", { class: "muted" }, " (you)") : null), h("td", { class: "muted" }, member.email || ""), h("td", {}, role), h("td", {}, remove));
  });
  const invite = h(
    "form",
    { class: "inline", "data-testid": "invite" },
    h("input", { name: "email", type: "email", placeholder: "Email of a registered user", required: true }),
    h("select", { name: "role", "aria-label": "Role" }, GRANTABLE.map((name) => h("option", { value: name }, name))),
    h("button", { type: "submit" }, "Invite"),
  );
  onSubmit(invite, status, async ({ email, role }) => {
    await post(`/projects/${project.id}/collaborators`, { email: email.trim(), role });
    await refresh();
  });
  fill(element, h("table", { class: "members" }, h("tbody", {}, rows)), isOwner ? invite : null, status);
}

/** Two clicks: "Remove", then "Confirm removal" (no modal dialog). */
function removeButton(member, remove) {
  const button = h("button", { class: "danger small", type: "button", "data-testid": `remove-${member.username}` }, "Remove");
  button.addEventListener("click", () => {
    if (button.dataset.armed) return remove();
    button.dataset.armed = "1";
    button.textContent = "Confirm removal";
    setTimeout(() => {
      delete button.dataset.armed;
      button.textContent = "Remove";
    }, 4000);
  });
  return button;
}
