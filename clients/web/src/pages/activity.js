// The project's activity feed, newest first, in words ("ada created the document notes.md").

import { h, fill, errorBox, timeAgo } from "../dom.js";
import { get } from "../api.js";

const WORDS = {
  "project.created": (d) => `created the project ${d.name || ""}`,
  "project.updated": () => "edited the project",
  "project.transferred": () => "transferred the project",
  "workspace.created": () => "created a workspace",
  "workspace.updated": () => "edited a workspace",
  "workspace.deleted": () => "deleted a workspace",
  "member.added": (d, target) => `added ${target} as ${d.role || "member"}`,
  "member.role_changed": (d, target) => `made ${target} ${d.role || ""}`,
  "member.removed": (d, target) => `removed ${target}`,
  "member.left": () => "left the project",
  "member.joined": (d) => `joined through a link as ${d.role || "member"}`,
  "link.created": (d) => `made a share link for ${d.role === "collaborator" ? "collaborators" : "viewers"}`,
  "link.revoked": () => "revoked a share link",
  "document.created": (d) => `created ${d.name}`,
  "document.renamed": (d) => `renamed ${d.previous_name} to ${d.name}`,
  "document.deleted": (d) => `deleted ${d.name}`,
  "document.versioned": (d) => `saved the version “${d.version_name}” of ${d.name}`,
  "document.restored": (d) => `restored ${d.version_name ? `“${d.version_name}”` : "an earlier version"} of ${d.name}`,
  "job.submitted": (d) => `ran ${d.language || "code"}`,
  "job.cancelled": () => "cancelled a job",
};

export function activityList(projectId) {
  const element = h("ol", { class: "activity", "data-testid": "activity" });
  let names = new Map();

  async function loadNames() {
    const members = await get(`/projects/${projectId}/collaborators?limit=100`);
    names = new Map(members.map((m) => [m.user_id, m.username]));
  }

  return {
    element,
    async refresh() {
      try {
        const events = await get(`/projects/${projectId}/activity?limit=20`);
        const unknown = events.some((e) => (e.actor_id && !names.has(e.actor_id)) || (e.target_type === "user" && !names.has(e.target_id)));
        if (unknown) await loadNames().catch(() => {});
        const who = (id) => names.get(id) || "someone";
        fill(
          element,
          events.length
            ? events.map((event) => {
                const words = WORDS[event.action]?.(event.details || {}, who(event.target_id)) || event.action;
                return h("li", {}, h("strong", {}, event.actor_id ? who(event.actor_id) : "system"), ` ${words}`, h("div", { class: "meta" }, timeAgo(event.created_at)));
              })
            : h("li", { class: "muted" }, "Nothing yet."),
        );
      } catch (error) {
        fill(element, h("li", {}, errorBox(error.message)));
      }
    },
  };
}
