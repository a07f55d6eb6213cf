// Long-poll (docs/protocol.md "Long-poll") against real listening servers: held GETs of both APIs
// return on a write (same instance, another instance on Redis, another process on one SQLite file),
// on DELETE, on expiry and at the bound, each answered as a normal GET would be; clients that do
// not opt in see no change; caps answer at once; a held GET spends the request budget once; a
// client that goes away is released at once; closing the server answers every held GET.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { RendezvousServerConfig, RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { MSC4108_PATH, startRendezvousServer } from "../../server/rendezvous/index.js";
import type { CliServer } from "../support/cli-server.js";
import { startCliServer } from "../support/cli-server.js";
import { closeHttpAgent, httpRequest } from "../support/http.js";
import type { Reply } from "../support/http.js";
import type { TestRedis } from "../support/redis-server.js";
import { freePort, startRedis } from "../support/redis-server.js";

const P = "/_matrix/client/v1/rendezvous";
const JSON_H = { "Content-Type": "application/json" };
const TEXT = { "Content-Type": "text/plain" };
const NO_LIMITS = { maxSessions: 0, maxSessionsPerIp: 0, createPerWindow: 0, requestsPerWindow: 0 };
const FIELD = "io.github.qr_login.long_poll";

let tmp: string;
let redis: TestRedis;
const servers: { close(): Promise<unknown> }[] = [];
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "qrl-rz-lp-"));
  redis = await startRedis();
});
afterAll(async () => {
  for (const s of servers.reverse()) await s.close();
  await redis?.stop();
  closeHttpAgent();
  rmSync(tmp, { recursive: true, force: true });
});

async function start(extra: Partial<RendezvousServerConfig> = {}): Promise<RunningRendezvousServer> {
  const s = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", logLevel: false, limits: NO_LIMITS, ...extra });
  servers.push(s);
  return s;
}

async function cli(args: string[]): Promise<CliServer> {
  const s = await startCliServer(args);
  servers.push({ close: () => s.stop("SIGKILL") });
  return s;
}

async function create25(base: string, data = "first"): Promise<{ id: string; token: string; json: Record<string, unknown> }> {
  const r = await httpRequest(base, "POST", P, JSON_H, JSON.stringify({ data }));
  expect(r.status).toBe(200);
  return { id: r.json!.id as string, token: r.json!.sequence_token as string, json: r.json! };
}

async function create24(base: string, data = "first"): Promise<{ path: string; etag: string; json: Record<string, unknown> }> {
  const r = await httpRequest(base, "POST", MSC4108_PATH, TEXT, data);
  expect(r.status).toBe(201);
  return { path: new URL(r.json!.url as string).pathname, etag: r.headers.get("etag")!, json: r.json! };
}

interface Pending { reply: Promise<Reply>; answeredAt(): number | undefined; startedAt: number }

/** Starts a GET and notes when it is answered (without awaiting it). */
function pending(base: string, p: string, headers: Record<string, string> = {}): Pending {
  const startedAt = performance.now();
  let at: number | undefined;
  const reply = httpRequest(base, "GET", p, headers).then((r) => { at = performance.now(); return r; });
  return { reply, startedAt, answeredAt: () => at };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metric(base: string, line: RegExp): Promise<number> {
  const text = (await httpRequest(base, "GET", "/metrics")).text;
  const m = line.exec(text);
  return m ? Number(m[1]) : NaN;
}

async function heldNow(base: string): Promise<number> {
  return metric(base, /^rendezvous_held_requests (\d+)$/m);
}

/** Waits until the server holds `n` GETs (the held GETs were registered). */
async function untilHeld(base: string, n: number): Promise<void> {
  for (let i = 0; i < 200 && (await heldNow(base)) !== n; i++) await sleep(10);
  expect(await heldNow(base)).toBe(n);
}

describe("advertisement", () => {
  test("discovery, create and session GETs of the 2025 API and the 2024 create carry it; with long_poll_ms 0 nothing does", async () => {
    const on = await start({ longPollMs: 7000 });
    const advert = { query_parameter: "since", max_wait_ms: 7000 };
    expect((await httpRequest(on.url, "GET", P)).json).toEqual({ create_available: true, [FIELD]: advert });
    const c = await create25(on.url);
    expect(c.json[FIELD]).toEqual(advert);
    expect((await httpRequest(on.url, "GET", `${P}/${c.id}`)).json![FIELD]).toEqual(advert);
    expect((await create24(on.url)).json).toEqual({ url: expect.any(String), [FIELD]: advert });

    const off = await start({ longPollMs: 0 });
    expect((await httpRequest(off.url, "GET", P)).json).toEqual({ create_available: true });
    const c0 = await create25(off.url);
    expect(c0.json[FIELD]).toBeUndefined();
    // `since` is ignored: the GET answers at once.
    const t0 = performance.now();
    const got = await httpRequest(off.url, "GET", `${P}/${c0.id}?since=${c0.token}`);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(got.json).toEqual({ data: "first", sequence_token: c0.token, expires_in_ms: expect.any(Number) });
    expect(Object.keys((await create24(off.url)).json)).toEqual(["url"]);
    expect(await heldNow(off.url)).toBeNaN(); // no such gauge when off
  });
});

describe("2025 API", () => {
  let base: string;
  beforeAll(async () => { base = (await start({ longPollMs: 20_000 })).url; });

  test("a held GET returns on a PUT, with the new data, as a normal GET would", async () => {
    const c = await create25(base);
    const g = pending(base, `${P}/${c.id}?since=${c.token}`);
    await untilHeld(base, 1);
    await sleep(200);
    expect(g.answeredAt()).toBeUndefined();
    const putAt = performance.now();
    const put = await httpRequest(base, "PUT", `${P}/${c.id}`, JSON_H, JSON.stringify({ sequence_token: c.token, data: "second" }));
    const r = await g.reply;
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ data: "second", sequence_token: put.json!.sequence_token });
    expect(r.json!.expires_in_ms as number).toBeGreaterThan(170_000);
    expect(g.answeredAt()! - putAt).toBeLessThan(500);
    expect(await heldNow(base)).toBe(0);
  });

  test("a held GET returns 404 M_NOT_FOUND on DELETE", async () => {
    const c = await create25(base);
    const g = pending(base, `${P}/${c.id}?since=${c.token}`);
    await untilHeld(base, 1);
    expect((await httpRequest(base, "DELETE", `${P}/${c.id}`)).status).toBe(200);
    const r = await g.reply;
    expect([r.status, r.json!.errcode]).toEqual([404, "M_NOT_FOUND"]);
  });

  test("a stale or foreign since, an unknown session, or no since at all: answered at once", async () => {
    const c = await create25(base);
    for (const p of [`${P}/${c.id}?since=not-the-token`, `${P}/${c.id}`, `${P}/${c.id}?since=${c.token}&since=x`, `${P}/AAAAAAAAAAAAAAAAAAAAAA?since=${c.token}`]) {
      const t0 = performance.now();
      const r = await httpRequest(base, "GET", p);
      expect([p, performance.now() - t0 < 1000]).toEqual([p, true]);
      if (p.includes(c.id)) expect(r.json).toMatchObject({ data: "first", sequence_token: c.token });
      else expect(r.status).toBe(404);
    }
    expect(await heldNow(base)).toBe(0);
  });

  test("a held GET whose client goes away is released at once", async () => {
    const c = await create25(base);
    const u = new URL(base);
    const req = http.request({ host: u.hostname, port: u.port, path: `${P}/${c.id}?since=${c.token}`, agent: false });
    req.on("error", () => undefined);
    req.end();
    await untilHeld(base, 1);
    const before = await metric(base, /^rendezvous_long_poll_total\{outcome="client_closed"\} (\d+)$/m);
    req.destroy();
    await untilHeld(base, 0);
    expect(await metric(base, /^rendezvous_long_poll_total\{outcome="client_closed"\} (\d+)$/m)).toBe(before + 1);
  });
});

describe("bounds, expiry, caps and budgets", () => {
  test("at the bound a held GET answers as a normal GET: 200 with the same token (2025), 304 (2024)", async () => {
    const s = await start({ longPollMs: 700 });
    const c = await create25(s.url);
    const c24 = await create24(s.url);
    const g = pending(s.url, `${P}/${c.id}?since=${c.token}`);
    const g24 = pending(s.url, `${c24.path}?since=${encodeURIComponent(c24.etag)}`, { "If-None-Match": c24.etag });
    const [r, r24] = await Promise.all([g.reply, g24.reply]);
    expect(r.json).toMatchObject({ data: "first", sequence_token: c.token });
    expect([r24.status, r24.headers.get("etag"), r24.text]).toEqual([304, c24.etag, ""]);
    for (const x of [g, g24]) {
      expect(x.answeredAt()! - x.startedAt).toBeGreaterThanOrEqual(650);
      expect(x.answeredAt()! - x.startedAt).toBeLessThan(3000);
    }
    expect(await metric(s.url, /^rendezvous_long_poll_total\{outcome="bound"\} (\d+)$/m)).toBe(2);
  });

  test("a held GET returns 404 when its session expires before the bound", async () => {
    const s = await start({ longPollMs: 20_000, ttlMs: 1500, ttl2024Ms: 1500 });
    const c = await create25(s.url);
    const c24 = await create24(s.url);
    const g = pending(s.url, `${P}/${c.id}?since=${c.token}`);
    const g24 = pending(s.url, `${c24.path}?since=1`, { "If-None-Match": c24.etag });
    const [r, r24] = await Promise.all([g.reply, g24.reply]);
    expect([r.status, r.json!.errcode, r24.status, r24.json!.errcode]).toEqual([404, "M_NOT_FOUND", 404, "M_NOT_FOUND"]);
    for (const x of [g, g24]) expect(x.answeredAt()! - x.startedAt).toBeLessThan(5000);
  });

  test("beyond the caps of held GETs (per IP, in total) a GET is answered at once, never refused", async () => {
    const s = await start({ longPollMs: 20_000, limits: { ...NO_LIMITS, maxHeldPerIp: 2, maxHeld: 3 } });
    const c = await create25(s.url);
    const held = [pending(s.url, `${P}/${c.id}?since=${c.token}`), pending(s.url, `${P}/${c.id}?since=${c.token}`)];
    await untilHeld(s.url, 2);
    const t0 = performance.now();
    const third = await httpRequest(s.url, "GET", `${P}/${c.id}?since=${c.token}`);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(third.json).toMatchObject({ data: "first", sequence_token: c.token });
    expect(await metric(s.url, /^rendezvous_long_poll_refused_total (\d+)$/m)).toBe(1);
    await httpRequest(s.url, "PUT", `${P}/${c.id}`, JSON_H, JSON.stringify({ sequence_token: c.token, data: "go" }));
    for (const r of await Promise.all(held.map((h) => h.reply))) expect(r.json!.data).toBe("go");
  });

  test("a held GET spends the per-IP request budget once, however long it waits", async () => {
    const s = await start({ longPollMs: 600, limits: { ...NO_LIMITS, requestsPerWindow: 4 } });
    const c = await create25(s.url); // creates have their own budget
    const first = await httpRequest(s.url, "GET", `${P}/${c.id}?since=${c.token}`); // 1: held until the bound
    expect(first.status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await httpRequest(s.url, "GET", `${P}/${c.id}`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  test("closing the server answers its held GETs at once", async () => {
    const s = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", logLevel: false, limits: NO_LIMITS, longPollMs: 20_000 });
    const c = await create25(s.url);
    const g = pending(s.url, `${P}/${c.id}?since=${c.token}`);
    await untilHeld(s.url, 1);
    const t0 = performance.now();
    await s.close();
    const r = await g.reply;
    expect(r.json).toMatchObject({ data: "first", sequence_token: c.token });
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("2024 API", () => {
  let base: string;
  beforeAll(async () => { base = (await start({ longPollMs: 20_000 })).url; });

  test("since + If-None-Match on the current ETag is held until a PUT, then 200 with the new body and ETag", async () => {
    const s = await create24(base);
    const g = pending(base, `${s.path}?since=${encodeURIComponent(s.etag)}`, { "If-None-Match": s.etag });
    await untilHeld(base, 1);
    await sleep(200);
    expect(g.answeredAt()).toBeUndefined();
    const put = await httpRequest(base, "PUT", s.path, { ...TEXT, "If-Match": s.etag }, "second");
    expect(put.status).toBe(202);
    const r = await g.reply;
    expect([r.status, r.text, r.headers.get("etag"), r.headers.get("content-type")]).toEqual([200, "second", put.headers.get("etag"), "text/plain"]);
  });

  test("a held 2024 GET returns 404 on DELETE", async () => {
    const s = await create24(base);
    const g = pending(base, `${s.path}?since=x`, { "If-None-Match": s.etag });
    await untilHeld(base, 1);
    expect((await httpRequest(base, "DELETE", s.path)).status).toBe(204);
    expect((await g.reply).status).toBe(404);
  });

  test("without since, or without If-None-Match, or with a stale one: the GET answers at once, as before", async () => {
    const s = await create24(base);
    const cases: [Record<string, string>, string, number][] = [
      [{ "If-None-Match": s.etag }, s.path, 304],
      [{}, `${s.path}?since=1`, 200],
      [{ "If-None-Match": '"old"' }, `${s.path}?since=1`, 200],
    ];
    for (const [headers, p, status] of cases) {
      const t0 = performance.now();
      const r = await httpRequest(base, "GET", p, headers);
      expect([p, headers, r.status, performance.now() - t0 < 1000]).toEqual([p, headers, status, true]);
    }
  });
});

describe("several instances", () => {
  test("on one Redis: a write or DELETE through A wakes GETs held on B, within milliseconds, on both APIs", async () => {
    const [a, b] = await Promise.all([
      cli(["--store", redis.url, "--redis-prefix", "lp:", "--listen", `127.0.0.1:${await freePort()}`]),
      cli(["--store", redis.url, "--redis-prefix", "lp:", "--listen", `127.0.0.1:${await freePort()}`]),
    ]);
    const c = await create25(a.url);
    const g = pending(b.url, `${P}/${c.id}?since=${c.token}`);
    const s24 = await create24(a.url);
    const g24 = pending(b.url, `${s24.path}?since=1`, { "If-None-Match": s24.etag });
    await untilHeld(b.url, 2);
    const t0 = performance.now();
    const [put, put24] = await Promise.all([
      httpRequest(a.url, "PUT", `${P}/${c.id}`, JSON_H, JSON.stringify({ sequence_token: c.token, data: "from A" })),
      httpRequest(a.url, "PUT", s24.path, { ...TEXT, "If-Match": s24.etag }, "from A"),
    ]);
    const [r, r24] = await Promise.all([g.reply, g24.reply]);
    expect(r.json).toMatchObject({ data: "from A", sequence_token: put.json!.sequence_token });
    expect([r24.status, r24.text, r24.headers.get("etag")]).toEqual([200, "from A", put24.headers.get("etag")]);
    // "Within a few ms": the PUTs' own round trips plus pub/sub; generous for a loaded CI machine.
    expect(Math.max(g.answeredAt()!, g24.answeredAt()!) - t0).toBeLessThan(500);

    const g2 = pending(b.url, `${P}/${c.id}?since=${put.json!.sequence_token as string}`);
    await untilHeld(b.url, 1);
    expect((await httpRequest(a.url, "DELETE", `${P}/${c.id}`)).status).toBe(200);
    expect((await g2.reply).status).toBe(404);
  }, 30_000);

  test("two processes on one SQLite file: a write through one wakes a GET held on the other", async () => {
    const file = `sqlite:${path.join(tmp, "shared.sqlite")}`;
    const [a, b] = await Promise.all([
      cli(["--store", file, "--listen", `127.0.0.1:${await freePort()}`]),
      cli(["--store", file, "--listen", `127.0.0.1:${await freePort()}`]),
    ]);
    const c = await create25(a.url);
    const g = pending(b.url, `${P}/${c.id}?since=${c.token}`);
    await untilHeld(b.url, 1);
    const t0 = performance.now();
    await httpRequest(a.url, "PUT", `${P}/${c.id}`, JSON_H, JSON.stringify({ sequence_token: c.token, data: "from A" }));
    expect((await g.reply).json).toMatchObject({ data: "from A" });
    expect(g.answeredAt()! - t0).toBeLessThan(2000);
  }, 30_000);
});
