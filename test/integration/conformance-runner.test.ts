// The conformance runner (main/conformance/) against a server nobody here wrote it for: a second,
// independent implementation (test/support/nonconformant-rendezvous.ts) that passes every black-box
// case when correct, and, with one fault switched on, fails exactly the cases that check that rule.
// Also: how a base URL is turned into the APIs to test (prefixes, delegation), and that a server that
// is not there, stops answering or never answers ends the run quickly with one clear reason.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { CaseResult, HttpClient } from "../../main/conformance/index.js";
import { createHttpClient, discover, parseTarget, PREFIX_2024, PREFIX_UNSTABLE, PREFIX_V1, runConformance, TargetError, TargetInputError } from "../../main/conformance/index.js";
import type { Fault } from "../support/nonconformant-rendezvous.js";
import { NonconformantRendezvous } from "../support/nonconformant-rendezvous.js";

let http: HttpClient;
const started: { stop(): Promise<void> }[] = [];
beforeAll(() => { http = createHttpClient({ timeoutMs: 5000 }); });
afterEach(async () => { for (const s of started.splice(0)) await s.stop(); });
afterAll(() => http.close());

async function serve(faults: Fault[] = []): Promise<NonconformantRendezvous> {
  const s = await new NonconformantRendezvous(new Set(faults)).start();
  started.push(s);
  return s;
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  started.push({ stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A run as the command makes it; given the server, with its clock under control, so expiry cases run at once. */
async function run(url: string, clockOf?: NonconformantRendezvous): Promise<CaseResult[]> {
  const found = await discover(http, parseTarget(url, "all"));
  return runConformance(found, { http, ...(clockOf ? { control: { advanceClock: (ms: number) => { clockOf.offsetMs += ms; } } } : {}) });
}

const key = (r: CaseResult) => `${r.id} [${r.prefix === PREFIX_V1 ? "v1" : r.prefix === PREFIX_UNSTABLE ? "unstable" : "2024"}]`;
const failed = (results: CaseResult[]) => results.filter((r) => r.status === "fail").map(key).sort();
const onBoth = (...ids: string[]) => ids.flatMap((id) => [`${id} [unstable]`, `${id} [v1]`]);

describe("against a second implementation", () => {
  test("a correct one passes every black-box case on both 2025 prefixes and the 2024 API", async () => {
    const s = await serve();
    const results = await run(s.url);
    expect(failed(results)).toEqual([]);
    // The same cases as against our own server: everything but the set-ups and the expiry waits.
    expect(results.filter((r) => r.status === "pass")).toHaveLength(149);
    expect(results.filter((r) => r.status === "skip").every((r) => /needs a server|--slow/.test(r.message))).toBe(true);
    // and the expiry cases too, when its clock can be moved on
    const timed = await run(s.url, s);
    expect(failed(timed)).toEqual([]);
    expect(timed.filter((r) => r.status === "pass")).toHaveLength(156);
  });

  const FAULTS: [Fault, string[]][] = [
    ["stale-write-accepted", onBoth("jssdk.scanner-put-clash", "msc4388.idempotent.previous-token-different-data",
      "msc4388.idempotent.state-unchanged-after-replays", "msc4388.open.get-after-put", "msc4388.open.put-stale-token-different-data")],
    ["no-404-after-delete", [...onBoth("msc4388.code.delete-twice", "msc4388.code.put-after-delete", "msc4388.open.get-after-delete"), "msc4108.get-after-delete [2024]"]],
    ["token-unchanged-on-identical-write", onBoth("msc.token.changes-on-identical-rewrite")],
    ["only-previous-token-idempotent", onBoth("msc.idempotent.any-stale-token-identical-data", "msc.idempotent.two-generations-old-token-identical-data")],
    ["weak-etag-2024", ["msc4108.create", "msc4108.get", "msc4108.get-if-none-match-current", "msc4108.get-if-none-match-stale",
      "msc4108.put-if-match-current", "msc4108.put-if-match-stale"].map((id) => `${id} [2024]`)],
    ["no-etag-on-2024-get", ["msc4108.get", "msc4108.get-if-none-match-current", "msc4108.get-if-none-match-stale"].map((id) => `${id} [2024]`)],
    ["charset-on-2024-payload", ["msc4108.get", "msc4108.get-if-none-match-stale"].map((id) => `${id} [2024]`)],
  ];

  test.each(FAULTS)("%s: exactly the cases that check it fail", async (fault, expected) => {
    const s = await serve([fault]);
    expect(failed(await run(s.url, s))).toEqual([...expected].sort());
  });

  test("a failure says what the rule wants and what the server answered", async () => {
    const s = await serve(["stale-write-accepted", "weak-etag-2024", "charset-on-2024-payload"]);
    const results = await run(s.url, s);
    const message = (id: string, prefix = PREFIX_V1) => results.find((r) => r.id === id && r.prefix === prefix)?.message;
    expect(message("msc4388.open.put-stale-token-different-data")).toBe("status: expected 409, got 200");
    expect(message("msc4388.open.get-after-put")).toBe("setup PUT with a stale token: expected 409, got 200");
    expect(message("msc4108.create", PREFIX_2024)).toMatch(/^header ETag: weak \(W\/"[\w-]+"\), as a compressing proxy makes it; clients send it back in If-Match and get 412$/);
    expect(message("msc4108.put-if-match-current", PREFIX_2024)).toBe("status: expected 202, got 412 M_CONCURRENT_WRITE");
  });
});

describe("finding the APIs behind a base URL", () => {
  test("a base URL finds every API; one that ends in a prefix names that API alone", async () => {
    const s = await serve();
    expect((await discover(http, parseTarget(s.url, "all"))).endpoints.map((e) => e.prefix)).toEqual([PREFIX_V1, PREFIX_UNSTABLE, PREFIX_2024]);
    expect((await discover(http, parseTarget(`${s.url}/`, "2025"))).endpoints.map((e) => e.prefix)).toEqual([PREFIX_V1, PREFIX_UNSTABLE]);
    expect((await discover(http, parseTarget(`${s.url}${PREFIX_UNSTABLE}/`, "all"))).endpoints.map((e) => e.prefix)).toEqual([PREFIX_UNSTABLE]);
    expect(() => parseTarget(`${s.url}${PREFIX_2024}`, "2025")).toThrow(TargetInputError);
    expect(() => parseTarget("matrix.example.org", "all")).toThrow(/not a URL.*https:\/\/matrix\.example\.org/);
    expect(() => parseTarget("ftp://example.org", "all")).toThrow(TargetInputError);
  });

  test("a homeserver that delegates the 2024 API (307, as Synapse's msc4108_delegation_endpoint) is followed, and the delegation is a case", async () => {
    const target = await serve();
    const homeserver = await listen((req, res) => {
      if (req.method === "POST" && req.url === PREFIX_2024) {
        res.writeHead(307, { location: `${target.url}${PREFIX_2024}`, "access-control-allow-origin": "*", "content-length": "0" }).end();
      } else {
        res.writeHead(404, { "content-type": "application/json", "access-control-allow-origin": "*" }).end('{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}');
      }
    });
    const found = await discover(http, parseTarget(homeserver, "all"));
    expect(found.endpoints).toEqual([{ api: "2024", prefix: PREFIX_2024, url: `${target.url}${PREFIX_2024}` }]);
    expect(found.notes).toEqual([`${PREFIX_V1}: not served (404 M_UNRECOGNIZED)`, `${PREFIX_UNSTABLE}: not served (404 M_UNRECOGNIZED)`]);
    const results = await runConformance(found, { http });
    expect(failed(results)).toEqual([]);
    expect(results.find((r) => r.id === "msc4108.delegation.post")).toMatchObject({ status: "pass", message: `delegates to ${target.url}${PREFIX_2024}` });
  });

  test("a server with no rendezvous API, or only one that refuses anonymous creates, is one clear error", async () => {
    const html = await listen((_req, res) => { res.writeHead(200, { "content-type": "text/html" }).end("<html>Element</html>"); });
    await expect(discover(http, parseTarget(html, "all"))).rejects.toThrow(new TargetError(`no rendezvous API to test at ${html}:\n`
      + `  ${PREFIX_V1}: discovery answered 200 (text/html), not {"create_available": true}\n`
      + `  ${PREFIX_UNSTABLE}: discovery answered 200 (text/html), not {"create_available": true}\n`
      + `  ${PREFIX_2024}: creating a session answered 200 (text/html), not 201 {"url": …}`));
    const closed = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end('{"create_available":false}');
    });
    await expect(discover(http, parseTarget(closed, "2025"))).rejects.toThrow(/no 2025 API to test.*\n.*does not let an anonymous client create sessions \(create_available: false\)/);
  });

  test("--api names an API the server lacks: an error, even though another API is there", async () => {
    const s = await serve();
    const only2025 = await listen((req, res) => {
      if (req.url?.startsWith(PREFIX_2024)) { res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_UNRECOGNIZED","error":"no"}'); return; }
      res.writeHead(200, { "content-type": "application/json" }).end('{"create_available":true}');
    });
    await expect(discover(http, parseTarget(only2025, "2024"))).rejects.toThrow(`no 2024 API to test at ${only2025}:\n  ${PREFIX_2024}: not served (404 M_UNRECOGNIZED)`);
    expect((await discover(http, parseTarget(s.url, "2024"))).endpoints).toHaveLength(1);
  });
});

describe("bounded", () => {
  test("nobody listening: one error, at once", async () => {
    const url = await listen(() => undefined);
    await started.splice(0)[0]!.stop();
    await expect(discover(http, parseTarget(url, "all"))).rejects.toThrow(new TargetError(`cannot reach ${url}: connection refused (is the server running, on this port?)`));
  });

  test("a server that never answers: the request times out", async () => {
    const url = await listen(() => undefined);
    const impatient = createHttpClient({ timeoutMs: 300 });
    try {
      await expect(discover(impatient, parseTarget(url, "2025"))).rejects.toThrow(`cannot reach ${url}: no answer within 300 ms`);
    } finally {
      impatient.close();
    }
  });

  test("a server that goes away mid-run: three cases fail for it, the rest are not run", async () => {
    const s = await serve();
    const found = await discover(http, parseTarget(s.url, "all"));
    await started.splice(0)[0]!.stop();
    const results = await runConformance(found, { http });
    const failures = results.filter((r) => r.status === "fail");
    expect(failures.slice(0, 3).every((r) => r.message.startsWith("no answer: ") && r.message.includes("connection refused"))).toBe(true);
    expect(failures.slice(3).every((r) => r.message.startsWith("not run: the server stopped answering"))).toBe(true);
    expect(failures.length + results.filter((r) => r.status === "skip").length).toBe(results.length);
  });
});
