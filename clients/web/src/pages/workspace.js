// A workspace: its documents as tabs, a live editor per document (CodeMirror 6 + Yjs through
// @collab/client), its history, who is here, Run (a job streaming its output to everyone in the
// workspace) and the project's activity feed.

import { CollabClient, colorFor } from "@collab/client";
import { h, fill, errorBox, onSubmit } from "../dom.js";
import { get, post, patch } from "../api.js";
import { session } from "../session.js";
import { createEditor } from "../editor.js";
import { activityList } from "./activity.js";
import { historyPanel } from "./history.js";
import { jobPanel } from "./jobs.js";

const POLL_MS = 5000;

const SOCKET_ERRORS = {
  unauthorized: "Your session is no longer valid: please sign in again.",
  token_expired: "Your session expired: please sign in again.",
  too_many_connections: "You have too many connections open (tabs or devices): close some and reload.",
  not_found: "This workspace does not exist, or you are not a member of its project.",
  forbidden: "You are not allowed to open this workspace.",
  rate_limited: "Too many requests: wait a moment and reload.",
  unavailable: "The service is in maintenance: try again later.",
};

export function socketErrorMessage(error) {
  return SOCKET_ERRORS[error?.code] || `Could not connect to the live service: ${error?.message || error}`;
}

export async function workspacePage({ pid, wid, did }, outlet) {
  const base = `/projects/${pid}/workspaces/${wid}`;
  let project, workspace, documents;
  try {
    [project, workspace, documents] = await Promise.all([get(`/projects/${pid}`), get(base), get(`${base}/documents?limit=100`)]);
  } catch (error) {
    outlet.append(h("section", { class: "card" }, h("h1", {}, "Workspace"), errorBox(error.message), h("a", { href: `/projects/${pid}` }, "Back to the project")));
    return;
  }

  const page = new WorkspaceView({ project, workspace, documents, base });
  outlet.append(page.element);
  await page.start(did);
  return () => page.stop();
}

class WorkspaceView {
  constructor({ project, workspace, documents, base }) {
    Object.assign(this, { project, workspace, documents, base });
    this.role = project.role;
    this.docs = new Map(); // doc id -> provider document, opened once
    this.editor = null;
    this.activeId = null;
    this.timers = [];
    this.stopped = false;

    this.status = h("span", { class: "status connecting", "data-testid": "connection" }, "Connecting…");
    this.roleBadge = h("span", { class: "badge" });
    this.banner = h("div", { "data-testid": "banner" });
    this.tabs = h("ul", { class: "tabs", "data-testid": "documents" });
    this.docStatus = h("div");
    this.people = h("ul", { class: "people", "data-testid": "presence" });
    this.editorHost = h("div", { class: "editor", "data-testid": "editor" });
    this.docTitle = h("div", { class: "doc-title" });
    this.jobs = jobPanel({ workspaceId: workspace.id, text: () => this.activeText(), canRun: () => this.canEdit });
    this.activity = activityList(project.id);
    this.history = historyPanel({ base, projectId: project.id, canEdit: () => this.canEdit });
    this.newDoc = h(
      "form",
      { class: "inline small", "data-testid": "new-document" },
      h("input", { name: "name", placeholder: "new-file.py", required: true, maxlength: 100, "aria-label": "New document name" }),
      h("button", { type: "submit" }, "Add"),
    );
    onSubmit(this.newDoc, this.docStatus, async ({ name }) => {
      const doc = await post(`${this.base}/documents`, { name: name.trim() });
      this.newDoc.reset();
      this.documents.push(doc);
      this.renderTabs();
      await this.open(doc.id);
    });

    this.element = h(
      "div",
      { class: "workspace" },
      h(
        "nav",
        { class: "crumbs" },
        h("a", { href: "/projects" }, "Projects"), " / ",
        h("a", { href: `/projects/${project.id}` }, project.name), " / ",
        h("span", {}, workspace.name), " ", this.roleBadge, " ", this.status,
      ),
      this.banner,
      h(
        "div",
        { class: "ws-grid" },
        h("aside", { class: "side" }, h("h3", {}, "Documents"), this.tabs, this.newDoc, this.docStatus, h("h3", {}, "Here now"), this.people),
        h("section", { class: "center" }, this.docTitle, this.editorHost, this.history.element, this.jobs.element),
        h("aside", { class: "side" }, h("h3", {}, "Activity"), this.activity.element),
      ),
    );
    this.setRole(this.role);
  }

  get canEdit() {
    return this.role === "owner" || this.role === "collaborator";
  }

  setRole(role) {
    this.role = role;
    fill(this.roleBadge, role || "reader");
    this.roleBadge.className = `badge ${role || "none"}`;
    this.newDoc.hidden = !this.canEdit;
    this.editor?.setEditable(this.canEdit);
    this.jobs.refresh();
    if (this.activeId) this.history.show(this.activeId);
    this.renderTitle();
  }

  async start(did) {
    this.renderTabs();
    this.activity.refresh();
    this.jobs.loadLanguages();
    this.client = new CollabClient({ url: location.origin, getToken: () => session.token() });
    this.client.on("status", (state) => this.showStatus(state));
    try {
      await this.client.connect();
      this.ws = await this.client.joinWorkspace(this.workspace.id);
    } catch (error) {
      this.showStatus("failed");
      fill(this.banner, errorBox(socketErrorMessage(error)));
      return;
    }
    if (this.stopped) return;
    this.setRole(this.ws.role);
    this.ws.on("presence", () => this.renderPeople());
    this.ws.on("revoked", (event) => this.revoked(event));
    this.ws.on("role-changed", ({ role }) => this.setRole(role));
    this.ws.on("version", (event) => this.history.versionMade(event));
    // Job events reach this socket for our own jobs (anywhere) and for this workspace's: the
    // panel keeps this workspace's (it asks the API once about a job it does not know).
    this.client.on("job:status", (job) => this.jobs.status(job));
    this.client.on("job:output", (chunk) => this.jobs.output(chunk));
    this.renderPeople();
    this.jobs.showLatest();
    this.timers.push(setInterval(() => this.poll(), POLL_MS));
    const first = this.documents.find((doc) => doc.id === did) || this.documents[0];
    if (first) await this.open(first.id);
    else this.renderTitle();
  }

  showStatus(state) {
    if (this.revokedAlready) state = "closed"; // closed by us: nothing reconnects any more
    const words = { connected: "Live", connecting: "Reconnecting…", disconnected: "Offline: reconnecting…", failed: "Not connected", closed: "Not connected" };
    this.status.className = `status ${state}`;
    fill(this.status, words[state] || state);
  }

  async poll() {
    if (this.stopped || this.revokedAlready) return;
    this.activity.refresh();
    try {
      const documents = await get(`${this.base}/documents?limit=100`);
      const changed = JSON.stringify(documents.map((d) => [d.id, d.name])) !== JSON.stringify(this.documents.map((d) => [d.id, d.name]));
      if (changed) {
        this.documents = documents;
        this.renderTabs();
        this.renderTitle();
      }
    } catch (error) {
      if (error.status === 404) this.revoked({ reason: "access_removed" });
    }
  }

  renderTabs() {
    fill(
      this.tabs,
      this.documents.length
        ? this.documents.map((doc) =>
            h("li", {}, h("button", { type: "button", class: doc.id === this.activeId ? "tab active" : "tab", "data-doc-id": doc.id, onclick: () => this.open(doc.id) }, doc.name)),
          )
        : h("li", { class: "muted" }, this.canEdit ? "No documents: add one below." : "No documents yet."),
    );
  }

  renderTitle() {
    const doc = this.documents.find((d) => d.id === this.activeId);
    if (!doc) return fill(this.docTitle, h("span", { class: "muted" }, this.documents.length ? "Choose a document" : "No document open"));
    const rename = h("button", { type: "button", class: "link small", "data-testid": "rename", onclick: () => this.renameForm(doc) }, "Rename");
    const historyButton = h("button", { type: "button", class: "link small push", "data-testid": "history-toggle", onclick: () => this.history.toggle() }, "History");
    fill(this.docTitle, h("strong", { "data-testid": "doc-name" }, doc.name), this.canEdit ? rename : h("span", { class: "badge viewer" }, "read-only"), historyButton);
  }

  renameForm(doc) {
    const status = h("span");
    const form = h("form", { class: "inline small", "data-testid": "rename-form" }, h("input", { name: "name", value: doc.name, required: true, maxlength: 100, "aria-label": "Document name" }), h("button", { type: "submit" }, "Save"), h("button", { type: "button", class: "link", onclick: () => this.renderTitle() }, "Cancel"), status);
    onSubmit(form, status, async ({ name }) => {
      const renamed = await patch(`${this.base}/documents/${doc.id}`, { name: name.trim() });
      Object.assign(doc, renamed);
      this.renderTabs();
      this.renderTitle();
    });
    fill(this.docTitle, form);
    form.elements.name.select();
  }

  async open(docId) {
    if (!this.ws || this.revokedAlready) return;
    this.activeId = docId;
    this.renderTabs();
    this.renderTitle();
    history.replaceState(null, "", `${this.base}/documents/${docId}`);
    this.history.show(docId);
    this.editor?.destroy();
    this.editor = null;
    for (const other of this.docs.values()) other.awareness.setLocalStateField("cursor", null);
    fill(this.editorHost, h("p", { class: "muted pad" }, "Loading…"));
    // User Timing marks: how long a document takes from opening to its editor (bench/browser).
    performance.mark(`collab:open:${docId}`);
    let doc = this.docs.get(docId);
    if (!doc) {
      doc = this.ws.document(docId); // its awareness carries our name and colour (colorFor)
      this.docs.set(docId, doc);
    }
    try {
      await doc.whenSynced;
    } catch (error) {
      fill(this.editorHost, errorBox(`Could not load this document: ${socketErrorMessage(error)}`));
      return;
    }
    if (this.activeId !== docId || this.stopped) return;
    this.editorHost.replaceChildren();
    this.editor = createEditor(this.editorHost, doc, { editable: this.canEdit });
    performance.measure(`collab:ready:${docId}`, `collab:open:${docId}`);
  }

  activeText() {
    const doc = this.docs.get(this.activeId);
    return doc ? doc.ydoc.getText("content").toString() : null;
  }

  renderPeople() {
    const entries = [...this.ws.presence.values()];
    fill(
      this.people,
      entries.length
        ? entries.map((entry) => {
            const doc = this.documents.find((d) => d.id === entry.doc_id);
            const where = [entry.status && entry.status !== "active" ? entry.status : null, doc ? `in ${doc.name}` : null].filter(Boolean).join(" · ");
            return h(
              "li",
              { "data-user-id": entry.user_id },
              h("span", { class: "dot", style: `background:${colorFor(entry.user_id).color}` }),
              h("span", { class: "name" }, entry.username, entry.user_id === session.user.id ? h("span", { class: "muted" }, " (you)") : null),
              where ? h("span", { class: "where" }, where) : null,
            );
          })
        : h("li", { class: "muted" }, "Nobody"),
    );
  }

  revoked(event) {
    if (this.revokedAlready) return;
    this.revokedAlready = true;
    const deleted = event?.reason === "deleted";
    fill(
      this.banner,
      h("div", { class: "error big", role: "alert", "data-testid": "revoked" },
        deleted ? "This workspace was deleted." : "Your access to this workspace was removed.",
        " You no longer receive its updates. ", h("a", { href: "/projects" }, "Back to your projects")),
    );
    this.teardown();
    fill(this.editorHost);
    fill(this.people);
    this.element.classList.add("gone");
    this.showStatus("closed");
  }

  teardown() {
    this.timers.forEach(clearInterval);
    this.timers = [];
    this.editor?.destroy();
    this.editor = null;
    this.jobs.stop();
    const ws = this.ws;
    const client = this.client;
    this.ws = null;
    this.client = null;
    return (async () => {
      try {
        await ws?.leave();
      } catch {
        // already gone (revoked, or disconnected)
      }
      client?.close();
    })();
  }

  async stop() {
    this.stopped = true;
    await this.teardown();
  }
}
