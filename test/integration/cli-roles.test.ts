// The headless CLI roles end to end: `qr-login new-device` and `qr-login existing-device --session <seed
// file>` as two child processes against a development homeserver started here (rendezvous on the same
// origin), the user's part played by this test: it reads the QR / check code / verification URI from one
// process's stderr, types into the other's stdin, and approves the device on the devhome's consent pages
// as the demo account. Both final JSON summaries are checked.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startDevhome, type RunningDevhome } from "../../server/devhome/index.js";
import { seedDemoAccount } from "../../main/devstack/seed.js";
import { MiniBrowser } from "./mini-browser.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "bin/qr-login.js");

let dh: RunningDevhome;
let tmp: string;
let seedFile: string;
const children: ChildProcessWithoutNullStreams[] = [];

interface Proc {
  child: ChildProcessWithoutNullStreams;
  stderr: () => string;
  /** Resolves with the first match of `re` on stderr. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  done: Promise<{ code: number | null; stdout: string }>;
}

function start(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NODE_OPTIONS: "", ...env } });
  children.push(child);
  let out = "";
  let err = "";
  const listeners: Array<() => void> = [];
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
    for (const l of listeners.splice(0)) l();
  });
  const done = new Promise<{ code: number | null; stdout: string }>((resolve) => child.on("close", (code) => resolve({ code, stdout: out })));
  return {
    child,
    stderr: () => err,
    done,
    async waitFor(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = err.match(re);
        if (m) return m;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${re} on stderr:\n${err}`);
        await new Promise<void>((r) => {
          listeners.push(r);
          setTimeout(r, 250);
        });
      }
    },
  };
}

async function consent(uri: string, decision: "confirm" | "abort"): Promise<void> {
  const browser = new MiniBrowser();
  const entry = await browser.go(uri);
  const page = await browser.submit(entry, {});
  const next = await browser.submit(page, {}, { button: decision });
  if (decision === "confirm") await browser.submit(next, { username: dh.demo!.localpart, password: dh.demo!.password }, { withField: "password" });
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "qr-cli-roles-"));
  dh = await startDevhome({ port: 0, seed: true, deviceInterval: 1 });
  seedFile = path.join(tmp, "existing-device.json");
  await seedDemoAccount({ auth: dh.auth, baseUrl: dh.baseUrl, userId: dh.demo!.userId, outFile: seedFile });
  expect(statSync(seedFile).mode & 0o777).toBe(0o600);
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, "SIGKILL");
  await dh?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("qr-login new-device / existing-device", () => {
  test("existing device scans the new device's QR: both summaries report the signed-in, verified device", async () => {
    const nd = start(["new-device", "--rendezvous", dh.baseUrl]);
    const hex = (await nd.waitFor(/^QR: ([0-9a-f]+)$/m))[1]!;
    // The terminal QR is drawn too (half blocks).
    expect(nd.stderr()).toMatch(/[▀▄█]/);
    const ed = start(["existing-device", "--session", seedFile, "--scan", hex]);
    const code = (await ed.waitFor(/^check code: (\d\d)/m))[1]!;
    nd.child.stdin.write(`${code}\n`);
    const uri = (await ed.waitFor(/^verification URI: (\S+)/m))[1]!;
    await consent(uri, "confirm");
    await nd.waitFor(/Signed in as (@\S+) — continue\? \[y\/N\]/);
    nd.child.stdin.write("y\n");
    const [n, e] = await Promise.all([nd.done, ed.done]);
    const ns = lastJson(n.stdout);
    const es = lastJson(e.stdout);
    expect(ns).toMatchObject({ outcome: "success", userId: dh.demo!.userId, crossSigned: true, backup: true });
    expect(typeof ns.deviceId).toBe("string");
    // The existing device sees the new device signed by the self-signing key, and it sent the backup key.
    expect(es).toMatchObject({ outcome: "success", userId: dh.demo!.userId, deviceId: ns.deviceId, crossSigned: true, backup: true });
    expect(n.code).toBe(0);
    expect(e.code).toBe(0);
  }, 80_000);

  test("new device scans the existing device's QR; consent denied: both report the decline, non-zero exit", async () => {
    const ed = start(["existing-device", "--session", seedFile, "--generate"]);
    const hex = (await ed.waitFor(/^QR: ([0-9a-f]+)$/m))[1]!;
    const nd = start(["new-device", "--scan", hex, "--yes"]);
    const code = (await nd.waitFor(/^check code: (\d\d)/m))[1]!;
    ed.child.stdin.write(`${code}\n`);
    const uri = (await ed.waitFor(/^verification URI: (\S+)/m))[1]!;
    await consent(uri, "abort");
    const [n, e] = await Promise.all([nd.done, ed.done]);
    expect(lastJson(n.stdout)).toMatchObject({ outcome: "declined", side: "local", crossSigned: false, backup: false });
    expect(lastJson(e.stdout)).toMatchObject({ outcome: "declined", side: "peer" });
    expect(n.code).toBe(1);
    expect(e.code).toBe(1);
  }, 80_000);

  test("new device scans; --open hands the verification URI to the system opener; both sign in", async () => {
    // A stand-in for xdg-open that records what it was asked to open.
    const bin = path.join(tmp, "bin");
    const opened = path.join(tmp, "opened.txt");
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`);
    chmodSync(path.join(bin, "xdg-open"), 0o755);
    const ed = start(["existing-device", "--session", seedFile, "--generate", "--open"], { PATH: `${bin}:${process.env.PATH ?? ""}` });
    const hex = (await ed.waitFor(/^QR: ([0-9a-f]+)$/m))[1]!;
    const nd = start(["new-device", "--scan", hex]);
    const code = (await nd.waitFor(/^check code: (\d\d)/m))[1]!;
    ed.child.stdin.write(`${code}\n`);
    await ed.waitFor(/^opening (\S+)/m);
    const deadline = Date.now() + 10_000;
    while (!existsSync(opened) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const uri = readFileSync(opened, "utf8").trim();
    expect(uri.startsWith(dh.baseUrl)).toBe(true);
    await consent(uri, "confirm");
    await nd.waitFor(/Signed in as (@\S+) — continue\? \[y\/N\]/);
    nd.child.stdin.write("yes\n");
    const [n, e] = await Promise.all([nd.done, ed.done]);
    expect(lastJson(n.stdout)).toMatchObject({ outcome: "success", userId: dh.demo!.userId, crossSigned: true, backup: true });
    expect(lastJson(e.stdout)).toMatchObject({ outcome: "success", crossSigned: true, backup: true });
    expect([n.code, e.code]).toEqual([0, 0]);
  }, 80_000);

  test("SIGINT while showing the QR: cancelled, the rendezvous session is deleted, exit 1", async () => {
    const nd = start(["new-device", "--rendezvous", dh.baseUrl]);
    const hex = (await nd.waitFor(/^QR: ([0-9a-f]+)$/m))[1]!;
    nd.child.kill("SIGINT");
    const n = await nd.done;
    expect(lastJson(n.stdout)).toMatchObject({ outcome: "cancelled" });
    expect(n.code).toBe(1);
    // Scanning the QR now finds no session.
    const ed = start(["existing-device", "--session", seedFile, "--scan", hex]);
    const e = await ed.done;
    expect(lastJson(e.stdout)).toMatchObject({ outcome: "closed" });
    expect(e.code).toBe(1);
  }, 60_000);

  test("2024: new-device --protocol 2024 shows a type-2 QR; existing-device scans it (auto); the server name `localhost` needs --homeserver", async () => {
    const nd = start(["new-device", "--protocol", "2024", "--homeserver", dh.baseUrl]);
    const hex = (await nd.waitFor(/^QR: ([0-9a-f]+)$/m))[1]!;
    expect(hex.startsWith(Buffer.from("MATRIX").toString("hex") + "0203")).toBe(true);
    expect(nd.stderr()).toMatch(/^protocol: MSC4108 2024 version$/m);
    const ed = start(["existing-device", "--session", seedFile, "--scan", hex]);
    const code = (await ed.waitFor(/^check code: (\d\d)/m))[1]!;
    nd.child.stdin.write(`${code}\n`);
    const uri = (await ed.waitFor(/^verification URI: (\S+)/m))[1]!;
    await consent(uri, "confirm");
    await nd.waitFor(/Signed in as (@\S+) — continue\? \[y\/N\]/);
    nd.child.stdin.write("y\n");
    const [n, e] = await Promise.all([nd.done, ed.done]);
    const ns = lastJson(n.stdout);
    expect(ns).toMatchObject({ outcome: "success", userId: dh.demo!.userId, crossSigned: true, backup: true });
    expect(lastJson(e.stdout)).toMatchObject({ outcome: "success", deviceId: ns.deviceId, crossSigned: true, backup: true });
    expect(ed.stderr()).toMatch(/^protocol: MSC4108 2024 version$/m);
    expect([n.code, e.code]).toEqual([0, 0]);
  }, 80_000);

  test("2024: existing-device --generate --protocol 2024 names its server; new-device --scan without --homeserver cannot resolve `localhost`, with it signs in", async () => {
    const ed1 = start(["existing-device", "--session", seedFile, "--generate", "--protocol", "2024"]);
    const hex1 = (await ed1.waitFor(/^QR: ([0-9a-f]+)$/m))[1]!;
    const nd1 = start(["new-device", "--scan", hex1, "--yes"]);
    const code1 = (await nd1.waitFor(/^check code: (\d\d)/m))[1]!;
    ed1.child.stdin.write(`${code1}\n`);
    const [n1, e1] = await Promise.all([nd1.done, ed1.done]);
    expect(lastJson(n1.stdout)).toMatchObject({ outcome: "error", reason: "homeserver_unresolved", detail: expect.stringContaining("localhost") });
    expect(lastJson(e1.stdout)).toMatchObject({ outcome: "failure", reason: "user_cancelled", side: "peer" });

    const ed = start(["existing-device", "--session", seedFile, "--generate", "--protocol", "2024"]);
    const hex = (await ed.waitFor(/^QR: ([0-9a-f]+)$/m))[1]!;
    const nd = start(["new-device", "--scan", hex, "--homeserver", dh.baseUrl, "--yes"]);
    const code = (await nd.waitFor(/^check code: (\d\d)/m))[1]!;
    ed.child.stdin.write(`${code}\n`);
    const uri = (await ed.waitFor(/^verification URI: (\S+)/m))[1]!;
    await consent(uri, "confirm");
    const [n, e] = await Promise.all([nd.done, ed.done]);
    expect(lastJson(n.stdout)).toMatchObject({ outcome: "success", userId: dh.demo!.userId, crossSigned: true, backup: true });
    expect(lastJson(e.stdout)).toMatchObject({ outcome: "success", crossSigned: true, backup: true });
  }, 100_000);

  test("usage errors exit 2", async () => {
    const p = start(["new-device"]);
    expect((await p.done).code).toBe(2);
    expect(p.stderr()).toMatch(/--rendezvous URL or --scan HEX/);
    const q = start(["new-device", "--rendezvous", dh.baseUrl, "--protocol", "2023"]);
    expect((await q.done).code).toBe(2);
    expect(q.stderr()).toMatch(/--protocol must be 2024, 2025 or auto/);
  }, 20_000);
});
