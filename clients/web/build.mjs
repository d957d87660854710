// Builds the web app into collab/webapp/static (or the folder given as --outdir=DIR):
// app.js (one ES module, minified), app.css and index.html. Deterministic: the same sources and
// lockfile give the same bytes (tests/test_webapp.py rebuilds into a temporary folder and
// compares with the committed files).

import { build } from "esbuild";
import { copyFile, mkdir, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const outArg = process.argv.find((arg) => arg.startsWith("--outdir="));
const outdir = resolve(outArg ? outArg.slice("--outdir=".length) : join(here, "../../collab/webapp/static"));

// Every bare import resolves from clients/web/node_modules, whoever imports it: one copy of
// the libraries that hold state by identity (Yjs' types, lib0's encoders, CodeMirror's facets),
// and the versions this lockfile pins. @collab/client is a linked folder (file:../js) whose
// own node_modules, if a developer installed one there, is never used.
const provider = resolve(here, "../js");
const BARE = /^[^./]/;
const shared = {
  name: "shared-dependencies",
  setup(b) {
    b.onResolve({ filter: BARE }, (args) => {
      if (args.pluginData?.shared || !args.importer.startsWith(provider + "/")) return undefined;
      return b.resolve(args.path, { kind: args.kind, resolveDir: here, pluginData: { shared: true } });
    });
  },
};

await mkdir(outdir, { recursive: true });
await build({
  entryPoints: { app: join(here, "src/main.js") },
  outdir,
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  platform: "browser",
  legalComments: "eof",
  charset: "utf8",
  logLevel: "warning",
  plugins: [shared],
});
await build({ entryPoints: { app: join(here, "src/app.css") }, outdir, bundle: true, minify: true, logLevel: "warning" });
await copyFile(join(here, "index.html"), join(outdir, "index.html"));

const js = await readFile(join(outdir, "app.js"));
const css = (await stat(join(outdir, "app.css"))).size;
console.log(`built ${outdir}: app.js ${js.length} bytes (${gzipSync(js, { level: 9 }).length} gzip), app.css ${css} bytes`);
