// Runs every black-box case of test/fixtures/rendezvous-cases.json against a real listening
// server on 127.0.0.1, for each store (memory, SQLite, Redis): the 2025 cases on both the unstable
// and the v1 prefix, the msc4108.* cases on the 2024 API. Setup steps written in a case's prose
// notes are encoded in SCENARIOS below; where a case records Synapse behaviour that the MSC (or this
// server's refuse-don't-evict rule, docs/operators.md "Limits and refused requests") overrides, the
// scenario says so and asserts our behaviour instead.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Limits, RendezvousMode, RendezvousStore, RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { ID_PATTERN, MSC4108_PATH, openStore, startRendezvousServer } from "../../server/rendezvous/index.js";
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
/** The 2024 lifetime of these servers: Synapse's fixed 60 s, the lower end of our range, so the expiry case runs as written. */
const TTL_2024_MS = 60_000;
/** Synapse's session path in the cases; ours is the URL the POST hands out. */
const SYNAPSE_SESSION_PATH = "/_synapse/client/rendezvous/{id}";

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
  /** 2024 API: POST text/plain; sets vars.id, vars.session (the URL's path) and vars.etag. */
  create2024(data?: string): Promise<void>;
  /** 2024 API: PUT text/plain with If-Match; a 202's ETag goes into vars[capture]. */
  put2024(etag: string, data: string, capture?: string): Promise<Reply>;
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

const del2024 = async (ctx: Ctx) => { expect((await ctx.call("DELETE", ctx.vars.session!)).status).toBe(204); };
const putFooBaz2024 = async (ctx: Ctx) => { expect((await ctx.put2024(ctx.vars.etag!, "foo=baz", "etag2")).status).toBe(202); };
const STRONG_ETAG = /^"[!#-~]+"$/;

/** What every 2024 answer about a session carries (Synapse's test asserts the same set). */
function expect2024SessionHeaders(r: Reply): void {
  expect(r.headers.get("etag")).toMatch(STRONG_ETAG);
  expect(Number.isNaN(Date.parse(r.headers.get("expires") ?? ""))).toBe(false);
  expect(Number.isNaN(Date.parse(r.headers.get("last-modified") ?? ""))).toBe(false);
  expect(r.headers.get("access-control-allow-origin")).toBe("*");
  expect((r.headers.get("access-control-expose-headers") ?? "").toLowerCase()).toContain("etag");
  expect(r.headers.get("cache-control")).toBe("no-store, no-transform");
  expect(r.headers.get("pragma")).toBe("no-cache");
}

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

  // ---- the 2024 API (MSC4108 2024, ETags) ----
  "msc4108.disabled.post": { check: (r) => expect(body(r).errcode).toBe("M_UNRECOGNIZED") },
  "msc4108.delegation.post": {
    expect: {
      status: 400, errcode: "M_INVALID_PARAM",
      why: "we are the delegation target, not a delegating homeserver: the POST is served, and its application/json body refused (text/plain only). Delegation by a fake Synapse is tested in test/integration/rendezvous-2024-jssdk.test.ts",
    },
  },
  "msc4108.create": {
    check: (r, ctx) => {
      // Synapse hands out https://<public_baseurl>/_synapse/client/rendezvous/<ULID>; our session URL
      // is under the POST's own prefix on the public base URL (here the test server's http origin).
      const url = body(r).url as string;
      expect(url.startsWith(`${ctx.base}${MSC4108_PATH}/`)).toBe(true);
      expect(url.slice(`${ctx.base}${MSC4108_PATH}/`.length)).toMatch(ID_PATTERN);
      expect2024SessionHeaders(r);
      expect(r.headers.get("content-type")).toBe("application/json");
      expect(r.headers.get("content-length")).toBe(String(Buffer.byteLength(r.text)));
      expect(r.headers.get("location")).toBe(url);
      // The lifetime is the server's 2024 TTL, as Expires − Date (both whole seconds).
      const lifetime = Date.parse(r.headers.get("expires")!) - Date.parse(r.headers.get("date")!);
      expect(Math.abs(lifetime - TTL_2024_MS)).toBeLessThanOrEqual(1000);
    },
  },
  "msc4108.get": {
    check: (r, ctx) => {
      expect2024SessionHeaders(r);
      expect(r.headers.get("etag")).toBe(ctx.vars.etag);
      expect(r.headers.get("content-type")).toBe("text/plain"); // exactly: matrix-js-sdk compares the string
      expect(r.headers.get("content-length")).toBe("7");
      expect(r.headers.get("content-encoding")).toBe("identity"); // keeps nginx's gzip off the ETag
      expect(r.text).toBe("foo=bar");
    },
  },
  "msc4108.get-if-none-match-current": {
    check: (r, ctx) => { expect2024SessionHeaders(r); expect(r.headers.get("etag")).toBe(ctx.vars.etag); expect(r.text).toBe(""); },
  },
  "msc4108.put-if-match-current": {
    check: (r, ctx) => {
      expect2024SessionHeaders(r);
      expect(r.headers.get("etag")).not.toBe(ctx.vars.etag);
      expect(r.headers.get("content-type")).toBe("text/plain");
      expect(r.headers.get("content-length")).toBe("0");
    },
  },
  "msc4108.put-if-match-stale": {
    setup: putFooBaz2024,
    expect: {
      status: 412, errcode: "M_CONCURRENT_WRITE",
      why: "Synapse sends errcode M_UNKNOWN plus org.matrix.msc4108.errcode M_CONCURRENT_WRITE; we send M_CONCURRENT_WRITE in both fields, so a client reading either sees the MSC's code",
    },
    check: (r) => {
      expect(body(r)["org.matrix.msc4108.errcode"]).toBe("M_CONCURRENT_WRITE");
      // Synapse puts the current ETag on the 412; we do not (routes-2024.ts says why).
      expect(r.headers.get("etag")).toBeNull();
    },
  },
  "msc4108.get-if-none-match-stale": {
    setup: putFooBaz2024,
    check: (r, ctx) => { expect(r.headers.get("etag")).toBe(ctx.vars.etag2); expect(r.text).toBe("foo=baz"); expect(r.headers.get("content-type")).toBe("text/plain"); },
  },
  "msc4108.delete": { check: (r) => { expect(r.headers.get("access-control-allow-origin")).toBe("*"); expect(r.text).toBe(""); } },
  "msc4108.get-after-delete": { setup: del2024 },
  "msc4108.expiry": {
    setup: async (ctx) => {
      const before = await ctx.call("GET", ctx.vars.session!);
      expect([before.status, before.text]).toEqual([200, "foo=bar"]);
      ctx.advance(TTL_2024_MS);
    },
    check: (r) => expect(body(r).errcode).toBe("M_NOT_FOUND"),
  },
  // Synapse evicts the oldest sessions when full; we refuse new ones (the caps are shared with the 2025 API).
  "msc4108.capacity.soft": {
    server: "capped",
    fresh: true,
    setup: async (ctx) => {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await ctx.call("POST", MSC4108_PATH, `more-${i}`, { "Content-Type": "text/plain" })).status);
      expect(statuses).toEqual([201, 201, 429]);
      ctx.advance(1000);
    },
    expect: { status: 200, errcode: null, why: "no eviction: at the cap new creates get 429 and session A stays readable (Synapse evicts A)" },
    check: (r) => expect(r.text).toBe("foo=bar"),
  },
  "msc4108.capacity.hard": {
    server: "capped",
    fresh: true,
    setup: async (ctx) => {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await ctx.call("POST", MSC4108_PATH, `more-${i}`, { "Content-Type": "text/plain" })).status);
      expect(statuses).toEqual([201, 201, 429, 429, 429]);
      const refused = await ctx.call("POST", MSC4108_PATH, "more", { "Content-Type": "text/plain" });
      expect(body(refused).errcode).toBe("M_LIMIT_EXCEEDED");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    },
    expect: { status: 200, errcode: null, why: "no eviction: creates beyond the cap get 429 and session A stays readable (Synapse evicts A)" },
    check: (r) => expect(r.text).toBe("foo=bar"),
  },
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
    return value.replace(/\{(id|seq0|seq1|seq2|token|etag|etag2|session)\}/g, (_m, k: string) => vars[k] ?? `missing-${k}`);
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
        const server = servers.get(kind)!;
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
          create2024: async (data = "foo=bar") => {
            const r = await call(base, "POST", MSC4108_PATH, data, { "Content-Type": "text/plain" });
            expect(r.status).toBe(201);
            const url = new URL(body(r).url as string);
            vars.session = url.pathname;
            vars.id = url.pathname.split("/").at(-1)!;
            vars.etag = r.headers.get("etag")!;
          },
          put2024: async (etag, data, capture) => {
            const r = await call(base, "PUT", vars.session!, data, { "Content-Type": "text/plain", "If-Match": etag });
            if (capture && r.status === 202) vars[capture] = r.headers.get("etag")!;
            return r;
          },
        };
        const needsSession = isMsc4108
          ? /setup: POST|POST A/.test(c.notes)
          : /\{id\}|\{seq0\}/.test(c.path + JSON.stringify(c.body)) || scenario?.server === "capped";
        if (scenario?.fresh) ctx.advance(TTL_MS + 1);
        if (needsSession && isMsc4108) await ctx.create2024();
        else if (needsSession) await ctx.create(setupData(c), kind === "auth" ? { Authorization: `Bearer ${VALID_TOKEN}` } : {});
        if (scenario?.setup) await scenario.setup(ctx);
        if (/precondition: a plain GET/.test(c.notes)) expect((await ctx.call("GET", `${v.prefix}/${vars.id}`)).status).toBe(200);

        const p = c.path === SYNAPSE_SESSION_PATH ? "{session}" : c.path.startsWith(UNSTABLE) ? v.prefix + c.path.slice(UNSTABLE.length) : c.path;
        const reply = await call(base, c.method, expand(p, vars) as string, expand(c.body, vars), expand(c.headers, vars) as Record<string, string>);

        const expected = scenario?.expect ?? { status: c.expect_status, errcode: c.expect_errcode };
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
        if (scenario?.check) await scenario.check(reply, ctx);
      });
    }
  }

  test("every case of the conformance file was run", () => {
    expect(cases.length).toBe(107);
    for (const name of Object.keys(SCENARIOS)) expect(cases.some((c) => c.name === name)).toBe(true);
  });
});
