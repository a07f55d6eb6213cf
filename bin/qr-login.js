#!/usr/bin/env node
// The `qr-login` command. The TypeScript sources are built into dist/ by `npm install` (prepare)
// or `npm run build`; this shim only loads the result.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const cli = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  console.error("qr-login: dist/cli.js is missing; run `npm run build` (or `npm install`) first.");
  process.exit(1);
}
await import(cli.href);
