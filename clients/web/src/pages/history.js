// A document's history under its editor: the versions newest first (named, automatic, the
// restores) with who wrote since the one before; compare one with the current text, restore
// it (a forward edit everyone's editor takes), name the current text. Kept live by the
// workspace's `version` events.

import { h, fill, errorBox, onSubmit, timeAgo } from "../dom.js";
import { get, post } from "../api.js";

const LIMIT = 50;

export function historyPanel({ base, projectId, canEdit }) {
  const list = h("ol", { class: "versions", "data-testid": "versions" });
  const status = h("div");
  const diff = h("div", { class: "diff-view", "data-testid": "diff" });
  const nameForm = h(
    "form",
    { class: "inline small", "data-testid": "name-version" },
    h("input", { name: "name", placeholder: "Name the current text, e.g. “before the refactor”", required: true, maxlength: 100, "aria-label": "Version name" }),
    h("button", { type: "submit" }, "Save version"),
  );
  const element = h("section", { class: "history", hidden: true, "data-testid": "history" }, h("h3", {}, "History"), nameForm, status, list, diff);
  let docId = null;
  let names = new Map();
  let versions = [];

  const url = (path = "") => `${base}/documents/${docId}/versions${path}`;

  onSubmit(nameForm, status, async ({ name }) => {
    await post(url(), { name: name.trim() });
    nameForm.reset();
    await refresh();
  });

  async function loadNames() {
    const members = await get(`/projects/${projectId}/collaborators?limit=100`);
    names = new Map(members.map((m) => [m.user_id, m.username]));
  }

  function who(ids) {
    if (!ids.length) return "no edits";
    return ids.map((id) => names.get(id) || "a former member").join(", ");
  }

  function title(version) {
    if (version.restored_from) {
      const from = versions.find((v) => v.id === version.restored_from);
      return `Restored ${from?.name ? `“${from.name}”` : "an earlier version"}`;
    }
    return version.name ? `“${version.name}”` : "Automatic";
  }

  function render() {
    fill(
      list,
      versions.length
        ? versions.map((version) =>
            h(
              "li",
              { "data-version-id": version.id },
              h("div", {}, h("strong", {}, title(version)), h("span", { class: "meta" }, `${timeAgo(version.created_at)} · seq ${version.seq} · ${version.size} bytes`)),
              h("div", { class: "muted small" }, `by ${who(version.authors)}`),
              h(
                "div",
                { class: "actions" },
                h("button", { type: "button", class: "link small", "data-testid": "compare", onclick: () => compare(version) }, "Compare with current"),
                canEdit() ? restoreButton(version) : null,
              ),
            ),
          )
        : h("li", { class: "muted" }, "No versions yet: one is saved after each pause in editing."),
    );
  }

  // Two clicks, so that a slip does not rewrite everyone's text (it could be undone by
  // restoring the version saved just before, but nobody should have to).
  function restoreButton(version) {
    const holder = h("span");
    const ask = () =>
      fill(
        holder,
        h("button", { type: "button", class: "danger small", "data-testid": "confirm-restore", onclick: () => restore(version) }, "Restore for everyone"),
        " ",
        h("button", { type: "button", class: "link small", onclick: () => fill(holder, first) }, "Cancel"),
      );
    const first = h("button", { type: "button", class: "link small", "data-testid": "restore", onclick: ask }, "Restore…");
    return fill(holder, first);
  }

  async function compare(version) {
    fill(diff, h("p", { class: "muted" }, "Comparing…"));
    try {
      const result = await get(url(`/${version.id}/diff?against=current`));
      fill(diff, h("div", { class: "diff-head" }, `${title(version)} → current text: +${result.added} −${result.removed} lines`, " ", h("button", { type: "button", class: "link small", onclick: () => fill(diff) }, "Close")), hunksView(result.hunks));
    } catch (error) {
      fill(diff, errorBox(error.message));
    }
  }

  async function restore(version) {
    fill(status);
    try {
      await post(url(`/${version.id}/restore`));
      fill(diff);
      await refresh();
    } catch (error) {
      fill(status, errorBox(error.message));
    }
  }

  async function refresh() {
    if (!docId || element.hidden) return;
    try {
      versions = await get(url(`?limit=${LIMIT}`));
      if (versions.some((v) => v.authors.some((id) => !names.has(id)))) await loadNames().catch(() => {});
      render();
    } catch (error) {
      fill(list, h("li", {}, errorBox(error.message)));
    }
  }

  return {
    element,
    get open() {
      return !element.hidden;
    },
    async toggle() {
      element.hidden = !element.hidden;
      await refresh();
    },
    async show(id) {
      if (id !== docId) fill(diff);
      docId = id;
      nameForm.hidden = !canEdit();
      await refresh();
    },
    /** A `version` event of the workspace: refresh if it is the shown document's. */
    versionMade(event) {
      if (event.docId === docId) refresh();
    },
    refresh,
  };
}

function hunksView(hunks) {
  if (!hunks.length) return h("p", { class: "muted" }, "No difference: the current text reads the same.");
  const mark = { equal: " ", delete: "-", insert: "+" };
  return h(
    "pre",
    { class: "diff" },
    hunks.map((hunk) => [
      h("span", { class: "hunk" }, `@@ -${hunk.old_start},${hunk.old_lines} +${hunk.new_start},${hunk.new_lines} @@\n`),
      hunk.lines.map((line) =>
        line.text.endsWith("\n")
          ? h("span", { class: line.op }, mark[line.op] + line.text)
          : h("span", { class: line.op }, mark[line.op] + line.text, h("em", { class: "eol" }, "  (no newline at the end)"), "\n"),
      ),
    ]),
  );
}
