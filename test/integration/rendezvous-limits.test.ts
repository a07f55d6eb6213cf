// Abuse limits of the rendezvous server: per-IP request and create rates (429 with retry_after_ms
// and Retry-After), live-session caps that refuse new sessions and never evict live ones, the
// trusted-proxy client address (addresses, a hop count), IPv6 clients counted per /64, and 10,000
// live sessions in the memory store. The 2024 API shares every one of these with the 2025 API. Route
// logic only, through fastify's inject (the client address is 127.0.0.1 there); the limits on
// connections are rendezvous-stalls.test.ts's.
import { afterEach, describe, expect, test } from "@jest/globals";
import type { FastifyInstance } from "fastify";
import type { Limits, RendezvousServer } from "../../server/rendezvous/index.js";
import { buildRendezvousServer, MemoryStore, MSC4108_PATH } from "../../server/rendezvous/index.js";
import type { Reply } from "../support/http.js";
import { injectRequest } from "../support/inject.js";

const P = "/_matrix/client/unstable/io.element.msc4388/rendezvous";
const H = { "Content-Type": "application/json" };
const NONE: Partial<Limits> = { maxSessions: 0, maxSessionsPerIp: 0, createPerWindow: 0, requestsPerWindow: 0 };

let server: RendezvousServer | undefined;
let offset = 0;
async function start(limits: Partial<Limits>, extra: { trustProxy?: boolean | number | string[] } = {}): Promise<FastifyInstance> {
  server = await buildRendezvousServer({
    host: "127.0.0.1", port: 0, mode: "open", store: "memory", limits: { ...NONE, ...limits }, logLevel: false,
    now: () => Date.now() + offset, ...extra,
  });
  return server.app;
}
afterEach(async () => { await server?.close(); server = undefined; });

async function create(base: FastifyInstance, data = "x", headers: Record<string, string> = {}) {
  return injectRequest(base, "POST", P, { ...H, ...headers }, JSON.stringify({ data }));
}

async function create2024(base: FastifyInstance, data = "x", headers: Record<string, string> = {}) {
  return injectRequest(base, "POST", MSC4108_PATH, { "Content-Type": "text/plain", ...headers }, data);
}

function expectLimited(r: Reply, maxMs: number): void {
  expect([r.status, r.json!.errcode]).toEqual([429, "M_LIMIT_EXCEEDED"]);
  const ms = r.json!.retry_after_ms as number;
  expect(Number.isInteger(ms) && ms > 0 && ms <= maxMs).toBe(true);
  expect(Number(r.headers.get("retry-after"))).toBe(Math.ceil(ms / 1000));
  expect(r.headers.get("access-control-allow-origin")).toBe("*");
}

describe("rate limits", () => {
  test("polling beyond the per-IP request limit gets 429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After", async () => {
    const base = await start({ requestsPerWindow: 10, windowMs: 30_000 });
    const { id } = (await create(base)).json as { id: string };
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await injectRequest(base, "GET", `${P}/${id}`)).status);
    expect(statuses).toEqual([...Array(10).fill(200), 429, 429]);
    const limited = await injectRequest(base, "GET", `${P}/${id}`);
    expect(limited.status).toBe(429);
    expect(limited.json!.errcode).toBe("M_LIMIT_EXCEEDED");
    const ms = limited.json!.retry_after_ms as number;
    expect(Number.isInteger(ms)).toBe(true);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThanOrEqual(30_000);
    expect(limited.headers.get("retry-after")).toBe(String(Math.ceil(ms / 1000)));
    expect(limited.headers.get("access-control-allow-origin")).toBe("*");
    // The create limit is a separate budget.
    expect((await create(base)).status).toBe(200);
    const metrics = await injectRequest(base, "GET", "/metrics");
    expect(metrics.text).toMatch(/^rendezvous_rate_limited_total 3$/m);
  });

  test("creates beyond the per-IP create limit get 429 while polls continue", async () => {
    const base = await start({ createPerWindow: 3, requestsPerWindow: 1000 });
    const statuses: number[] = [];
    let id = "";
    for (let i = 0; i < 5; i++) {
      const r = await create(base);
      statuses.push(r.status);
      if (r.status === 200) id = r.json!.id as string;
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect((await injectRequest(base, "GET", `${P}/${id}`)).status).toBe(200);
  });
});

describe("rate limits of the 2024 API", () => {
  test("2024 and 2025 creates share one per-IP create budget; polls go on", async () => {
    const base = await start({ createPerWindow: 3, requestsPerWindow: 1000 });
    expect((await create(base)).status).toBe(200);
    expect((await create(base)).status).toBe(200);
    const last = await create2024(base, "third");
    expect(last.status).toBe(201);
    expectLimited(await create2024(base), 60_000);
    expectLimited(await create(base), 60_000);
    expect((await injectRequest(base, "GET", new URL(last.json!.url as string).pathname)).text).toBe("third");
  });

  test("2024 polls spend the per-IP request budget", async () => {
    const base = await start({ requestsPerWindow: 10, windowMs: 30_000 });
    const created = await create2024(base);
    const session = new URL(created.json!.url as string).pathname;
    const etag = created.headers.get("etag")!;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await injectRequest(base, "GET", session, { "If-None-Match": etag })).status);
    expect(statuses).toEqual([...Array(10).fill(304), 429, 429]);
    expectLimited(await injectRequest(base, "PUT", session, { "Content-Type": "text/plain", "If-Match": etag }, "y"), 30_000);
  });
});

describe("live-session caps refuse new sessions and never evict", () => {
  test("the total cap counts both APIs: a 2024 create is refused, every live session stays usable", async () => {
    const base = await start({ maxSessions: 4 });
    const s25 = (await create(base, "a")).json as { id: string; sequence_token: string };
    const made = [await create2024(base, "b"), await create2024(base, "c"), await create2024(base, "d")];
    expect(made.map((r) => r.status)).toEqual([201, 201, 201]);
    const refused = await create2024(base, "one too many");
    expectLimited(refused, 180_000);
    expect(refused.json!.retry_after_ms as number).toBeGreaterThan(170_000); // until the oldest session expires
    expect((await create(base, "nor a 2025 one")).status).toBe(429);
    const paths = made.map((r) => new URL(r.json!.url as string).pathname);
    expect(await Promise.all(paths.map(async (p) => (await injectRequest(base, "GET", p)).text))).toEqual(["b", "c", "d"]);
    const w = await injectRequest(base, "PUT", paths[0]!, { "Content-Type": "text/plain", "If-Match": made[0]!.headers.get("etag")! }, "still mine");
    expect(w.status).toBe(202);
    expect((await injectRequest(base, "GET", `${P}/${s25.id}`)).json!.data).toBe("a");
    expect((await injectRequest(base, "DELETE", paths[1]!)).status).toBe(204);
    expect((await create2024(base, "fits again")).status).toBe(201);
    expect((await create2024(base, "full again")).status).toBe(429);
    const metrics = await injectRequest(base, "GET", "/metrics");
    expect(metrics.text).toMatch(/^rendezvous_capacity_refused_total 3$/m);
    expect(metrics.text).toContain(`route="${MSC4108_PATH}",status="201"`);
  });

  test("the per-IP cap counts 2024 sessions of the client address a trusted proxy gives", async () => {
    const base = await start({ maxSessionsPerIp: 2 }, { trustProxy: true });
    const from = (ip: string) => ({ "X-Forwarded-For": ip });
    expect((await create2024(base, "a1", from("192.0.2.1"))).status).toBe(201);
    expect((await create(base, "a2", from("192.0.2.1"))).status).toBe(200);
    const refused = await create2024(base, "a3", from("192.0.2.1"));
    expectLimited(refused, 180_000);
    expect(refused.json!.error).toMatch(/from this address/);
    expect((await create2024(base, "b1", from("198.51.100.7"))).status).toBe(201);
  });

  test("total cap: the next create is refused; existing sessions stay readable and writable", async () => {
    const base = await start({ maxSessions: 5 });
    const sessions: { id: string; sequence_token: string }[] = [];
    for (let i = 0; i < 5; i++) sessions.push((await create(base, `s${i}`)).json as { id: string; sequence_token: string });
    const refused = await create(base, "one too many");
    expect(refused.status).toBe(429);
    expect(refused.json!.errcode).toBe("M_LIMIT_EXCEEDED");
    const retry = refused.json!.retry_after_ms as number;
    expect(retry).toBeGreaterThan(170_000); // until the oldest session expires (TTL 180 s)
    expect(retry).toBeLessThanOrEqual(180_000);
    expect(Number(refused.headers.get("retry-after"))).toBe(Math.ceil(retry / 1000));
    for (const [i, s] of sessions.entries()) {
      const got = await injectRequest(base, "GET", `${P}/${s.id}`);
      expect(got.json).toMatchObject({ data: `s${i}`, sequence_token: s.sequence_token });
    }
    expect((await injectRequest(base, "PUT", `${P}/${sessions[0]!.id}`, H, JSON.stringify({ sequence_token: sessions[0]!.sequence_token, data: "still mine" }))).status).toBe(200);
    // A deleted session frees its slot at once; an expired one frees it at expiry.
    expect((await injectRequest(base, "DELETE", `${P}/${sessions[1]!.id}`)).status).toBe(200);
    expect((await create(base, "fits again")).status).toBe(200);
    expect((await create(base, "full again")).status).toBe(429);
    offset += 180_001;
    expect((await create(base, "after expiry")).status).toBe(200);
    expect((await injectRequest(base, "GET", `${P}/${sessions[0]!.id}`)).status).toBe(404);
  });

  test("per-IP cap counts the client address given by a trusted proxy", async () => {
    const base = await start({ maxSessionsPerIp: 2 }, { trustProxy: true });
    const from = (ip: string) => ({ "X-Forwarded-For": ip });
    expect((await create(base, "a1", from("192.0.2.1"))).status).toBe(200);
    expect((await create(base, "a2", from("192.0.2.1"))).status).toBe(200);
    const refused = await create(base, "a3", from("192.0.2.1"));
    expect(refused.status).toBe(429);
    expect(refused.json!.error).toMatch(/from this address/);
    expect((await create(base, "b1", from("198.51.100.7"))).status).toBe(200);
  });

  test("without trust in proxies, X-Forwarded-For is ignored", async () => {
    const base = await start({ maxSessionsPerIp: 1 });
    expect((await create(base, "a", { "X-Forwarded-For": "192.0.2.1" })).status).toBe(200);
    expect((await create(base, "b", { "X-Forwarded-For": "198.51.100.7" })).status).toBe(429);
  });
});

describe("who the client is", () => {
  const from = (ip: string) => ({ "X-Forwarded-For": ip });

  test("IPv6 clients are counted per /64: another address in the same /64 is the same client", async () => {
    const base = await start({ maxSessionsPerIp: 1 }, { trustProxy: true });
    expect((await create(base, "a", from("2001:db8:0:1::1"))).status).toBe(200);
    const refused = await create2024(base, "b", from("2001:db8:0:1:ffff:ffff:ffff:fffe"));
    expectLimited(refused, 180_000);
    expect(refused.json!.error).toMatch(/from this address/);
    expect((await create(base, "c", from("2001:db8:0:2::1"))).status).toBe(200); // the next /64
    expect((await create(base, "d", from("192.0.2.1"))).status).toBe(200);
    expect((await create(base, "e", from("::ffff:192.0.2.1"))).status).toBe(429); // the same IPv4 client
  });

  test("the per-IP request rate counts an IPv6 /64 as one client", async () => {
    const base = await start({ requestsPerWindow: 3 }, { trustProxy: true });
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) statuses.push((await injectRequest(base, "GET", P, from(`2001:db8:aa:bb::${i}`))).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect((await injectRequest(base, "GET", P, from("2001:db8:aa:bc::1"))).status).toBe(200);
  });

  test("trust_proxy as a hop count: the address the nearest proxy saw is the client (fastify alone would ignore the header)", async () => {
    const base = await start({ maxSessionsPerIp: 1 }, { trustProxy: 1 });
    expect((await create(base, "a", from("192.0.2.1"))).status).toBe(200);
    expect((await create(base, "b", from("198.51.100.7"))).status).toBe(200);
    // A client-supplied entry before the proxy's own is not believed: one hop is trusted, not two.
    expect((await create(base, "c", from("203.0.113.5, 192.0.2.1"))).status).toBe(429);
  });

  test("trust_proxy as addresses: only those peers may forward a client address", async () => {
    const trusted = await start({ maxSessionsPerIp: 1 }, { trustProxy: ["127.0.0.1"] });
    expect((await create(trusted, "a", from("192.0.2.1"))).status).toBe(200);
    expect((await create(trusted, "b", from("198.51.100.7"))).status).toBe(200);
    await server!.close();
    const untrusted = await start({ maxSessionsPerIp: 1 }, { trustProxy: ["192.0.2.254"] });
    expect((await create(untrusted, "a", from("192.0.2.1"))).status).toBe(200);
    expect((await create(untrusted, "b", from("198.51.100.7"))).status).toBe(429); // both are 127.0.0.1
  });
});

describe("scale", () => {
  test("10,000 live sessions in the memory store, all readable", async () => {
    const store = new MemoryStore();
    server = await buildRendezvousServer({
      host: "127.0.0.1", port: 0, mode: "open", store: "memory", storeInstance: store, limits: NONE, logLevel: false,
    });
    const base = server.app;
    const ids: string[] = [];
    const N = 10_000;
    const CONCURRENCY = 32;
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        const r = await create(base, `session ${i}`);
        expect(r.status).toBe(200);
        ids[i] = r.json!.id as string;
      }
    }));
    expect(new Set(ids).size).toBe(N);
    const health = await injectRequest(base, "GET", "/health");
    expect(health.json!.live_sessions).toBe(N);
    for (let k = 0; k < 200; k++) {
      const i = Math.floor(Math.random() * N);
      expect((await injectRequest(base, "GET", `${P}/${ids[i]}`)).json!.data).toBe(`session ${i}`);
    }
    await store.close();
  }, 60_000);
});
