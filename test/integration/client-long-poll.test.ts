// Our rendezvous client and secure session on real listening rendezvous servers, with long-poll on and
// off (docs/protocol.md "Long-poll"): with it, every message is fetched by one held GET that the
// server answers when the peer writes — on the same instance, and across two instances on one Redis —
// and never by a GET that came back empty; without it, the client sends no parameter and polls as
// before; aborting a wait ends the held GET at once, on both sides.
import { afterAll, describe, expect, test } from "@jest/globals";
import { RendezvousClient } from "../../main/protocol/rendezvous.js";
import type { FetchLike } from "../../main/protocol/rendezvous-http.js";
import { connectScanner, startGenerator } from "../../main/protocol/secure-session.js";
import { startRendezvousServer, type RunningRendezvousServer, type RendezvousServerConfig } from "../../server/rendezvous/index.js";
import { protocolRejection } from "../support/protocol-error-code.js";
import { startRedis, type TestRedis } from "../support/redis-server.js";

const NO_LIMITS = { maxSessions: 0, maxSessionsPerIp: 0, createPerWindow: 0, requestsPerWindow: 0 };
const PROFILES = ["element-2026", "msc4388"] as const;

const servers: RunningRendezvousServer[] = [];
let redis: TestRedis | undefined;

async function start(config: Partial<RendezvousServerConfig>): Promise<RunningRendezvousServer> {
  const s = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", logLevel: false, limits: NO_LIMITS, ...config });
  servers.push(s);
  return s;
}

afterAll(async () => {
  for (const s of servers) await s.close();
  await redis?.stop();
});

interface Seen {
  method: string;
  since: string | null;
  /** For GETs: the answer's token differs from the one the request named (a held GET that brought something). */
  brought?: boolean;
  status: number;
}

/**
 * A fetch that records every rendezvous request and, for GETs, whether the answer was news; with
 * `origin` it sends them to another instance than the one the client believes it talks to (as a load
 * balancer would: the base URL in the QR, and so in the AAD, stays the same for both sides).
 */
function recording(origin?: string): { fetch: FetchLike; seen: Seen[] } {
  const seen: Seen[] = [];
  const f: FetchLike = async (input, init) => {
    const url = new URL(input);
    const since = url.searchParams.get("since");
    const target = origin ? new URL(url.pathname + url.search, origin).href : input;
    const res = await fetch(target, init);
    const entry: Seen = { method: init.method ?? "GET", since, status: res.status };
    if (entry.method === "GET" && since !== null && res.status === 200) {
      const body = (await res.clone().json()) as { sequence_token?: string };
      entry.brought = body.sequence_token !== since;
    }
    seen.push(entry);
    return res;
  };
  return { fetch: f, seen };
}

/** G and S on `url` (S's requests optionally sent to another instance): handshake and 6 messages. */
async function converse(profile: string, url: string, scannerInstance?: string) {
  const g = recording();
  const s = recording(scannerInstance);
  const pending = await startGenerator({ rendezvousUrl: url, intent: "login", profile, fetch: g.fetch });
  const [unconfirmed, scanner] = await Promise.all([pending.waitForScanner(), connectScanner(pending.qr, { profile, fetch: s.fetch })]);
  const gc = await unconfirmed.confirm(scanner.checkCode);
  const sc = scanner.conversation;
  for (let i = 0; i < 3; i++) {
    const [, atG] = await Promise.all([sc.send({ i }), gc.receive()]);
    expect(atG).toEqual({ i });
    const [, atS] = await Promise.all([gc.send({ back: i }), sc.receive()]);
    expect(atS).toEqual({ back: i });
  }
  await sc.close();
  return { g: g.seen, s: s.seen };
}

describe.each(PROFILES)("profile %s", (profile) => {
  test("long-poll on: every message comes with one held GET; no GET ever comes back empty", async () => {
    const server = await start({ longPollMs: 20_000 });
    const { g, s } = await converse(profile, server.url);
    const gets = [...g, ...s].filter((r) => r.method === "GET");
    // 8 messages (LoginInitiate, LoginOk, 6 in the conversation) → 8 held GETs; plus S's opening GET.
    expect(gets.filter((r) => r.since !== null)).toHaveLength(8);
    expect(gets.filter((r) => r.since === null)).toHaveLength(1);
    expect(gets.filter((r) => r.since !== null).every((r) => r.brought === true)).toBe(true);
    expect([...g, ...s].filter((r) => r.method === "PUT")).toHaveLength(8);
  });

  test("long-poll off: no GET names a token; the conversation still completes by polling", async () => {
    const server = await start({ longPollMs: 0 });
    const { g, s } = await converse(profile, server.url);
    const gets = [...g, ...s].filter((r) => r.method === "GET");
    expect(gets.every((r) => r.since === null)).toBe(true);
    expect(gets.length).toBeGreaterThanOrEqual(9);
  });
});

test("two instances on one Redis: G holds its GETs on A, S writes through B, and each message still costs one GET", async () => {
  redis = await startRedis();
  const a = await start({ store: redis.url, longPollMs: 20_000 });
  const b = await start({ store: redis.url, longPollMs: 20_000 });
  const { g, s } = await converse("element-2026", a.url, b.url);
  expect(s.some((r) => r.method === "PUT")).toBe(true);
  for (const side of [g, s]) {
    const held = side.filter((r) => r.method === "GET" && r.since !== null);
    expect(held.length).toBe(4);
    expect(held.every((r) => r.brought === true)).toBe(true);
  }
}, 30_000);

test("aborting a wait ends the held GET at once; the session stays usable", async () => {
  const server = await start({ longPollMs: 20_000 });
  const client = new RendezvousClient({ baseUrl: server.url });
  const session = await client.create("");
  const ac = new AbortController();
  const waiting = protocolRejection(session.poll({ signal: ac.signal }));
  await new Promise((r) => setTimeout(r, 100)); // the GET is held by now
  const t = performance.now();
  ac.abort();
  expect((await waiting).code).toBe("cancelled");
  expect(performance.now() - t).toBeLessThan(500);
  // A fresh wait sees the next write.
  const peer = await new RendezvousClient({ baseUrl: server.url }).open(session.id);
  const next = session.poll();
  await peer.put("after abort");
  await expect(next).resolves.toBe("after abort");
});

test("after a client aborted a held GET, the server still closes at once (Node's fetch leaves an unused connection behind)", async () => {
  const server = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", logLevel: false, limits: NO_LIMITS, longPollMs: 20_000 });
  const session = await new RendezvousClient({ baseUrl: server.url }).create("");
  const ac = new AbortController();
  const waiting = protocolRejection(session.poll({ signal: ac.signal }));
  await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  expect((await waiting).code).toBe("cancelled");
  await new Promise((r) => setTimeout(r, 100)); // the fresh, never-used connection is open by now
  const t = performance.now();
  await server.close();
  expect(performance.now() - t).toBeLessThan(2_000);
});
