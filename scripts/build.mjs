// Builds the runnable JavaScript from the TypeScript sources with esbuild:
//   dist/cli.js            the `qr-login` command (bin/qr-login.js loads it)
// Dependencies stay external (they are installed in node_modules). Run by `npm install` (prepare),
// `npm start`, and jest's global setup.
import * as esbuild from "esbuild";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Node entry points: source → output (ESM). Entries whose source is missing are skipped. */
const nodeEntries = [
  ["main/cli.ts", "dist/cli.js"],
];

export async function build({ quiet = false } = {}) {
  const started = Date.now();
  const jobs = nodeEntries
    .filter(([src]) => existsSync(path.join(root, src)))
    .map(([src, out]) =>
      esbuild.build({
        absWorkingDir: root,
        entryPoints: [src],
        outfile: out,
        bundle: true,
        platform: "node",
        format: "esm",
        target: "node22",
        packages: "external",
        sourcemap: "linked",
        logLevel: quiet ? "error" : "warning",
      }),
    );
  await Promise.all(jobs);
  if (!quiet) console.log(`built ${jobs.length} entr${jobs.length === 1 ? "y" : "ies"} in ${Date.now() - started} ms`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await build();
}
