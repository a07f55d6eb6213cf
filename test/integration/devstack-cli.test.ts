// `qr-login devstack` as a process: starts in memory on a free port, prints its base URL and the demo
// account, serves the auth metadata, and exits 0 on SIGTERM. Flag errors exit 2.
import { afterAll, expect, test } from "@jest/globals";
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cli = path.join(root, "bin/qr-login.js");
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.pid) process.kill(child.pid, "SIGKILL");
});

test("devstack --memory --seed --port 0 prints the base URL and demo account, serves metadata, stops on SIGTERM", async () => {
  const child = spawn(process.execPath, [cli, "devstack", "--memory", "--seed", "--port", "0", "--mas-quirks"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!/Press Ctrl\+C/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  const baseUrl = /listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
  expect(baseUrl).toBeDefined();
  expect(out).toMatch(/user\s+@alice:localhost/);
  expect(out).toMatch(/password\s+\S{12,}/);
  expect(out).toContain("MAS quirks on");
  const md = (await (await fetch(`${baseUrl}_matrix/client/v1/auth_metadata`)).json()) as Record<string, unknown>;
  expect(md.issuer).toBe(baseUrl);
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
});

test("devstack rejects bad flags with exit code 2", () => {
  for (const args of [["--memory", "--data", "/tmp/x"], ["--port", "99999"], ["--rendezvous-mode", "sideways"], ["--bogus"]]) {
    const r = spawnSync(process.execPath, [cli, "devstack", ...args], { cwd: root, encoding: "utf8", timeout: 20_000 });
    expect([args.join(" "), r.status]).toEqual([args.join(" "), 2]);
  }
});
