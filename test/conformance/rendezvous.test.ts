// Runs every case of main/conformance/rendezvous-cases.json through the conformance runner (the one
// `qr-login conformance` uses) against a real listening server on 127.0.0.1, for each store (memory,
// SQLite, Redis): the 2025 cases on the v1 and the unstable prefix, the msc4108.* cases on the 2024
// API. The runner checks the rules as the MSC (or, for the 2024 API, Element's clients) states them;
// the cases that need control of the server's configuration or clock get it here (ServerControl:
// servers in the other set-ups, a clock to advance). On top, this file pins what *our* server
// answers: the case file's expectation wherever the runner accepts several answers, except the
// deliberate differences from Synapse listed in OURS, and the specifics in EXTRAS.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { CaseResult, Endpoint, HttpClient, Reply, ServerControl } from "../../main/conformance/index.js";
import { CASES, createHttpClient, planCases, PREFIX_2024, PREFIX_UNSTABLE, PREFIX_V1, runCase, SPECS } from "../../main/conformance/index.js";
import type { Limits, RendezvousMode, RendezvousStore, RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { ID_PATTERN, MSC4108_PATH, openStore, startRendezvousServer } from "../../server/rendezvous/index.js";
import type { TestRedis } from "../support/redis-server.js";
import { startRedis } from "../support/redis-server.js";

const VALID_TOKEN = "syt_valid_access_token";
const TTL_MS = 180_000;
/** The 2024 lifetime of these servers: Synapse's fixed 60 s, the lower end of our range. */
const TTL_2024_MS = 60_000;
const CAP = 3;
const CREATES_PER_WINDOW = 2;

/** The APIs as the runner finds them on our server (the URL is filled in per server). */
const ENDPOINTS: Endpoint[] = [
  { api: "2025", prefix: PREFIX_V1, url: "" },
  { api: "2025", prefix: PREFIX_UNSTABLE, url: "" },
  { api: "2024", prefix: PREFIX_2024, url: "" },
];
const PLAN = planCases({ base: "", endpoints: ENDPOINTS });

/** Where our server answers other than the case file (which records Synapse), and why. */
const OURS: Record<string, { status: number; errcode: string | null; why: string }> = {
  "msc4388.auth.discovery-no-token": { status: 200, errcode: null, why: "MSC: 200 create_available:false; Synapse's 401 makes the js-sdk POC throw" },
  "msc4388.capacity.soft-limit-eviction": { status: 200, errcode: null, why: "at the cap we refuse new sessions and never evict live ones" },
  "msc4388.capacity.hard-limit-eviction": { status: 200, errcode: null, why: "as above" },
  "msc4388.code.stable-path-not-served-by-synapse": { status: 200, errcode: null, why: "we serve the stable v1 prefix too" },
  "jssdk.legacy-unstable-feature-flag": { status: 404, errcode: "M_UNRECOGNIZED", why: "the standalone server has no /versions" },
  "msc4108.delegation.post": { status: 400, errcode: "M_INVALID_PARAM", why: "we are the delegation target: the POST is served, its JSON body refused" },
  "msc4108.put-if-match-stale": { status: 412, errcode: "M_CONCURRENT_WRITE", why: "the MSC's code in errcode too, not Synapse's M_UNKNOWN" },
  "msc4108.capacity.soft": { status: 200, errcode: null, why: "refuse, don't evict" },
  "msc4108.capacity.hard": { status: 200, errcode: null, why: "refuse, don't evict" },
};

/** Our server's specifics beyond the rules the runner checks for every server. */
const EXTRAS: Record<string, (r: Reply, result: CaseResult, base: string) => void> = {
  "msc4388.code.token-and-id-grammar": (r) => expect(r.json?.id).toMatch(ID_PATTERN),
  "msc4388.code.put-expiry-not-extended": (_r, result) => expect(result.message).toBe("writes do not extend the lifetime"),
  "msc4388.code.options-preflight": (r) => expect(r.headers.get("content-length")).toBe("0"),
  "recommended.rate-limit-shape": (r) => {
    expect(Number.isInteger(r.json?.retry_after_ms)).toBe(true);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  },
  "msc4108.create": (r, _result, base) => {
    // Synapse hands out https://<public_baseurl>/_synapse/client/rendezvous/<ULID>; ours is under
    // the POST's own prefix on the public base URL (here the test server's http origin).
    const url = r.json?.url as string;
    expect(url.startsWith(`${base}${MSC4108_PATH}/`)).toBe(true);
    expect(url.slice(`${base}${MSC4108_PATH}/`.length)).toMatch(ID_PATTERN);
    expect(r.headers.get("location")).toBe(url);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.headers.get("cache-control")).toBe("no-store, no-transform");
    const lifetime = Date.parse(r.headers.get("expires")!) - Date.parse(r.headers.get("date")!);
    expect(Math.abs(lifetime - TTL_2024_MS)).toBeLessThanOrEqual(1000);
  },
  "msc4108.get": (r) => {
    expect(r.headers.get("content-encoding")).toBe("identity"); // keeps nginx's gzip off the ETag
    expect(r.headers.get("cache-control")).toBe("no-store, no-transform");
  },
  "msc4108.put-if-match-stale": (r) => {
    expect(r.json?.["org.matrix.msc4108.errcode"]).toBe("M_CONCURRENT_WRITE");
    // Synapse puts the current ETag on the 412; we do not (routes-2024.ts says why).
    expect(r.headers.get("etag")).toBeNull();
  },
};

type ServerKind = "open" | "off" | "auth" | "limited" | "capped";
const STORE_KINDS = ["memory", "sqlite", "redis"] as const;

describe.each(STORE_KINDS)("rendezvous conformance, %s store", (storeKind) => {
  let redis: TestRedis | undefined;
  let tmp: string;
  let offset = 0;
  let http: HttpClient;
  const servers = new Map<ServerKind, RunningRendezvousServer>();
  const stores: RendezvousStore[] = [];

  async function storeFor(name: string): Promise<RendezvousStore> {
    const store = storeKind === "memory" ? await openStore("memory")
      : storeKind === "sqlite" ? await openStore(`sqlite:${path.join(tmp, `${name}.sqlite`)}`)
        : await openStore(redis!.url, { redisPrefix: `t:${name}:` });
    stores.push(store);
    return store;
  }

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "qrl-rz-conf-"));
    http = createHttpClient({ timeoutMs: 10_000 });
    if (storeKind === "redis") redis = await startRedis();
    const none: Partial<Limits> = { maxSessions: 0, maxSessionsPerIp: 0, createPerWindow: 0, requestsPerWindow: 0 };
    const configs: [ServerKind, RendezvousMode, Partial<Limits>][] = [
      ["open", "open", none],
      ["off", "off", none],
      ["auth", "authenticated", none],
      ["limited", "open", { ...none, createPerWindow: CREATES_PER_WINDOW, requestsPerWindow: 1000 }],
      ["capped", "open", { ...none, maxSessionsPerIp: CAP }],
    ];
    for (const [kind, mode, limits] of configs) {
      servers.set(kind, await startRendezvousServer({
        host: "127.0.0.1", port: 0, mode, store: storeKind, storeInstance: await storeFor(kind), ttlMs: TTL_MS, ttl2024Ms: TTL_2024_MS, limits,
        // With long-poll on (its default): clients that do not opt in see no change.
        longPollMs: 20_000,
        logLevel: false, now: () => Date.now() + offset,
        verifier: async (t) => (t === VALID_TOKEN ? { userId: "@alice:example.org" } : null),
        ...(storeKind === "redis" ? { redisPrefix: `t:${kind}:` } : {}),
      }));
    }
  });

  afterAll(async () => {
    http?.close();
    for (const s of servers.values()) await s.close();
    for (const s of stores) await s.close();
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const control = (): ServerControl => ({
    off: servers.get("off")!.url,
    authenticated: { base: servers.get("auth")!.url, token: VALID_TOKEN },
    rateLimited: { base: servers.get("limited")!.url, createsPerWindow: CREATES_PER_WINDOW },
    capped: { base: servers.get("capped")!.url, sessionsPerClient: CAP },
    advanceClock: (ms) => { offset += ms; },
  });

  for (const { c, endpoint } of PLAN) {
    test(`${c.name} [${endpoint.prefix === PREFIX_V1 ? "v1" : endpoint.prefix === PREFIX_UNSTABLE ? "unstable" : "2024"}]`, async () => {
      const base = servers.get("open")!.url;
      const real = { ...endpoint, url: base + endpoint.prefix };
      const result = await runCase(c, real, { base, endpoints: ENDPOINTS.map((e) => ({ ...e, url: base + e.prefix })) }, { control: control(), http });
      expect({ status: result.status, message: result.message }).toEqual({ status: "pass", message: expect.any(String) });

      // Our server's own answer: the file's, or our documented difference from Synapse.
      const reply = result.reply!;
      const ours = OURS[c.name] ?? { status: c.expect_status, errcode: c.expect_errcode };
      expect(reply.status).toBe(ours.status);
      const errcode = ours.errcode === "IO_ELEMENT_MSC4388_CONCURRENT_WRITE" && endpoint.prefix === PREFIX_V1 ? "M_CONCURRENT_WRITE" : ours.errcode;
      if (errcode) expect(reply.json?.errcode).toBe(errcode);
      EXTRAS[c.name]?.(reply, result, base);
    });
  }

  test("every case of the file has a spec and runs here, on each prefix it applies to", () => {
    expect(CASES.length).toBe(107);
    expect(Object.keys(SPECS).sort()).toEqual(CASES.map((c) => c.name).sort());
    expect(PLAN.length).toBe(195);
    for (const name of [...Object.keys(OURS), ...Object.keys(EXTRAS)]) expect(CASES.some((c) => c.name === name)).toBe(true);
  });
});
