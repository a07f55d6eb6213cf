// The 2024 rendezvous API (MSC4108 2024) beyond the conformance cases, on every store: the
// entity-tag rules we define (routes-2024.ts, conditional.ts), what a request may look like, bytes
// that round-trip exactly, the two APIs' sessions kept apart in one store, session URLs behind
// proxies, and each API switched off on its own. Route logic, through fastify's inject (stores real:
// SQLite files and a redis-server).
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import Database from "better-sqlite3";
import type { FastifyInstance } from "fastify";
import type { RendezvousApi, RendezvousServer, RendezvousServerConfig, RendezvousStore } from "../../server/rendezvous/index.js";
import { buildRendezvousServer, MSC4108_PATH, openStore, sequenceToken, SqliteStore } from "../../server/rendezvous/index.js";
import type { Reply } from "../support/http.js";
import { injectRequest } from "../support/inject.js";
import type { TestRedis } from "../support/redis-server.js";
import { startRedis } from "../support/redis-server.js";

const V1 = "/_matrix/client/v1/rendezvous";
const TEXT = { "Content-Type": "text/plain" };
const NO_LIMITS = { maxSessions: 0, maxSessionsPerIp: 0, createPerWindow: 0, requestsPerWindow: 0 };
const STORES = ["memory", "sqlite", "redis"] as const;

let redis: TestRedis | undefined;
let tmp: string;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "qrl-rz-2024-"));
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await redis?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

let serial = 0;
async function storeOf(kind: (typeof STORES)[number]): Promise<RendezvousStore> {
  const n = serial++;
  const store = kind === "memory" ? await openStore("memory")
    : kind === "sqlite" ? await openStore(`sqlite:${path.join(tmp, `s${n}.sqlite`)}`)
      : await openStore(redis!.url, { redisPrefix: `t2024:${n}:` });
  cleanup.push(() => store.close());
  return store;
}

async function start(store: RendezvousStore, extra: Partial<RendezvousServerConfig> = {}): Promise<RendezvousServer> {
  const s = await buildRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: store.kind, storeInstance: store, logLevel: false, limits: NO_LIMITS, ...extra });
  cleanup.push(() => s.close());
  return s;
}

interface Session { path: string; etag: string; url: string }

async function create(base: FastifyInstance, data: string | Buffer = "hello", headers: Record<string, string> = TEXT): Promise<Session> {
  const r = await injectRequest(base, "POST", MSC4108_PATH, headers, data);
  expect(r.status).toBe(201);
  const url = r.json!.url as string;
  return { url, path: new URL(url).pathname, etag: r.headers.get("etag")! };
}

const put = (base: FastifyInstance, p: string, ifMatch: string | string[] | undefined, data: string | Buffer, type = "text/plain") =>
  injectRequest(base, "PUT", p, { "Content-Type": type, ...(ifMatch !== undefined ? { "If-Match": ifMatch } : {}) }, data);

function expectError(r: Reply, status: number, errcode: string): void {
  expect([r.status, r.json?.errcode]).toEqual([status, errcode]);
  expect(r.headers.get("content-type")).toMatch(/^application\/json/);
  expect(r.headers.get("access-control-allow-origin")).toBe("*");
  expect(typeof r.json?.error).toBe("string");
}

/** A body sent chunked (no Content-Length), as a streaming client would: 1000 bytes at a time. */
function chunked(base: FastifyInstance, p: string, body: Buffer): Promise<Reply> {
  const chunks = Array.from({ length: Math.ceil(body.length / 1000) }, (_, i) => body.subarray(i * 1000, (i + 1) * 1000));
  return injectRequest(base, "POST", p, { "Content-Type": "text/plain", "Transfer-Encoding": "chunked" }, Readable.from(chunks));
}

describe.each(STORES)("2024 API, %s store", (kind) => {
  let base: FastifyInstance;
  let store: RendezvousStore;
  /** The server's clock runs this far ahead of the wall clock. */
  let ahead = 0;
  beforeAll(async () => {
    store = await storeOf(kind);
    base = (await start(store, { now: () => Date.now() + ahead })).app;
  });

  test("any bytes round-trip exactly, and every write changes the ETag, identical data included", async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const s = await create(base, all);
    const got = await injectRequest(base, "GET", s.path);
    expect(got.bytes.equals(all)).toBe(true);
    expect(got.headers.get("content-length")).toBe("256");
    const w1 = await put(base, s.path, s.etag, all);
    expect(w1.status).toBe(202);
    const e1 = w1.headers.get("etag")!;
    expect(e1).not.toBe(s.etag);
    const w2 = await put(base, s.path, e1, all);
    const e2 = w2.headers.get("etag")!;
    expect(e2).not.toBe(e1);
    // The superseded tags no longer match, whatever the data.
    expectError(await put(base, s.path, s.etag, all), 412, "M_CONCURRENT_WRITE");
    expectError(await put(base, s.path, e1, "other"), 412, "M_CONCURRENT_WRITE");
    const now = await injectRequest(base, "GET", s.path);
    expect([now.headers.get("etag"), now.bytes.equals(all)]).toEqual([e2, true]);
  });

  test("writes move Last-Modified but never Expires", async () => {
    const s = await create(base);
    const first = await injectRequest(base, "GET", s.path);
    ahead += 1100; // HTTP dates have whole seconds
    const w = await put(base, s.path, s.etag, "later");
    expect(w.headers.get("expires")).toBe(first.headers.get("expires"));
    expect(Date.parse(w.headers.get("last-modified")!)).toBeGreaterThan(Date.parse(first.headers.get("last-modified")!));
    const after = await injectRequest(base, "GET", s.path);
    expect(after.headers.get("last-modified")).toBe(w.headers.get("last-modified"));
    expect(after.headers.get("expires")).toBe(first.headers.get("expires"));
  });

  test("If-Match: a weak form of the current tag is honoured; *, lists, malformed and missing ones are refused", async () => {
    const s = await create(base);
    const opaque = s.etag.slice(1, -1);
    const w = await put(base, s.path, `W/"${opaque}"`, "via a weakening proxy");
    expect(w.status).toBe(202);
    const weakLower = await put(base, s.path, `w/${w.headers.get("etag")!}`, "again");
    expect(weakLower.status).toBe(202);
    const current = weakLower.headers.get("etag")!;
    expectError(await put(base, s.path, "*", "x"), 400, "M_INVALID_PARAM");
    expectError(await put(base, s.path, `${current}, "other"`, "x"), 400, "M_INVALID_PARAM");
    expectError(await put(base, s.path, [current, current], "x"), 400, "M_INVALID_PARAM"); // two header lines
    expectError(await put(base, s.path, opaque, "x"), 400, "M_INVALID_PARAM"); // no quotes
    expectError(await put(base, s.path, "", "x"), 400, "M_INVALID_PARAM");
    expectError(await put(base, s.path, undefined, "x"), 400, "M_MISSING_PARAM");
    expectError(await put(base, s.path, `W/"${opaque}"`, "stale weak"), 412, "M_CONCURRENT_WRITE");
    // None of the refused writes changed anything.
    const got = await injectRequest(base, "GET", s.path);
    expect([got.headers.get("etag"), got.text]).toEqual([current, "again"]);
  });

  test("If-None-Match: weak comparison over lists and *; anything else answers 200", async () => {
    const s = await create(base, "payload");
    const opaque = s.etag.slice(1, -1);
    for (const inm of [s.etag, `W/"${opaque}"`, `"x", ${s.etag}`, "*", `"a",,${s.etag} `]) {
      const r = await injectRequest(base, "GET", s.path, { "If-None-Match": inm });
      expect([inm, r.status, r.text]).toEqual([inm, 304, ""]);
      expect(r.headers.get("etag")).toBe(s.etag);
    }
    for (const inm of ['"other"', opaque, "garbage ,", ""]) {
      const r = await injectRequest(base, "GET", s.path, { "If-None-Match": inm });
      expect([inm, r.status, r.text]).toEqual([inm, 200, "payload"]);
    }
  });

  test("Content-Type: text/plain with any parameters or case is accepted; answers say exactly text/plain", async () => {
    const s = await create(base, "é", { "Content-Type": "text/plain; charset=utf-8" });
    const got = await injectRequest(base, "GET", s.path);
    expect(got.headers.get("content-type")).toBe("text/plain");
    expect(got.text).toBe("é");
    const w = await put(base, s.path, s.etag, "x", "Text/Plain;charset=UTF-8");
    expect(w.status).toBe(202);
    expect(w.headers.get("content-type")).toBe("text/plain");
    expectError(await injectRequest(base, "POST", MSC4108_PATH, { "Content-Type": "text/plainx" }, "x"), 400, "M_INVALID_PARAM");
    expectError(await injectRequest(base, "POST", MSC4108_PATH, { "Content-Type": "application/json" }, '"x"'), 400, "M_INVALID_PARAM");
    expectError(await injectRequest(base, "POST", MSC4108_PATH, {}, "x"), 400, "M_MISSING_PARAM");
    expectError(await put(base, s.path, w.headers.get("etag")!, "x", "application/octet-stream"), 400, "M_INVALID_PARAM");
  });

  test("bodies up to 4096 bytes; larger ones get 413 M_TOO_LARGE, with or without Content-Length", async () => {
    const s = await create(base, Buffer.alloc(4096, 0x61));
    expect((await injectRequest(base, "GET", s.path)).bytes.length).toBe(4096);
    expectError(await injectRequest(base, "POST", MSC4108_PATH, TEXT, Buffer.alloc(4097, 0x61)), 413, "M_TOO_LARGE");
    expectError(await put(base, s.path, s.etag, Buffer.alloc(4097, 0x61)), 413, "M_TOO_LARGE");
    const big = await chunked(base, MSC4108_PATH, Buffer.alloc(5000, 0x61));
    expect([big.status, big.json?.errcode]).toEqual([413, "M_TOO_LARGE"]);
    const small = await chunked(base, MSC4108_PATH, Buffer.alloc(3000, 0x62));
    expect(small.status).toBe(201);
    const got = await injectRequest(base, "GET", new URL(small.json!.url as string).pathname);
    expect(got.bytes.equals(Buffer.alloc(3000, 0x62))).toBe(true);
    // An empty body is a session too (matrix-js-sdk's creator sends "").
    const empty = await create(base, "");
    const e = await injectRequest(base, "GET", empty.path);
    expect([e.status, e.text, e.headers.get("content-length")]).toEqual([200, "", "0"]);
  });

  test("unknown sessions, paths and methods", async () => {
    const unknown = `${MSC4108_PATH}/AAAAAAAAAAAAAAAAAAAAAA`;
    expectError(await injectRequest(base, "GET", unknown), 404, "M_NOT_FOUND");
    expectError(await put(base, unknown, '"x"', "x"), 404, "M_NOT_FOUND");
    expectError(await injectRequest(base, "DELETE", unknown), 404, "M_NOT_FOUND");
    expectError(await injectRequest(base, "GET", `${MSC4108_PATH}/not-an-id`), 404, "M_NOT_FOUND");
    expectError(await injectRequest(base, "GET", `${MSC4108_PATH}/AAAAAAAAAAAAAAAAAAAAAA/extra`), 404, "M_UNRECOGNIZED");
    expectError(await injectRequest(base, "GET", MSC4108_PATH), 405, "M_UNRECOGNIZED");
    const s = await create(base);
    expectError(await injectRequest(base, "POST", s.path, TEXT, "x"), 405, "M_UNRECOGNIZED");
    expectError(await injectRequest(base, "GET", s.path, { "Sec-Fetch-Mode": "navigate" }), 403, "M_FORBIDDEN");
    expect((await injectRequest(base, "DELETE", s.path)).status).toBe(204);
    expectError(await injectRequest(base, "DELETE", s.path), 404, "M_NOT_FOUND");
    expectError(await put(base, s.path, s.etag, "x"), 404, "M_NOT_FOUND");
  });

  test("a 2025 and a 2024 session in one store never answer for each other", async () => {
    const s24 = await create(base, "twenty-four");
    const id24 = s24.path.split("/").at(-1)!;
    const token24 = s24.etag.slice(1, -1);
    const c25 = await injectRequest(base, "POST", V1, { "Content-Type": "application/json" }, JSON.stringify({ data: "twenty-five" }));
    const { id: id25, sequence_token: token25 } = c25.json as { id: string; sequence_token: string };
    // The 2024 session through the 2025 API (its ETag's token is a valid-looking sequence token).
    expectError(await injectRequest(base, "GET", `${V1}/${id24}`), 404, "M_NOT_FOUND");
    expectError(await injectRequest(base, "PUT", `${V1}/${id24}`, { "Content-Type": "application/json" }, JSON.stringify({ sequence_token: token24, data: "x" })), 404, "M_NOT_FOUND");
    expectError(await injectRequest(base, "DELETE", `${V1}/${id24}`), 404, "M_NOT_FOUND");
    // The 2025 session through the 2024 API.
    expectError(await injectRequest(base, "GET", `${MSC4108_PATH}/${id25}`), 404, "M_NOT_FOUND");
    expectError(await put(base, `${MSC4108_PATH}/${id25}`, `"${token25}"`, "x"), 404, "M_NOT_FOUND");
    expectError(await injectRequest(base, "DELETE", `${MSC4108_PATH}/${id25}`), 404, "M_NOT_FOUND");
    // Both intact.
    const g24 = await injectRequest(base, "GET", s24.path);
    expect([g24.text, g24.headers.get("etag")]).toEqual(["twenty-four", s24.etag]);
    expect((await injectRequest(base, "GET", `${V1}/${id25}`)).json).toMatchObject({ data: "twenty-five", sequence_token: token25 });
    // Both count against the one live-session total.
    expect(await store.liveCount(Date.now())).toBeGreaterThanOrEqual(2);
  });

  test("preflights allow the conditional headers; every answer has CORS", async () => {
    const s = await create(base);
    const pre = await injectRequest(base, "OPTIONS", s.path, { Origin: "https://app.example", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "if-match, content-type" });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-methods")).toContain("PUT");
    const allowed = (pre.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/,\s*/);
    for (const h of ["content-type", "if-match", "if-none-match", "authorization"]) expect(allowed).toContain(h);
    expect((await injectRequest(base, "OPTIONS", MSC4108_PATH)).status).toBe(204);
  });
});

describe("session URLs", () => {
  test("derived from the request's Host; X-Forwarded-* only from a trusted proxy; public_base_url wins", async () => {
    const store = await storeOf("memory");
    const direct = (await start(store)).app;
    const host = { Host: "127.0.0.1:8090" };
    const fwd = { "X-Forwarded-Proto": "https", "X-Forwarded-Host": "matrix.example.org" };
    const a = await create(direct, "x", { ...TEXT, ...host, ...fwd });
    expect(a.url.startsWith(`http://127.0.0.1:8090${MSC4108_PATH}/`)).toBe(true);
    const proxied = (await start(await storeOf("memory"), { trustProxy: true })).app;
    const b = await create(proxied, "x", { ...TEXT, ...host, ...fwd });
    expect(b.url.startsWith(`https://matrix.example.org${MSC4108_PATH}/`)).toBe(true);
    const based = (await start(await storeOf("memory"), { trustProxy: true, publicBaseUrl: "https://rz.example.net/behind/a/path" })).app;
    const c = await create(based, "x", { ...TEXT, ...host, ...fwd });
    expect(c.url.startsWith(`https://rz.example.net/behind/a/path${MSC4108_PATH}/`)).toBe(true);
    // The URL works once the proxy strips its prefix, i.e. on the server's own origin.
    expect((await injectRequest(based, "GET", new URL(c.url).pathname.replace("/behind/a/path", ""))).text).toBe("x");
    expectError(await injectRequest(direct, "POST", MSC4108_PATH, { ...TEXT, Host: "bad host/x" }, "x"), 400, "M_INVALID_PARAM");
  });
});

describe("either API can be switched off", () => {
  test.each([
    [["2025"], "2024"],
    [["2024"], "2025"],
  ] as [RendezvousApi[], RendezvousApi][])("serving only %j: the other API's paths are unknown", async (apis, off) => {
    const s = (await start(await storeOf("memory"), { apis })).app;
    const created24 = await injectRequest(s, "POST", MSC4108_PATH, TEXT, "x");
    const created25 = await injectRequest(s, "POST", V1, { "Content-Type": "application/json" }, JSON.stringify({ data: "x" }));
    if (off === "2024") {
      expectError(created24, 404, "M_UNRECOGNIZED");
      expect(created25.status).toBe(200);
    } else {
      expectError(created25, 404, "M_UNRECOGNIZED");
      expect(created24.status).toBe(201);
    }
    const health = await injectRequest(s, "GET", "/health");
    expect(health.json!.apis).toEqual(apis);
  });

  test("authenticated mode: 2024 creates need a valid access token too", async () => {
    const s = (await start(await storeOf("memory"), { mode: "authenticated", verifier: async (t) => (t === "good" ? { userId: "@a:hs" } : null) })).app;
    expectError(await injectRequest(s, "POST", MSC4108_PATH, TEXT, "x"), 401, "M_MISSING_TOKEN");
    expectError(await injectRequest(s, "POST", MSC4108_PATH, { ...TEXT, Authorization: "Bearer bad" }, "x"), 401, "M_UNKNOWN_TOKEN");
    const ok = await create(s, "x", { ...TEXT, Authorization: "Bearer good" });
    expect((await injectRequest(s, "GET", ok.path)).text).toBe("x"); // the session itself needs no token
  });
});

describe("SQLite files written before the 2024 API", () => {
  test("gain the new columns in place; their 2025 sessions keep working and stay 2025 sessions", async () => {
    const file = path.join(tmp, "old-schema.sqlite");
    const old = new Database(file);
    old.exec(`CREATE TABLE rendezvous_sessions (id TEXT PRIMARY KEY, data TEXT NOT NULL, token TEXT NOT NULL, counter INTEGER NOT NULL,
      expires_at INTEGER NOT NULL, owner TEXT NOT NULL) WITHOUT ROWID`);
    const id = "OLDOLDOLDOLDOLDOLDOLD0";
    const token = sequenceToken(id, 0, "from before");
    old.prepare("INSERT INTO rendezvous_sessions VALUES (?, ?, ?, 0, ?, '127.0.0.1')").run(id, "from before", token, Date.now() + 100_000);
    old.close();
    const store = new SqliteStore(file);
    cleanup.push(() => store.close());
    expect(await store.get("2025", id, Date.now())).toMatchObject({ data: "from before", sequenceToken: token });
    expect(await store.get("2024", id, Date.now())).toBeNull();
    const s = (await start(store)).app;
    expect((await injectRequest(s, "GET", `${V1}/${id}`)).json).toMatchObject({ data: "from before", sequence_token: token });
    expect((await injectRequest(s, "GET", `${MSC4108_PATH}/${id}`)).status).toBe(404);
    const s24 = await create(s, "new");
    expect((await injectRequest(s, "GET", s24.path)).text).toBe("new");
  });
});
