// Run: the open document as a code-execution job in this workspace. Its status and output
// arrive over Socket.IO (job:status, job:output) to everyone in the workspace, so every member
// watches the same run; the finished job is read once over REST (the stored output is the truth,
// should an output event have been missed).

import { h, fill, errorBox } from "../dom.js";
import { get, post } from "../api.js";

const DONE = new Set(["completed", "cancelled", "failed"]);

export function jobPanel({ workspaceId, text, canRun }) {
  const select = h("select", { "aria-label": "Language", "data-testid": "language" }, h("option", {}, "Loading…"));
  const run = h("button", { type: "button", "data-testid": "run", disabled: true }, "Run ▶");
  const hint = h("span", { class: "muted small" });
  const header = h("div", { class: "job-head", "data-testid": "job-status" });
  const output = h("pre", { class: "output", "data-testid": "output" });
  const element = h("section", { class: "jobs" }, h("div", { class: "job-bar" }, select, run, hint), header, output);
  let languages = [];
  let current = null; // {id, status, chunks: Map seq -> {stream, chunk}}
  let stopped = false;
  const belongs = new Map(); // job id -> Promise<boolean>: is it a job of this workspace?

  /** Job events for this socket include our own jobs elsewhere: ask the API once per job. */
  function ofThisWorkspace(id) {
    if (!belongs.has(id)) {
      belongs.set(id, get(`/jobs/${id}`).then((job) => job.workspace_id === workspaceId, () => false));
    }
    return belongs.get(id);
  }

  function refresh() {
    const allowed = canRun();
    run.disabled = !allowed || !languages.length || current?.submitting;
    fill(hint, !allowed ? "Viewers cannot run code." : languages.length ? "" : "No code runner is available right now.");
  }

  async function loadLanguages() {
    try {
      languages = await get("/languages");
      fill(select, languages.length ? languages.map((lang) => h("option", { value: lang.name }, `${lang.name} (${lang.version})`)) : h("option", {}, "no runner"));
    } catch (error) {
      fill(select, h("option", {}, "unavailable"));
      fill(header, errorBox(error.message));
    }
    refresh();
  }

  function follow(id, status = "pending") {
    if (current?.id === id) return current;
    current = { id, status, chunks: new Map() };
    output.replaceChildren();
    showHeader();
    return current;
  }

  function showHeader(extra = "") {
    if (!current) return fill(header);
    const failed = current.outcome && current.outcome !== "success";
    header.className = `job-head ${current.status}${failed ? " unsuccessful" : ""}`;
    fill(header, `Job ${current.id.slice(0, 8)}: `, h("strong", { "data-testid": "job-state" }, current.outcome ? `${current.status} (${current.outcome.replaceAll("_", " ")})` : current.status), extra);
  }

  function renderOutput() {
    const seqs = [...current.chunks.keys()].sort((a, b) => a - b);
    output.replaceChildren(...seqs.map((seq) => {
      const { stream, chunk } = current.chunks.get(seq);
      return h("span", { class: stream === "stderr" ? "stderr" : "" }, chunk);
    }));
    output.scrollTop = output.scrollHeight;
  }

  async function reconcile(id) {
    try {
      const job = await get(`/jobs/${id}`);
      if (stopped || current?.id !== id) return;
      Object.assign(current, { status: job.status, outcome: job.outcome });
      if (current.chunks.size < (job.output_seq || 0) || (!current.chunks.size && (job.output || job.stderr))) {
        current.chunks = new Map([[1, { stream: "stdout", chunk: job.output || "" }], [2, { stream: "stderr", chunk: job.stderr || "" }]]);
        renderOutput();
      }
      const time = job.execution_time != null ? ` · ${Math.round(job.execution_time * 1000)} ms` : "";
      const exit = job.exit_code != null ? ` · exit ${job.exit_code}` : "";
      showHeader(`${exit}${time}${job.message ? ` · ${job.message}` : ""}`);
    } catch (error) {
      showHeader(` · ${error.message}`);
    }
  }

  run.addEventListener("click", async () => {
    const code = text();
    if (code === null) return fill(header, errorBox("Open a document to run it."));
    run.disabled = true;
    try {
      const job = await post("/jobs", { language: select.value, code, workspace_id: workspaceId });
      belongs.set(job.id, Promise.resolve(true));
      follow(job.id, job.status);
      showHeader();
    } catch (error) {
      current = null;
      output.replaceChildren();
      fill(header, errorBox(error.message));
    } finally {
      refresh();
    }
  });

  return {
    element,
    refresh,
    loadLanguages,
    /** The workspace's latest job, if any, as the panel's first content. */
    async showLatest() {
      try {
        const [latest] = await get(`/jobs?workspace_id=${workspaceId}&limit=1`);
        if (latest && !current) {
          belongs.set(latest.id, Promise.resolve(true));
          follow(latest.id, latest.status);
          await reconcile(latest.id);
        }
      } catch {
        // the panel stays empty; Run still works
      }
    },
    async status({ job_id, status, outcome }) {
      if (!(await ofThisWorkspace(job_id)) || stopped) return;
      const job = follow(job_id, status);
      // Pending again: its worker was lost and the job runs anew (at least once); the first
      // run's output is not its output.
      if (status === "pending" && job.status !== "pending") {
        job.chunks = new Map();
        renderOutput();
      }
      Object.assign(job, { status, outcome });
      showHeader();
      if (DONE.has(status)) reconcile(job_id);
    },
    async output({ job_id, seq, stream, chunk }) {
      if (!(await ofThisWorkspace(job_id)) || stopped) return;
      const job = follow(job_id, "running");
      job.chunks.set(seq, { stream, chunk });
      renderOutput();
    },
    stop() {
      stopped = true;
    },
  };
}
