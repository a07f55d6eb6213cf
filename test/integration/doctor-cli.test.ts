// `qr-login doctor` as a command (dist/cli.js): the human report (one line per check, the verdict),
// progress on stderr, exit 0 / 1 / 2, and --json. The JSON contract against a TLS deployment is in
// doctor-nginx.test.ts; the checks themselves in doctor.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { spawn } from "node:child_process";
import path from "node:path";
import type { DoctorReport } from "../../main/doctor/index.js";
import { diagnosis, REQUIRED_IDS } from "../support/doctor.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { freePort } from "../support/redis-server.js";
import { startRendezvousHomeserver, type RendezvousHomeserver } from "../support/rendezvous-homeserver.js";

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/qr-login.js"), "doctor", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

let front: RendezvousHomeserver;
beforeAll(async () => {
  front = await startRendezvousHomeserver();
});
afterAll(async () => front?.close());

test("the human report: one line per check (status, id, summary, fix), the verdict, a count; progress on stderr; exit 0", async () => {
  const { code, stdout, stderr } = await cli([front.url]);
  expect(code).toBe(0);
  const lines = stdout.trimEnd().split("\n");
  expect(lines[0]).toBe(`qr-login doctor: ${front.url}`);
  for (const id of REQUIRED_IDS) expect(lines.filter((l) => new RegExp(`^(PASS|WARN|FAIL|SKIP)  ${id.replace(/\./g, "\\.")} +\\S`).test(l))).toHaveLength(1);
  expect(lines).toContain(`WARN  ${"tls".padEnd("rendezvous-2024.content-type".length)}  plain http on this machine (${front.url.slice(0, -1)})  Fix: Fine for a local test on this machine; a real deployment needs https.`);
  const verdict = lines.indexOf("Verdict:");
  expect(lines.slice(verdict + 1, verdict + 4).map((l) => l.slice(0, 4))).toEqual(["PASS", "PASS", "PASS"]);
  expect(lines.at(-1)).toMatch(/^0 failed, 1 warning, \d+ passed, 1 skipped \(\d+\.\d s\)$/);
  expect(stderr).toMatch(/^\[ +0\.\d s\] checking http:\/\/127\.0\.0\.1:\d+\/: 18 checks$/m);
  expect(stderr).toMatch(/\] rendezvous-2024\.consistent: reading the session 3 times$/m);
}, 30_000);

test("--json: one JSON object on stdout, every listed id once; a failure exits 1, without a stack trace", async () => {
  const port = await freePort();
  const { code, stdout, stderr } = await cli([`http://127.0.0.1:${port}`, "--json"]);
  expect(code).toBe(1);
  expect(stdout.trim().split("\n")).toHaveLength(1);
  const d = diagnosis(JSON.parse(stdout) as DoctorReport);
  expect(d).toMatchObject({ target: `http://127.0.0.1:${port}`, ok: false });
  expect(d.by["discovery.versions"].status).toBe("fail");
  expect(stderr).not.toMatch(/\n\s+at /);
}, 30_000);

describe("bad arguments: a message on stderr, exit 2", () => {
  test.each([
    [[], /give a homeserver URL or server name/],
    [["ftp://example.org"], /https:\/\/ \(or http:\/\/ for local tests\), not ftp:\/\//],
    [["https://matrix.example.org/?x=1"], /no query/],
    [["not a server name!"], /not a homeserver URL or server name/],
    [["example.org", "--bogus"], /unknown option --bogus/],
    [["example.org", "--timeout", "0"], /--timeout must be whole seconds from 1 to 60/],
    [["example.org", "other.org"], /unexpected argument "other\.org"/],
  ])("%j", async (args, message) => {
    const { code, stdout, stderr } = await cli(args as string[]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message as RegExp);
  }, 30_000);
});
