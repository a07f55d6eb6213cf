#!/usr/bin/env node
// The `qr-login` command. The TypeScript sources are built into dist/ by `npm install` (prepare) or
// `npm run build`; this shim checks the Node.js version, then loads the result.
//
// `#!/usr/bin/env node` runs whichever node comes first in PATH: through a global install or
// `npx --prefix` from another folder that is often the system's Node 20, on which better-sqlite3 13
// crashes (segmentation fault) after oidc-provider's "Unsupported runtime" warning. So before anything
// is imported, an older Node re-runs this file on the project's own Node 22 (the `node` dev dependency),
// or says exactly what to do. Keep this file plain enough for old Node versions to parse.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const NEEDED = [22, 12];
const self = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(self), "..");

function tooOld(version) {
  const [major, minor] = String(version).replace(/^v/, "").split(".").map(Number);
  return major < NEEDED[0] || (major === NEEDED[0] && minor < NEEDED[1]);
}

/** The project's Node 22 (node_modules/node, installed by `npm install`), if it is there and new enough. */
function projectNode() {
  const exe = process.platform === "win32" ? "node.exe" : "node";
  for (const candidate of [path.join(root, "node_modules", "node", "bin", exe), path.join(root, "node_modules", ".bin", exe)]) {
    if (!existsSync(candidate) || candidate === process.execPath) continue;
    const probe = spawnSync(candidate, ["-p", "process.versions.node"], { encoding: "utf8", timeout: 10_000 });
    if (probe.status === 0 && !tooOld(probe.stdout.trim())) return candidate;
  }
  return null;
}

if (tooOld(process.versions.node)) {
  const node22 = process.env.QR_LOGIN_REEXEC ? null : projectNode();
  if (!node22) {
    const need = `${NEEDED[0]}.${NEEDED[1]}`;
    console.error(
      [
        `qr-login: this is Node.js ${process.versions.node} (${process.execPath}); qr-login needs Node.js ${need} or newer.`,
        `  Either run \`npm install\` in ${root} (it installs Node ${NEEDED[0]} there as a dev dependency) and start qr-login`,
        `  with \`npx qr-login …\` from that folder, or install Node.js ${NEEDED[0]} LTS (https://nodejs.org/) and run`,
        `  \`node ${self} …\` with it.`,
      ].join("\n"),
    );
    process.exit(1);
  }
  // Same arguments, same terminal; the child gets Ctrl-C from the terminal itself, so the parent only waits.
  const child = spawn(node22, [self, ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, QR_LOGIN_REEXEC: "1" } });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("error", (err) => {
    console.error(`qr-login: could not start ${node22}: ${err.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
} else {
  const cli = path.join(root, "dist", "cli.js");
  if (!existsSync(cli)) {
    console.error("qr-login: dist/cli.js is missing; run `npm run build` (or `npm install`) first.");
    process.exit(1);
  }
  await import(new URL("../dist/cli.js", import.meta.url).href);
}
