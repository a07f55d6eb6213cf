// Builds the runnable JavaScript from the TypeScript sources with esbuild:
//   dist/cli.js            the `qr-login` command (bin/qr-login.js loads it)
//   dist/main/index.js     Electron main process (ESM; package.json "main"), code-split: what only some
//                          start-ups need (the development stack, matrix-js-sdk, the sign-in) sits in
//                          dist/main/chunks/ and is loaded by dynamic import when used
//   dist/preload/index.cjs Electron preload (CJS: sandboxed preloads can only require("electron"))
//   dist/renderer/         the UI: renderer.js (browser IIFE, qrcode + jsqr bundled), index.html, styles.css
//   dist/meta/*.json       esbuild metafiles of the CLI and the main process (tests read which packages
//                          each loads; electron-builder.yml does not ship dist/meta)
// package.json "dependencies" is the single list of packages that stay external (loaded from
// node_modules at run time; electron-builder ships exactly those). Everything else a Node entry imports
// is bundled into it, so a package used only by the CLI or the renderer (qrcode, jsqr, pngjs, yaml) is a
// devDependency and never reaches the installer. Run by `npm install` (prepare), `npm start`, and jest's
// global setup.
import * as esbuild from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));

/** The run-time dependencies and their subpaths ("matrix-js-sdk/lib/logger.js"). */
export const externalPackages = Object.keys(pkg.dependencies ?? {}).flatMap((name) => [name, `${name}/*`]);

// Bundled CommonJS packages call require() for Node built-ins; in an ESM bundle that needs a real require.
const requireShim = { js: 'import { createRequire as __qrLoginCreateRequire } from "node:module";\nconst require = __qrLoginCreateRequire(import.meta.url);' };

const nodeCommon = { absWorkingDir: root, bundle: true, platform: "node", format: "esm", target: "node22", sourcemap: "linked", banner: requireShim, metafile: true };

/** Node entry points: source → output (ESM). Entries whose source is missing are skipped. */
const nodeEntries = [["main/cli/cli.ts", "dist/cli.js", "dist/meta/cli.json"]];

/**
 * Electron main: bundled like the CLI, but a failure only warns. Nothing under test starts this bundle
 * in Electron (the binary is not available on CI), so a protocol module still being written must not
 * break the CLI build that every test's global setup runs; `tsc` still checks main/app/index.ts.
 * Code splitting keeps dynamic imports dynamic: without it esbuild inlines them, and every package of
 * the development stack would load at start-up even when it never runs.
 */
const electronMain = { src: "main/app/index.ts", outdir: "dist/main", meta: "dist/meta/main.json" };

/** Electron preload and renderer: everything bundled (neither may load node_modules at run time). */
const electronEntries = [
  { src: "preload/index.ts", out: "dist/preload/index.cjs", platform: "node", format: "cjs", target: "node22", external: ["electron"] },
  { src: "renderer/main.ts", out: "dist/renderer/renderer.js", platform: "browser", format: "iife", target: "chrome130", external: [] },
];
const rendererStatic = ["renderer/index.html", "renderer/styles.css"];

function writeMeta(file, result) {
  mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  writeFileSync(path.join(root, file), JSON.stringify(result.metafile));
}

export async function build({ quiet = false } = {}) {
  const started = Date.now();
  const jobs = nodeEntries
    .filter(([src]) => existsSync(path.join(root, src)))
    .map(([src, out, meta]) =>
      esbuild
        .build({ ...nodeCommon, entryPoints: [src], outfile: out, external: externalPackages, logLevel: quiet ? "error" : "warning" })
        .then((r) => writeMeta(meta, r)),
    );
  if (existsSync(path.join(root, electronMain.src))) {
    // Old chunks would linger next to the new ones (their names carry a content hash).
    rmSync(path.join(root, electronMain.outdir), { recursive: true, force: true });
    jobs.push(
      esbuild
        .build({
          ...nodeCommon,
          entryPoints: { index: electronMain.src },
          outdir: electronMain.outdir,
          splitting: true,
          chunkNames: "chunks/[name]-[hash]",
          external: ["electron", ...externalPackages],
          logLevel: "silent",
        })
        .then((r) => writeMeta(electronMain.meta, r))
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
