// `qr-login devstack` as a process: starts in memory on a free port, prints its base URL and the demo
// account, serves the auth metadata, and exits 0 on SIGTERM. Flag errors exit 2.
import { afterAll, expect, test } from "@jest/globals";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cli = path.join(root, "bin/qr-login.js");
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.pid) process.kill(child.pid, "SIGKILL");
});

test("devstack --memory --seed --port 0: base URL, demo account, seeded existing device; metadata; stops on SIGTERM", async () => {
  const child = spawn(process.execPath, [cli, "devstack", "--memory", "--seed", "--port", "0", "--mas-quirks"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const deadline = Date.now() + 100_000; // seeding runs matrix-js-sdk's Rust crypto (WASM): ~10 s on a busy machine
  while (!/Press Ctrl\+C/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  const baseUrl = /listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
  expect(baseUrl).toBeDefined();
  expect(out).toMatch(/user\s+@alice:localhost/);
  expect(out).toMatch(/password\s+\S{12,}/);
  expect(out).toContain("MAS quirks on");
  // The seeded existing device: a 0600 file with its token and the private cross-signing and backup keys.
  const file = /\n\s+(\/\S+existing-device\.json)/.exec(out)?.[1];
  expect(file).toBeDefined();
  expect(statSync(file!).mode & 0o777).toBe(0o600);
  const device = JSON.parse(readFileSync(file!, "utf8")) as { userId: string; deviceId: string; accessToken: string; secrets: { cross_signing: Record<string, string>; backup?: unknown } };
  expect(device.userId).toBe("@alice:localhost");
  expect(Object.keys(device.secrets.cross_signing).sort()).toEqual(["master_key", "self_signing_key", "user_signing_key"]);
  expect(device.secrets.backup).toBeDefined();
  const whoami = await fetch(`${baseUrl}_matrix/client/v3/account/whoami`, { headers: { Authorization: `Bearer ${device.accessToken}` } });
  expect(await whoami.json()).toEqual(expect.objectContaining({ user_id: "@alice:localhost", device_id: device.deviceId }));
  const md = (await (await fetch(`${baseUrl}_matrix/client/v1/auth_metadata`)).json()) as Record<string, unknown>;
  expect(md.issuer).toBe(baseUrl);
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  expect(existsSync(file!)).toBe(false); // --memory: the temporary directory is gone
}, 120_000);

test("devstack rejects bad flags with exit code 2", () => {
  for (const args of [["--memory", "--data", "/tmp/x"], ["--port", "99999"], ["--rendezvous-mode", "sideways"], ["--bogus"]]) {
    const r = spawnSync(process.execPath, [cli, "devstack", ...args], { cwd: root, encoding: "utf8", timeout: 20_000 });
    expect([args.join(" "), r.status]).toEqual([args.join(" "), 2]);
  }
});
