// `npm start` (after scripts/build.mjs): runs this folder's app in Electron, or says in one message why
// Electron cannot start here and what to use instead — never a stack trace.
//   - the Electron binary is not installed and cannot be downloaded (no network, a failed install);
//   - there is no display (Linux without DISPLAY / WAYLAND_DISPLAY, or the X server refuses);
//   - Chromium's sandbox cannot start (Ubuntu >= 24.04 restricts unprivileged user namespaces with
//     AppArmor; docs/desktop.md, "Linux sandbox").
// Arguments are passed on to the app: `npm start -- --homeserver https://…`.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const electronPkg = path.join(root, "node_modules", "electron");
const INSTEAD = "Without a desktop, run both devices in this terminal instead:  npx qr-login demo";

function fail(why, extra = []) {
  console.error([`qr-login: Electron cannot start here: ${why}.`, ...extra.map((l) => `  ${l}`), `  ${INSTEAD}`].join("\n"));
  process.exit(1);
}

/** The binary electron's own index.js would use, without its implicit download. */
function installedBinary() {
  const pathFile = path.join(electronPkg, "path.txt");
  const relative = existsSync(pathFile) ? readFileSync(pathFile, "utf8").trim() : null;
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const candidate = path.join(process.env.ELECTRON_OVERRIDE_DIST_PATH, relative || "electron");
    return existsSync(candidate) ? candidate : null;
  }
  if (!relative) return null;
  const candidate = path.join(electronPkg, "dist", relative);
  return existsSync(candidate) ? candidate : null;
}

function lastLine(text) {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !/^at\s/.test(l));
  return lines.at(-1) ?? "no output";
}

let binary = installedBinary();
if (!binary && !process.env.ELECTRON_OVERRIDE_DIST_PATH) {
  if (!existsSync(path.join(electronPkg, "install.js"))) fail("the electron package is not installed", ["Run `npm install` in this folder first."]);
  console.error("qr-login: the Electron binary is not installed yet; downloading it once…");
  const r = spawnSync(process.execPath, [path.join(electronPkg, "install.js")], { encoding: "utf8", timeout: 300_000 });
  binary = r.status === 0 ? installedBinary() : null;
  if (!binary) fail(`its binary is not installed and could not be downloaded (${lastLine(`${r.stdout ?? ""}\n${r.stderr ?? ""}\n${r.error?.message ?? ""}`)})`);
}
if (!binary) fail(`ELECTRON_OVERRIDE_DIST_PATH=${process.env.ELECTRON_OVERRIDE_DIST_PATH} holds no Electron binary`);

if (process.platform === "linux" && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
  fail("there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)", ["On a desktop session, start it from a terminal of that session."]);
}

// stderr is watched for the start-up failures above and passed through as it comes.
const child = spawn(binary, [root, ...process.argv.slice(2)], { stdio: ["inherit", "inherit", "pipe"] });
let early = "";
const started = Date.now();
child.stderr.on("data", (d) => {
  process.stderr.write(d);
  if (Date.now() - started < 30_000 && early.length < 64_000) early += d.toString();
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("error", (err) => fail(`${binary} could not be run (${err.message})`));
child.on("exit", (code, signal) => {
  if (code !== 0 && code !== null) {
    if (/Missing X server|cannot open display|Failed to connect to Wayland|Ozone platform|no display/i.test(early)) {
      fail("it found no display it can use (see Electron's message above)");
    }
    if (/SUID sandbox helper|No usable sandbox|setuid sandbox|user namespaces/i.test(early)) {
      fail("Chromium's sandbox could not start (see Electron's message above)", [
        "On Ubuntu 24.04 and later AppArmor blocks the unprivileged user namespaces the sandbox uses; docs/desktop.md",
        '("Linux sandbox") shows the AppArmor profile or the chrome-sandbox permissions that fix it for `npm start`.',
      ]);
    }
  }
  if (signal) process.kill(process.pid, signal);
  process.exit(code ?? 1);
});
