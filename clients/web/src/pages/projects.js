// Your projects: the list and a form to create one.

import { h, fill, errorBox, onSubmit, timeAgo } from "../dom.js";
import { get, post } from "../api.js";
import { navigate } from "../router.js";

export async function projectsPage(params, outlet) {
  const list = h("ul", { class: "list", "data-testid": "projects" }, h("li", { class: "muted" }, "Loading…"));
  const status = h("div");
  const form = h(
    "form",
    { class: "inline", "data-testid": "new-project" },
    h("input", { name: "name", placeholder: "Project name", required: true, maxlength: 100 }),
    h("input", { name: "description", placeholder: "Description (optional)", maxlength: 1000 }),
    h("button", { type: "submit" }, "Create project"),
  );
  onSubmit(form, status, async ({ name, description }) => {
    const project = await post("/projects", { name: name.trim(), description: description.trim() });
    navigate(`/projects/${project.id}`);
  });
  outlet.append(
    h("section", { class: "card" }, h("h1", {}, "Projects"), list),
    h("section", { class: "card" }, h("h2", {}, "New project"), form, status),
  );
  try {
    const projects = await get("/projects?limit=100");
    fill(
      list,
      projects.length
        ? projects.map((project) =>
            h(
              "li",
              {},
              h("a", { href: `/projects/${project.id}`, class: "title" }, project.name),
              project.description ? h("span", { class: "muted" }, ` — ${project.description}`) : null,
              h("span", { class: "meta" }, `updated ${timeAgo(project.updated_at)}`),
            ),
          )
        : h("li", { class: "muted" }, "No projects yet: create the first one below."),
    );
  } catch (error) {
    fill(list, h("li", {}, errorBox(error.message)));
  }
}
