// scripts/electron-start.mjs (`npm start` after the build) where Electron cannot start: one clear message
// saying why and pointing to `npx qr-login demo`, exit code 1, no stack trace. Where it can, the app's
// folder and the arguments reach Electron unchanged. Stand-in binaries come in through
// ELECTRON_OVERRIDE_DIST_PATH, which electron's own index.js honours the same way.
import { describe, test, expect, afterAll } from "@jest/globals";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const tmp = mkdtempSync(path.join(tmpdir(), "qr-login-start-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const electronInstalled = existsSync(path.join(root, "node_modules/electron/path.txt"));
const binaryName = electronInstalled ? readFileSync(path.join(root, "node_modules/electron/path.txt"), "utf8").trim() : "electron";

function start(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ code: number | null; out: string; err: string }> {
  const base = { ...process.env };
  for (const k of ["DISPLAY", "WAYLAND_DISPLAY", "ELECTRON_OVERRIDE_DIST_PATH", "ELECTRON_MIRROR"]) delete base[k];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, "scripts/electron-start.mjs"), ...args], { cwd: root, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

/** A stand-in Electron: a shell script that prints `stderr`, records its arguments, exits with `code`. */
function fakeElectron(name: string, stderr: string, code: number): string {
  const dir = mkdtempSync(path.join(tmp, `${name}-`));
  writeFileSync(path.join(dir, binaryName), `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/args"\nprintf '%s\\n' '${stderr}' >&2\nexit ${code}\n`, { mode: 0o755 });
  return dir;
}

function expectOneClearMessage(r: { code: number | null; err: string }, why: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/qr-login: Electron cannot start here: /);
  expect(r.err).toMatch(why);
  expect(r.err).toContain("npx qr-login demo");
  expect(r.err).not.toMatch(/\n\s+at \S+ \(|node:internal/); // no stack trace
}

test("npm start builds, then runs this script", () => {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
  expect(pkg.scripts.start).toBe("node scripts/build.mjs && node scripts/electron-start.mjs");
});

describe("npm start where Electron cannot start", () => {
  (electronInstalled ? test.skip : test)("no binary and no download (an unreachable mirror)", async () => {
    const r = await start({ ELECTRON_MIRROR: "http://127.0.0.1:9/", DISPLAY: ":0" });
    expectOneClearMessage(r, /its binary is not installed and could not be downloaded \(.+\)\./);
  }, 60_000);

  test("an override that holds no binary", async () => {
    const r = await start({ ELECTRON_OVERRIDE_DIST_PATH: path.join(tmp, "nothing-here"), DISPLAY: ":0" });
    expectOneClearMessage(r, /holds no Electron binary/);
  });

  test("no display on Linux: said before Electron is even run", async () => {
    const dir = fakeElectron("nodisplay", "should not run", 0);
    const r = await start({ ELECTRON_OVERRIDE_DIST_PATH: dir });
    expectOneClearMessage(r, /there is no display \(neither DISPLAY nor WAYLAND_DISPLAY is set\)/);
    expect(existsSync(path.join(dir, "args"))).toBe(false);
  });

  test("the X server refuses: Electron's own line, then the message", async () => {
    const dir = fakeElectron("xrefuses", "[1234:ERROR:ozone_platform_x11.cc(240)] Missing X server or $DISPLAY", 1);
    const r = await start({ ELECTRON_OVERRIDE_DIST_PATH: dir, DISPLAY: ":99" });
    expect(r.err).toContain("Missing X server or $DISPLAY");
    expectOneClearMessage(r, /it found no display it can use/);
  });

  test("the sandbox cannot start (AppArmor on Ubuntu >= 24.04): points to the fix", async () => {
    const dir = fakeElectron("sandbox", "FATAL:setuid_sandbox_host.cc(158)] The SUID sandbox helper binary was found, but is not configured correctly.", 133);
    const r = await start({ ELECTRON_OVERRIDE_DIST_PATH: dir, DISPLAY: ":0" });
    expectOneClearMessage(r, /Chromium's sandbox could not start/);
    expect(r.err).toContain("docs/desktop.md");
  });
});

describe("npm start where Electron can start", () => {
  test("the app folder and the arguments reach Electron; its exit code is kept", async () => {
    const dir = fakeElectron("ok", "", 0);
    const r = await start({ ELECTRON_OVERRIDE_DIST_PATH: dir, DISPLAY: ":0" }, ["--homeserver", "https://hs.example.org"]);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(dir, "args"), "utf8").trim().split("\n")).toEqual([root, "--homeserver", "https://hs.example.org"]);
    const failing = fakeElectron("exit3", "some other problem", 3);
    expect((await start({ ELECTRON_OVERRIDE_DIST_PATH: failing, DISPLAY: ":0" })).code).toBe(3);
  });
});
