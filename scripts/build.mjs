// Builds the runnable JavaScript from the TypeScript sources with esbuild:
//   dist/cli.js            the `qr-login` command (bin/qr-login.js loads it)
//   dist/main/index.js     Electron main process (ESM; package.json "main")
//   dist/preload/index.cjs Electron preload (CJS: sandboxed preloads can only require("electron"))
//   dist/renderer/         the UI: renderer.js (browser IIFE, qrcode + jsqr bundled), index.html, styles.css
// Dependencies stay external (they are installed in node_modules). Run by `npm install` (prepare),
// `npm start`, and jest's global setup.
import * as esbuild from "esbuild";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Node entry points: source → output (ESM). Entries whose source is missing are skipped. */
const nodeEntries = [
  ["main/cli/cli.ts", "dist/cli.js"],
];

/**
 * Electron main: bundled like the CLI, but a failure only warns. Nothing under test loads this bundle
 * (the Electron binary is not available on CI), so a protocol module still being written must not
 * break the CLI build that every test's global setup runs; `tsc` still checks main/app/index.ts.
 */
const electronMain = ["main/app/index.ts", "dist/main/index.js"];

/** Electron preload and renderer: everything bundled (neither may load node_modules at run time). */
const electronEntries = [
  { src: "preload/index.ts", out: "dist/preload/index.cjs", platform: "node", format: "cjs", target: "node22", external: ["electron"] },
  { src: "renderer/main.ts", out: "dist/renderer/renderer.js", platform: "browser", format: "iife", target: "chrome130", external: [] },
];
const rendererStatic = ["renderer/index.html", "renderer/styles.css"];

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
  if (existsSync(path.join(root, electronMain[0]))) {
    jobs.push(
      esbuild
        .build({
          absWorkingDir: root,
          entryPoints: [electronMain[0]],
          outfile: electronMain[1],
          bundle: true,
          platform: "node",
          format: "esm",
          target: "node22",
          packages: "external",
          sourcemap: "linked",
          logLevel: "silent",
        })
        .catch((err) => {
          if (!quiet) console.warn(`warning: Electron main not built: ${err.errors?.[0]?.text ?? err.message}`);
        }),
    );
  }
  for (const e of electronEntries.filter((x) => existsSync(path.join(root, x.src)))) {
    jobs.push(
      esbuild.build({
        absWorkingDir: root,
        entryPoints: [e.src],
        outfile: e.out,
        bundle: true,
        platform: e.platform,
        format: e.format,
        target: e.target,
        external: e.external,
        sourcemap: "linked",
        logLevel: quiet ? "error" : "warning",
      }),
    );
  }
  mkdirSync(path.join(root, "dist/renderer"), { recursive: true });
  for (const f of rendererStatic.filter((x) => existsSync(path.join(root, x)))) {
    copyFileSync(path.join(root, f), path.join(root, "dist/renderer", path.basename(f)));
  }
  await Promise.all(jobs);
  if (!quiet) console.log(`built ${jobs.length} entr${jobs.length === 1 ? "y" : "ies"} in ${Date.now() - started} ms`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await build();
}
