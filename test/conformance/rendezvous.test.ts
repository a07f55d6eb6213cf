// Runs every black-box case of test/fixtures/rendezvous-cases.json against a real listening
// server on 127.0.0.1, for each store (memory, SQLite, Redis), on both the unstable and the v1
// prefix. Setup steps written in a case's prose notes are encoded in SCENARIOS below; where a case
// records Synapse behaviour that the MSC (or this server's refuse-don't-evict rule, docs/operators.md
// "Limits and refused requests") overrides, the scenario says so and asserts our behaviour instead.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Limits, RendezvousMode, RendezvousStore, RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { openStore, startRendezvousServer } from "../../server/rendezvous/index.js";
import { closeHttpAgent, httpRequest } from "../support/http.js";
import type { Reply } from "../support/http.js";
import type { TestRedis } from "../support/redis-server.js";
import { startRedis } from "../support/redis-server.js";
import { fixturePath } from "../support/fixtures.js";

const CASES_FILE = fixturePath("rendezvous-cases.json");

interface Case {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  expect_status: number;
  expect_errcode: string | null;
  notes: string;
  source: string;
}

const cases: Case[] = JSON.parse(readFileSync(CASES_FILE, "utf8")) as Case[];
const UNSTABLE = "/_matrix/client/unstable/io.element.msc4388/rendezvous";
const V1 = "/_matrix/client/v1/rendezvous";
const VALID_TOKEN = "syt_valid_access_token";
const TTL_MS = 180_000;

type ServerKind = "open" | "off" | "auth" | "limited" | "capped";

interface Ctx {
  base: string;
  prefix: string;
  concurrentErrcode: string;
  vars: Record<string, string>;
  createdExpiresInMs?: number;
  advance(ms: number): void;
  call(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  create(data?: string, headers?: Record<string, string>): Promise<void>;
  put(token: string, data: string, capture?: string): Promise<Reply>;
}

interface Scenario {
  server?: ServerKind;
  /** Expire every earlier session (advance the clock past the TTL) before the case's own setup. */
  fresh?: boolean;
  setup?: (ctx: Ctx) => Promise<void>;
  /** Overrides of the case's expectation, with the reason (MSC vs Synapse, or out of scope). */
  expect?: { status: number; errcode: string | null; why: string };
  check?: (reply: Reply, ctx: Ctx) => Promise<void> | void;
}

const putFooBaz = async (ctx: Ctx) => { expect((await ctx.put(ctx.vars.seq0!, "foo=baz", "seq1")).status).toBe(200); };
const del = async (ctx: Ctx) => { expect((await ctx.call("DELETE", `${ctx.prefix}/${ctx.vars.id}`)).status).toBe(200); };
const pastExpiry = (ctx: Ctx) => ctx.advance(TTL_MS + 1);
const body = (r: Reply) => r.json ?? {};

const MSC4108_NOT_SERVED = {
  status: 404, errcode: "M_UNRECOGNIZED",
  why: "MSC4108 (2024, ETag API) is out of scope for this MSC4388 server: its paths are unknown paths here",
};

const SCENARIOS: Record<string, Scenario> = {
  "msc4388.open.put-stale-token-different-data": { setup: putFooBaz },
  "msc4388.open.get-after-put": {
    setup: async (ctx) => { await putFooBaz(ctx); expect((await ctx.put(ctx.vars.seq0!, "bar=baz")).status).toBe(409); },
    check: (r, ctx) => { expect(body(r)).toMatchObject({ data: "foo=baz", sequence_token: ctx.vars.seq1 }); expect(body(r).expires_in_ms).toBeGreaterThan(0); },
  },
  "msc4388.open.get-after-delete": { setup: del },
  "msc4388.open.create": { check: (r) => { expect(typeof body(r).id).toBe("string"); expect(typeof body(r).sequence_token).toBe("string"); expect(body(r).expires_in_ms).toBeGreaterThan(0); } },
  "msc4388.open.discovery.unauthenticated": { check: (r) => expect(body(r).create_available).toBe(true) },
  "msc4388.open.get-after-create": { check: (r, ctx) => { expect(body(r)).toMatchObject({ data: "foo=bar", sequence_token: ctx.vars.seq0 }); expect(body(r).expires_in_ms).toBeGreaterThan(0); } },
  "msc4388.open.put-current-token": { check: (r, ctx) => { expect(typeof body(r).sequence_token).toBe("string"); expect(body(r).sequence_token).not.toBe(ctx.vars.seq0); } },
  "msc4388.idempotent.replay-previous-token-same-data": { setup: putFooBaz, check: (r, ctx) => expect(body(r).sequence_token).toBe(ctx.vars.seq1) },
  "msc4388.idempotent.previous-token-different-data": { setup: putFooBaz },
  "msc4388.idempotent.state-unchanged-after-replays": {
    setup: async (ctx) => {
      await putFooBaz(ctx);
      expect(body(await ctx.put(ctx.vars.seq0!, "foo=baz")).sequence_token).toBe(ctx.vars.seq1);
      expect((await ctx.put(ctx.vars.seq0!, "something=else")).status).toBe(409);
    },
    check: (r, ctx) => expect(body(r)).toMatchObject({ data: "foo=baz", sequence_token: ctx.vars.seq1 }),
  },
  "msc4388.auth.discovery-no-token": {
    server: "auth",
    expect: { status: 200, errcode: null, why: "MSC: discovery answers 200 create_available:false (or 403) to a requester who may not create; Synapse's 401 makes the js-sdk POC throw" },
    check: (r) => expect(body(r).create_available).toBe(false),
  },
  "msc4388.auth.create-no-token": { server: "auth", check: (r) => expect(body(r).errcode).toBe("M_MISSING_TOKEN") },
  "msc4388.auth.discovery-with-token": { server: "auth", check: (r) => expect(body(r).create_available).toBe(true) },
  "msc4388.auth.create-with-token": { server: "auth", check: (r) => { expect(typeof body(r).id).toBe("string"); expect(body(r).expires_in_ms).toBeGreaterThan(0); } },
  "msc4388.auth.get-without-token": { server: "auth", check: (r, ctx) => expect(body(r)).toMatchObject({ data: "foo=bar", sequence_token: ctx.vars.seq0 }) },
  "msc4388.auth.put-without-token": { server: "auth", check: (r, ctx) => expect(body(r).sequence_token).not.toBe(ctx.vars.seq0) },
  "msc4388.auth.get-after-put-without-token": { server: "auth", setup: putFooBaz, check: (r, ctx) => expect(body(r)).toMatchObject({ data: "foo=baz", sequence_token: ctx.vars.seq1 }) },
  "msc4388.auth.delete-without-token": { server: "auth" },
  "msc4388.auth.get-after-delete": { server: "auth", setup: del },
  "msc4388.expiry.get-before-ttl": { check: (r) => expect(body(r).data).toBe("foo=bar") },
  "msc4388.expiry.get-at-ttl": { setup: async (ctx) => ctx.advance(ctx.createdExpiresInMs!) },
  // Synapse evicts the oldest live sessions when full; this server refuses new ones instead.
  "msc4388.capacity.soft-limit-eviction": {
    server: "capped",
    fresh: true,
    setup: async (ctx) => {
      for (let i = 0; i < 2; i++) expect((await ctx.call("POST", ctx.prefix, { data: `more-${i}` })).status).toBe(200);
      const refused = await ctx.call("POST", ctx.prefix, { data: "one too many" });
      expect(refused.status).toBe(429);
      expect(body(refused).errcode).toBe("M_LIMIT_EXCEEDED");
      ctx.advance(60_000);
    },
    expect: { status: 200, errcode: null, why: "no eviction: at the cap new creates get 429 and session A stays readable (Synapse evicts A)" },
    check: (r) => expect(body(r).data).toBe("foo=bar"),
  },
  "msc4388.capacity.hard-limit-eviction": {
    server: "capped",
    fresh: true,
    setup: async (ctx) => {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await ctx.call("POST", ctx.prefix, { data: `more-${i}` })).status);
      expect(statuses).toEqual([200, 200, 429, 429, 429]);
    },
    expect: { status: 200, errcode: null, why: "no eviction: creates beyond the cap get 429 and session A stays readable (Synapse evicts A)" },
    check: (r) => expect(body(r).data).toBe("foo=bar"),
  },
  "msc4388.code.create-empty-data": {
    check: async (r, ctx) => {
      const got = await ctx.call("GET", `${ctx.prefix}/${body(r).id as string}`);
      expect(body(got).data).toBe("");
    },
  },
  "msc4388.code.get-unknown-id": { check: (r) => expect(r.headers.get("content-type")).toMatch(/^application\/json/) },
  "msc4388.code.delete-twice": { setup: del },
  "msc4388.code.put-after-delete": { setup: del },
  "msc4388.code.put-after-expiry": { setup: async (ctx) => pastExpiry(ctx) },
  "msc4388.code.put-expiry-not-extended": {
    setup: async (ctx) => {
      ctx.advance(2000);
      expect((await ctx.put(ctx.vars.seq0!, "later")).status).toBe(200);
    },
    check: (r, ctx) => expect(body(r).expires_in_ms as number).toBeLessThanOrEqual(ctx.createdExpiresInMs! - 2000 + 50),
  },
  "msc4388.code.head-session": { check: (r) => expect(r.text).toBe("") },
  "msc4388.code.options-preflight": {
    check: (r) => {
      expect(r.headers.get("access-control-allow-origin")).toBe("*");
      const methods = r.headers.get("access-control-allow-methods") ?? "";
      for (const m of ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]) expect(methods).toContain(m);
      const allowed = (r.headers.get("access-control-allow-headers") ?? "").toLowerCase();
      expect(allowed).toContain("content-type");
      expect(allowed).toContain("authorization");
      expect(r.headers.get("content-length")).toBe("0");
    },
  },
  "msc4388.code.cors-on-error": {
    check: (r) => { expect(r.headers.get("access-control-allow-origin")).toBe("*"); expect(r.headers.get("content-type")).toMatch(/^application\/json/); },
  },
  "msc4388.code.success-headers": {
    check: (r) => {
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expect(r.headers.get("access-control-allow-origin")).toBe("*");
      expect(r.headers.get("cache-control")).toContain("no-store");
    },
  },
  "msc4388.code.stable-path-not-served-by-synapse": {
    expect: { status: 200, errcode: null, why: "we serve the stable v1 prefix too (the case's note says to expect 200 then)" },
    check: (r) => expect(body(r).create_available).toBe(true),
  },
  "msc4388.code.token-and-id-grammar": {
    check: (r) => {
      const grammar = /^[0-9A-Za-z._~-]{1,255}$/;
      expect(body(r).id).toMatch(grammar);
      expect(body(r).sequence_token).toMatch(grammar);
      expect((body(r).id as string).length).toBeLessThanOrEqual(22);
    },
  },
  "msc.idempotent.any-stale-token-identical-data": {
    setup: putFooBaz,
    check: async (r, ctx) => {
      expect(body(r).sequence_token).toBe(ctx.vars.seq1);
      expect(body(await ctx.call("GET", `${ctx.prefix}/${ctx.vars.id}`)).sequence_token).toBe(ctx.vars.seq1);
    },
  },
  "msc.idempotent.two-generations-old-token-identical-data": {
    setup: async (ctx) => {
      expect((await ctx.put(ctx.vars.seq0!, "v1", "seq1")).status).toBe(200);
      expect((await ctx.put(ctx.vars.seq1!, "v2", "seq2")).status).toBe(200);
    },
    check: (r, ctx) => expect(body(r).sequence_token).toBe(ctx.vars.seq2),
  },
  "msc.token.changes-on-identical-rewrite": {
    check: async (r, ctx) => {
      const seq1 = body(r).sequence_token as string;
      expect(seq1).not.toBe(ctx.vars.seq0);
      // and again, to be sure it is not a one-off
      const again = await ctx.put(seq1, "foo=bar");
      expect(body(again).sequence_token).not.toBe(seq1);
      expect(body(again).sequence_token).not.toBe(ctx.vars.seq0);
    },
  },
  "msc.token.stable-between-writes": {
    setup: putFooBaz,
    check: async (r, ctx) => {
      expect(body(r).sequence_token).toBe(ctx.vars.seq1);
      expect(body(await ctx.call("GET", `${ctx.prefix}/${ctx.vars.id}`)).sequence_token).toBe(ctx.vars.seq1);
    },
  },
  "msc.token.post-token-equals-first-get": { check: (r, ctx) => expect(body(r).sequence_token).toBe(ctx.vars.seq0) },
  "msc.expiry.window": {
    check: (r) => { expect(body(r).expires_in_ms as number).toBeGreaterThanOrEqual(120_000); expect(body(r).expires_in_ms as number).toBeLessThanOrEqual(300_000); },
  },
  "recommended.discovery-authenticated-mode-no-token": { server: "auth", check: (r) => expect(body(r).create_available).toBe(false) },
  "recommended.rate-limit-shape": {
    server: "limited",
    // The limit (2 creates a minute per IP) is shared by both prefixes: create until refused.
    setup: async (ctx) => {
      const statuses: number[] = [];
      for (let i = 0; i < 3 && statuses.at(-1) !== 429; i++) statuses.push((await ctx.call("POST", ctx.prefix, { data: "x" })).status);
      expect(statuses.at(-1)).toBe(429);
      expect(statuses.filter((st) => st !== 200 && st !== 429)).toEqual([]);
    },
    check: (r) => {
      expect(Number.isInteger(body(r).retry_after_ms)).toBe(true);
      expect(body(r).retry_after_ms as number).toBeGreaterThan(0);
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    },
  },
  "jssdk.create-response-shape": {
    check: (r) => { expect(typeof body(r).id).toBe("string"); expect(typeof body(r).expires_in_ms).toBe("number"); expect(typeof body(r).sequence_token).toBe("string"); },
  },
  "jssdk.post-then-get": { check: (r, ctx) => expect(body(r)).toMatchObject({ data: "foo=baa", sequence_token: ctx.vars.seq0 }) },
  "jssdk.creator-put-with-post-token": { check: (r, ctx) => { expect(typeof body(r).sequence_token).toBe("string"); expect(body(r).sequence_token).not.toBe(ctx.vars.seq0); } },
  "jssdk.scanner-put-clash": { setup: async (ctx) => { expect((await ctx.put(ctx.vars.seq0!, "other")).status).toBe(200); } },
  "jssdk.get-after-expiry-404": { setup: async (ctx) => pastExpiry(ctx) },
  "jssdk.legacy-unstable-feature-flag": {
    expect: { status: 404, errcode: "M_UNRECOGNIZED", why: "OPTIONAL: /versions belongs to a homeserver; the standalone rendezvous server serves only the rendezvous paths" },
  },
  "jssdk.poc.discovery-with-token": { server: "auth", check: (r) => expect(typeof body(r).create_available).toBe("boolean") },
};

function serverFor(c: Case, scenario: Scenario | undefined): ServerKind {
  if (scenario?.server) return scenario.server;
  if (/msc4388_mode=off|feature not configured|config: default/.test(c.notes)) return "off";
  if (/msc4388_mode=authenticated/.test(c.notes)) return "auth";
  return "open";
}

/** Data of the setup POST, as written in the notes; "foo=bar" by default. */
function setupData(c: Case): string {
  const m = /setup: (?:authenticated )?POST[^{'\n]*?(?:\{\\?"data\\?":\s*\\?"([^"\\]*)\\?"\}|'([^']*)')/.exec(c.notes);
  return m ? (m[1] ?? m[2] ?? "foo=bar") : "foo=bar";
}

function expand(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === "string") {
    const rep = /^<'(.)' x (\d+)>$/.exec(value) ?? /^<U\+([0-9A-F]{4}) x (\d+)>$/.exec(value);
    if (rep) {
      const ch = rep[1]!.length === 1 ? rep[1]! : String.fromCodePoint(parseInt(rep[1]!, 16));
      return ch.repeat(Number(rep[2]));
    }
    return value.replace(/\{(id|seq0|seq1|seq2|token|etag|etag2)\}/g, (_m, k: string) => vars[k] ?? `missing-${k}`);
  }
  if (Array.isArray(value)) return value.map((v) => expand(v, vars));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, vars)]));
  return value;
}

const STORE_KINDS = ["memory", "sqlite", "redis"] as const;

describe.each(STORE_KINDS)("rendezvous conformance, %s store", (storeKind) => {
  let redis: TestRedis | undefined;
  let tmp: string;
  let offset = 0;
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
    if (storeKind === "redis") redis = await startRedis();
    const none: Partial<Limits> = { maxSessions: 0, maxSessionsPerIp: 0, createPerWindow: 0, requestsPerWindow: 0 };
    const configs: [ServerKind, RendezvousMode, Partial<Limits>][] = [
      ["open", "open", none],
      ["off", "off", none],
      ["auth", "authenticated", none],
      ["limited", "open", { ...none, createPerWindow: 2, requestsPerWindow: 1000 }],
      ["capped", "open", { ...none, maxSessionsPerIp: 3 }],
    ];
    for (const [kind, mode, limits] of configs) {
      servers.set(kind, await startRendezvousServer({
        host: "127.0.0.1", port: 0, mode, store: storeKind, storeInstance: await storeFor(kind), ttlMs: TTL_MS, limits,
        logLevel: false, now: () => Date.now() + offset,
        verifier: async (t) => (t === VALID_TOKEN ? { userId: "@alice:example.org" } : null),
        ...(storeKind === "redis" ? { redisPrefix: `t:${kind}:` } : {}),
      }));
    }
  });

  afterAll(async () => {
    for (const s of servers.values()) await s.close();
    for (const s of stores) await s.close();
    await redis?.stop();
    closeHttpAgent();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function call(base: string, method: string, p: string, reqBody?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const h: Record<string, string> = { ...headers };
    let payload: string | undefined;
    if (reqBody !== null && reqBody !== undefined) {
      if (typeof reqBody === "string") payload = reqBody;
      else { payload = JSON.stringify(reqBody); h["Content-Type"] ??= "application/json"; }
    }
    return httpRequest(base, method, p, h, payload);
  }

  // Each case runs on the unstable prefix (as written) and on v1 (same rules, stable errcode).
  const variants = [
    { label: "unstable", prefix: UNSTABLE, errcode: "IO_ELEMENT_MSC4388_CONCURRENT_WRITE" },
    { label: "v1", prefix: V1, errcode: "M_CONCURRENT_WRITE" },
  ];

  for (const c of cases) {
    const scenario = SCENARIOS[c.name];
    const isMsc4108 = c.name.startsWith("msc4108.");
    for (const v of isMsc4108 || !c.path.startsWith(UNSTABLE) ? variants.slice(0, 1) : variants) {
      test(`${c.name} [${v.label}]`, async () => {
        const kind = serverFor(c, scenario);
        const server = servers.get(isMsc4108 ? "open" : kind)!;
        const base = server.url;
        const vars: Record<string, string> = { token: VALID_TOKEN, etag: "\"etag\"", etag2: "\"etag2\"", id: "0123456789abcdefghijkl" };
        const ctx: Ctx = {
          base, prefix: v.prefix, concurrentErrcode: v.errcode, vars,
          advance: (ms) => { offset += ms; },
          call: (m, p, b, h) => call(base, m, p, b, h),
          create: async (data = "foo=bar", headers = {}) => {
            const r = await call(base, "POST", v.prefix, { data }, headers);
            expect(r.status).toBe(200);
            vars.id = body(r).id as string;
            vars.seq0 = body(r).sequence_token as string;
            ctx.createdExpiresInMs = body(r).expires_in_ms as number;
          },
          put: async (token, data, capture) => {
            const r = await call(base, "PUT", `${v.prefix}/${vars.id}`, { sequence_token: token, data });
            if (capture && r.status === 200) vars[capture] = body(r).sequence_token as string;
            return r;
          },
        };
        const needsSession = !isMsc4108 && (/\{id\}|\{seq0\}/.test(c.path + JSON.stringify(c.body)) || scenario?.server === "capped");
        if (scenario?.fresh) ctx.advance(TTL_MS + 1);
        if (needsSession) await ctx.create(setupData(c), kind === "auth" ? { Authorization: `Bearer ${VALID_TOKEN}` } : {});
        if (!isMsc4108 && scenario?.setup) await scenario.setup(ctx);
        if (/precondition: a plain GET/.test(c.notes)) expect((await ctx.call("GET", `${v.prefix}/${vars.id}`)).status).toBe(200);

        const p = c.path.startsWith(UNSTABLE) ? v.prefix + c.path.slice(UNSTABLE.length) : c.path;
        const reply = await call(base, c.method, expand(p, vars) as string, expand(c.body, vars), expand(c.headers, vars) as Record<string, string>);

        const expected = isMsc4108 ? MSC4108_NOT_SERVED : scenario?.expect ?? { status: c.expect_status, errcode: c.expect_errcode };
        expect(reply.status).toBe(expected.status);
        let errcode = expected.errcode;
        if (errcode === "IO_ELEMENT_MSC4388_CONCURRENT_WRITE") errcode = v.errcode;
        if (errcode) expect(body(reply).errcode).toBe(errcode);
        // Every error is a JSON Matrix error with CORS, whatever the case asserts.
        if (reply.status >= 400) {
          expect(reply.headers.get("content-type")).toMatch(/^application\/json/);
          expect(typeof body(reply).errcode).toBe("string");
          expect(typeof body(reply).error).toBe("string");
          expect(reply.headers.get("access-control-allow-origin")).toBe("*");
        }
        if (!isMsc4108 && scenario?.check) await scenario.check(reply, ctx);
      });
    }
  }

  test("every case of the conformance file was run", () => {
    expect(cases.length).toBe(107);
    for (const name of Object.keys(SCENARIOS)) expect(cases.some((c) => c.name === name)).toBe(true);
  });
});
