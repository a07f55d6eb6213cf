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

interface WindowReport {
  args: string[];
  title: string;
  info: { ok: boolean; info: { label: string; account: { userId: string } | null; storage: string; dev: { homeserver: string; username: string; password: string } | null } };
}

async function startApp(name: string, args: string[]): Promise<{ loaded: string[]; lines: string[]; windows: WindowReport[]; stderr: string }> {
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
  const windows = lines.filter((l) => l.startsWith("window ")).map((l) => JSON.parse(l.slice(7)) as WindowReport);
  return { loaded: [...new Set(lines.filter((l) => !/^(ready|exited|window) /.test(l)).map(pkg))].sort(), lines, windows, stderr };
}

const DEV_STACK = ["fastify", "@fastify/cors", "@fastify/rate-limit", "oidc-provider", "ioredis", "better-sqlite3"];

describe("start-up of the built main process", () => {
  test("the real app (--homeserver) opens its window loading neither the development stack nor matrix-js-sdk", async () => {
    const r = await startApp("account", ["--homeserver", "https://hs.example.org"]);
    expect(r.lines).toContain("ready 1");
    // The account sign-in's OAuth client (oauth4webapi, pure JS) and PKCE hashing come with the first screen.
    expect(r.loaded).toEqual(["@noble/hashes", "electron", "oauth4webapi"].sort());
    for (const p of [...DEV_STACK, "matrix-js-sdk"]) expect(r.loaded).not.toContain(p);
    // one window, whose renderer chooses its role (the first-run screen), and no development stack
    expect(r.windows).toHaveLength(1);
    expect(r.windows[0]!.args).toEqual([]);
    expect(r.windows[0]!.info).toMatchObject({ ok: true, info: { label: "qr-login", account: null, storage: "keychain", dev: null } });
  }, 70_000);

  test("the development mode (--dev) loads the development stack, through its own chunk", async () => {
    const r = await startApp("dev", ["--dev"]);
    expect(r.lines).toContain("ready 2");
    for (const p of [...DEV_STACK, "matrix-js-sdk"]) expect(r.loaded).toContain(p);
    // the pair; each window shows where to approve sign-ins and the password (not only stdout),
    // while the renderer's command line names no account
    expect(r.windows.map((w) => w.title).sort()).toEqual(["Existing device", "New device"]);
    for (const w of r.windows) {
      expect(w.info.info.dev).toEqual({ homeserver: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/), username: "alice", password: expect.stringMatching(/^\S{8,}$/) });
      expect(JSON.stringify(w.args)).not.toContain("@");
    }
    expect(r.windows.find((w) => w.title === "Existing device")!.info.info.label).toBe("Existing device — signed in as @alice:localhost");
  }, 70_000);
});
