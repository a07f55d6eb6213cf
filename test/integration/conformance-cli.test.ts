// `qr-login conformance` as a process (the built CLI; jest's global setup runs the build), per its
// contract in docs/architecture.md: against our server every case passes on each API (exit 0);
// against a non-conformant server the right cases fail, by id (exit 1); the --json report's shape;
// an unreachable server is one line, not a stack trace (exit 1); bad arguments exit 2.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { ConformanceReport } from "../../main/conformance/index.js";
import { PREFIX_2024, PREFIX_UNSTABLE, PREFIX_V1 } from "../../main/conformance/index.js";
import type { Limits, RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { startRendezvousServer } from "../../server/rendezvous/index.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { NonconformantRendezvous } from "../support/nonconformant-rendezvous.js";

interface Run { code: number; stdout: string; stderr: string }

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, "bin/qr-login.js"), "conformance", ...args], { cwd: REPO_ROOT, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const parse = (r: Run) => JSON.parse(r.stdout) as ConformanceReport;

let ours: RunningRendezvousServer;
let broken: NonconformantRendezvous;

beforeAll(async () => {
  // Limits off: a run makes about a hundred sessions in seconds (with the default create limit the
  // command waits out each 429 as told, which takes minutes).
  const none: Partial<Limits> = { maxSessions: 0, maxSessionsPerIp: 0, createPerWindow: 0, requestsPerWindow: 0 };
  ours = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", limits: none, logLevel: false });
  broken = await new NonconformantRendezvous(new Set(["stale-write-accepted", "weak-etag-2024"])).start();
});

afterAll(async () => {
  await ours?.close();
  await broken?.stop();
});

describe("against our server", () => {
  test("--api 2025: one line per case with its rule, every black-box case passes on both prefixes, exit 0", async () => {
    const r = await cli(ours.url, "--api", "2025");
    expect(r.stderr).toMatch(/^waiting 2 s: msc4388\.code\.put-expiry-not-extended lets the session age$/m);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, 3)).toEqual([`testing ${ours.url}`, `  2025 API at ${ours.url}${PREFIX_V1}`, `  2025 API at ${ours.url}${PREFIX_UNSTABLE}`]);
    expect(lines).toContain("pass msc4388.open.put-stale-token-different-data [v1]: PUT with a stale sequence_token and other data is a concurrent write: 409 M_CONCURRENT_WRITE (unstable: IO_ELEMENT_MSC4388_CONCURRENT_WRITE)");
    expect(lines).toContain("skip msc4388.expiry.get-at-ttl [unstable]: waits for a session to expire (minutes): run with --slow");
    expect(lines.filter((l) => /^(pass|skip|FAIL) /.test(l))).toHaveLength(178);
    expect(lines.some((l) => l.startsWith("FAIL"))).toBe(false);
    expect(lines).toContain("178 cases: 136 passed, 0 failed, 42 skipped");
  });

  test("--api 2024 --json: one JSON object on stdout, progress on stderr, exit 0", async () => {
    const r = await cli(ours.url, "--api", "2024", "--json");
    expect(r.code).toBe(0);
    const report = parse(r);
    expect(Object.keys(report).sort()).toEqual(["api", "apis", "cases", "counts", "error", "notes", "ok", "slow", "target"]);
    expect(report).toMatchObject({
      target: ours.url, api: "2024", slow: false, ok: true, error: null, notes: [],
      apis: [{ api: "2024", prefix: PREFIX_2024, url: `${ours.url}${PREFIX_2024}` }],
      counts: { total: 17, pass: 13, fail: 0, skip: 4 },
    });
    for (const c of report.cases) {
      expect(Object.keys(c).sort()).toEqual(["api", "id", "message", "prefix", "rule", "status"]);
      expect(c).toMatchObject({ api: "2024", prefix: PREFIX_2024, rule: expect.stringMatching(/\w/) });
      expect(["pass", "skip"]).toContain(c.status);
    }
    expect(report.cases.find((c) => c.id === "msc4108.delegation.post")).toMatchObject({ status: "pass", message: "serves the 2024 API itself" });
    expect(r.stderr).toContain(`testing ${ours.url}`);
    expect(r.stderr).toContain("[17/17] pass msc4108.code.create-too-large [2024]");
  });
});

describe("against a non-conformant server", () => {
  test("--json: exactly the cases of its faults fail, by id, the others pass; exit 1", async () => {
    const r = await cli(broken.url, "--json");
    expect(r.code).toBe(1);
    const report = parse(r);
    expect(report.ok).toBe(false);
    const failed = report.cases.filter((c) => c.status === "fail").map((c) => `${c.id} ${c.prefix}`).sort();
    const stale = ["jssdk.scanner-put-clash", "msc4388.idempotent.previous-token-different-data", "msc4388.idempotent.state-unchanged-after-replays",
      "msc4388.open.get-after-put", "msc4388.open.put-stale-token-different-data"];
    const weak = ["msc4108.create", "msc4108.get", "msc4108.get-if-none-match-current", "msc4108.get-if-none-match-stale", "msc4108.put-if-match-current", "msc4108.put-if-match-stale"];
    expect(failed).toEqual([...stale.flatMap((id) => [`${id} ${PREFIX_V1}`, `${id} ${PREFIX_UNSTABLE}`]), ...weak.map((id) => `${id} ${PREFIX_2024}`)].sort());
    expect(report.counts).toEqual({ total: 195, pass: 149 - failed.length, fail: failed.length, skip: 46 });
  });

  test("text: each failure is a FAIL line with the rule and what the server answered, and the summary names them", async () => {
    const r = await cli(broken.url, "--api", "2025");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("FAIL msc4388.open.put-stale-token-different-data [unstable]: PUT with a stale sequence_token and other data is a concurrent write: 409 M_CONCURRENT_WRITE (unstable: IO_ELEMENT_MSC4388_CONCURRENT_WRITE)\n      status: expected 409, got 200\n");
    expect(r.stdout).toMatch(/^178 cases: 126 passed, 10 failed, 42 skipped \(failed: msc4388\.open\.put-stale-token-different-data, msc4388\.open\.get-after-put, .*\)$/m);
  });
});

describe("a server that cannot be tested, and bad arguments", () => {
  test("nobody listening: one line on stderr, no stack, exit 1; with --json the report says why", async () => {
    const closed = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", logLevel: false });
    const url = closed.url;
    await closed.close();
    const r = await cli(url);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`qr-login conformance: cannot reach ${url}: connection refused (is the server running, on this port?)\n`);
    const j = await cli(url, "--json");
    expect(j.code).toBe(1);
    expect(parse(j)).toEqual({
      target: url, api: "all", slow: false, ok: false, error: `cannot reach ${url}: connection refused (is the server running, on this port?)`,
      apis: [], notes: [], counts: { total: 0, pass: 0, fail: 0, skip: 0 }, cases: [],
    });
  });

  test.each([
    [[], /give the rendezvous base URL/],
    [["http://127.0.0.1:1", "http://127.0.0.1:2"], /one base URL only/],
    [["http://127.0.0.1:1", "--api", "2023"], /--api must be 2024 or 2025 \(got 2023\)/],
    [["matrix.example.org"], /"matrix\.example\.org" is not a URL; give the server's base URL, e.g\. https:\/\/matrix\.example\.org/],
    [[`http://127.0.0.1:1${PREFIX_V1}`, "--api", "2024"], /".*\/v1\/rendezvous" names the 2025 API, but --api asks for 2024/],
    [["http://127.0.0.1:1", "--fast"], /unknown option --fast/],
  ])("%j: exit 2 with a usage message", async (args, message) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^qr-login conformance: ${message.source}`));
    expect(r.stdout).toBe("");
  });

  test("the cases ship inside dist/cli.js: the command reads no file of the repository", () => {
    const meta = JSON.parse(readFileSync(path.join(REPO_ROOT, "dist/meta/cli.json"), "utf8")) as { inputs: Record<string, unknown> };
    expect(Object.keys(meta.inputs)).toContain("main/conformance/rendezvous-cases.json");
    expect(readFileSync(path.join(REPO_ROOT, "dist/cli.js"), "utf8")).toContain("msc4388.code.token-and-id-grammar");
  });

  test("--help: the usage, exit 0", async () => {
    const r = await cli("--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: qr-login conformance <rendezvous base URL> \[--api 2024\|2025\] \[--json\] \[--slow\]/);
  });
});
