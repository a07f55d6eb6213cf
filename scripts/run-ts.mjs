// Runs one TypeScript entry (a benchmark or a tool) under Node 22: bundles it with esbuild into
// dist/run/ and imports it. Usage: node scripts/run-ts.mjs bench/crypto.ts [args...]
import * as esbuild from "esbuild";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const entry = process.argv[2];
if (!entry) {
  console.error("usage: node scripts/run-ts.mjs <file.ts> [args...]");
  process.exit(2);
}
const outfile = path.join(root, "dist/run", entry.replace(/\.ts$/, ".mjs"));
await esbuild.build({
  absWorkingDir: root, entryPoints: [entry], outfile, bundle: true, platform: "node",
  format: "esm", target: "node22", packages: "external", sourcemap: "inline", logLevel: "warning",
});
process.argv.splice(2, 1);
await import(pathToFileURL(outfile).href);
