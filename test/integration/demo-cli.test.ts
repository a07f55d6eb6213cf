// `qr-login demo` as a process: both roles against the development stack, headline direction and
// --reverse, and --deny. The last stdout line is the JSON summary.
import { expect, test } from "@jest/globals";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cli = path.join(root, "bin/qr-login.js");

function runDemo(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, "demo", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 110_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function summary(out: string): Record<string, unknown> {
  const last = out.trim().split("\n").at(-1)!;
  return JSON.parse(last) as Record<string, unknown>;
}

test.each([[[] as string[], "existing_scans"], [["--reverse"], "new_scans"]])("demo %j: signed in, cross-signed, with backup", async (args, direction) => {
  const { code, out } = await runDemo(args);
  expect(code).toBe(0);
  expect(summary(out)).toMatchObject({ outcome: "success", userId: "@alice:localhost", crossSigned: true, backup: true, direction, existingDevice: { outcome: "success" } });
  // Steps with timings, both roles.
  expect(out).toMatch(/\[\s*\d+ ms\] (existing|new)\s+check code: [1-9]\d/);
  expect(out).toMatch(/\[\s*\d+ ms\] new\s+verified: cross-signed true, backup true/);
}, 120_000);

test.each([[["--protocol", "2024"], "existing_scans"], [["--protocol", "2024", "--reverse"], "new_scans"]])("demo %j: both roles on the MSC4108 2024 version", async (args, direction) => {
  const { code, out } = await runDemo(args);
  expect(code).toBe(0);
  expect(summary(out)).toMatchObject({ outcome: "success", userId: "@alice:localhost", crossSigned: true, backup: true, direction, protocol: "2024", existingDevice: { outcome: "success" } });
  expect(out).toMatch(/speaks the MSC4108 2024 version/);
  expect(out).toMatch(/QR \(\d+ bytes\): 4d4154524958020[34]/);
}, 120_000);

test("demo --deny: both sides report the decline", async () => {
  const { code, out } = await runDemo(["--deny"]);
  expect(code).toBe(0);
  expect(summary(out)).toMatchObject({ outcome: "declined", newDevice: { outcome: "declined", side: "local" }, existingDevice: { outcome: "declined", side: "peer" } });
}, 120_000);

test("demo rejects unknown flags with exit 2", async () => {
  const { code, out } = await runDemo(["--bogus"]);
  expect(code).toBe(2);
  expect(out).toContain("bogus");
}, 30_000);
