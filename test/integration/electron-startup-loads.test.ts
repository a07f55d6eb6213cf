// What the built Electron main (dist/main/index.js, as electron-builder ships it) loads when it starts.
// It runs in a Node child process with `electron` resolved to the Electron fake (test/support/
// electron-child/): the real app with --homeserver must open its window without loading the
// development stack (fastify, oidc-provider, ioredis, better-sqlite3) or matrix-js-sdk — esbuild used to
// turn the dynamic imports into static ones. The development mode loads them (a positive control:
// the hook does see dynamic imports).
import { describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const tmp = mkdtempSync(path.join(tmpdir(), "qr-login-startup-"));
const stub = path.join(tmp, "electron-stub.mjs");

beforeAll(async () => {
  await esbuild.build({ absWorkingDir: root, entryPoints: ["test/support/electron-child/stub-entry.ts"], outfile: stub, bundle: true, platform: "node", format: "esm", target: "node22", logLevel: "error" });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function startApp(name: string, args: string[]): Promise<{ loaded: string[]; lines: string[]; stderr: string }> {
  const report = path.join(tmp, `${name}.txt`);
  writeFileSync(report, "");
  const child = spawn(process.execPath, ["--import", pathToFileURL(path.join(root, "test/support/electron-child/register.mjs")).href, path.join(root, "dist/main/index.js"), ...args], {
    cwd: root,
    env: { ...process.env, QR_LOGIN_ELECTRON_STUB: pathToFileURL(stub).href, QR_LOGIN_LOAD_REPORT: report, QR_LOGIN_USERDATA: path.join(tmp, `${name}-userdata`), NODE_OPTIONS: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  await new Promise<void>((resolve) => child.on("close", () => resolve()));
  clearTimeout(timer);
  const lines = readFileSync(report, "utf8").split("\n").filter(Boolean);
  const pkg = (s: string) => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]!);
  return { loaded: [...new Set(lines.filter((l) => !/^(ready|exited) /.test(l)).map(pkg))].sort(), lines, stderr };
}

const DEV_STACK = ["fastify", "@fastify/cors", "@fastify/rate-limit", "oidc-provider", "ioredis", "better-sqlite3"];

describe("start-up of the built main process", () => {
  test("the real app (--homeserver) opens its window loading neither the development stack nor matrix-js-sdk", async () => {
    const r = await startApp("account", ["--homeserver", "https://hs.example.org"]);
    expect(r.lines).toContain("ready 1");
    expect(r.loaded).toEqual(["@noble/hashes", "electron"].sort());
    for (const p of [...DEV_STACK, "matrix-js-sdk"]) expect(r.loaded).not.toContain(p);
  }, 70_000);

  test("the development mode (--dev) loads the development stack, through its own chunk", async () => {
    const r = await startApp("dev", ["--dev"]);
    expect(r.lines).toContain("ready 2");
    for (const p of [...DEV_STACK, "matrix-js-sdk"]) expect(r.loaded).toContain(p);
  }, 70_000);
});
