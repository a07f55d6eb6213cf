// Rendezvous client against an in-memory server on a virtual monotonic clock: token tracking,
// idempotent retry, 409, 429, expiry, prefix fallback, 404, poll pacing (the 250 ms floor is on GETs), cancellation.
import { afterEach, beforeEach, describe, expect, jest, test } from "@jest/globals";
import { systemClock } from "../../main/protocol/clock.js";
import { RendezvousClient } from "../../main/protocol/rendezvous.js";
import { RendezvousError } from "../../main/protocol/rendezvous-errors.js";
import type { RendezvousSession } from "../../main/protocol/rendezvous-session.js";
import { FakeRendezvousServer, UNSTABLE, V1, VirtualClock, json } from "../support/fake-rendezvous.js";

let clock: VirtualClock;
let server: FakeRendezvousServer;

function client(extra: Partial<ConstructorParameters<typeof RendezvousClient>[0]> = {}): RendezvousClient {
  return new RendezvousClient({ baseUrl: server.origin, fetch: server.fetch, clock, ...extra });
}

async function rejection(p: Promise<unknown>): Promise<RendezvousError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RendezvousError);
    return err as RendezvousError;
  }
  throw new Error("expected a rejection");
}

beforeEach(() => {
  clock = new VirtualClock();
  server = new FakeRendezvousServer(clock);
  // Expiry must come from expires_in_ms and the monotonic clock only, never from the wall clock.
  jest.spyOn(Date, "now").mockImplementation(() => {
    throw new Error("the rendezvous client must not read the wall clock");
  });
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe("basic operations and token tracking", () => {
  test("discovery reports create_available; a server without the API reports unavailable", async () => {
    await expect(client().discover()).resolves.toEqual({ available: true, createAvailable: true, prefix: V1 });
    server.prefixes.length = 0;
    await expect(client().discover()).resolves.toEqual({ available: false, createAvailable: false });
  });

  test("discovery and create carry the access token; GET/PUT/DELETE do not", async () => {
    const c = client({ accessToken: "secret" });
    await c.discover();
    const s = await c.create("");
    await s.get();
    await s.put("x");
    await s.delete();
    const auth = server.log.map((r) => [r.method, r.headers["authorization"]]);
    expect(auth).toEqual([
      ["GET", "Bearer secret"],
      ["POST", "Bearer secret"],
      ["GET", undefined],
      ["PUT", undefined],
      ["DELETE", undefined],
    ]);
  });

  test("create / open / put / poll / delete follow the sequence tokens", async () => {
    const g = await client().create("");
    expect(g.id).toBe("id1");
    const t1 = g.sequenceToken;
    const s = await client().open(g.id);
    expect(s.sequenceToken).toBe(t1);
    expect(s.data).toBe("");

    const t2 = await s.put("hello from S");
    expect(t2).not.toBe(t1);
    expect(s.sequenceToken).toBe(t2);
    expect(server.requests("PUT")[0]!.body).toEqual({ sequence_token: t1, data: "hello from S" });

    await expect(g.poll()).resolves.toBe("hello from S");
    expect(g.sequenceToken).toBe(t2);
    const t3 = await g.put("hello from G");
    expect(server.requests("PUT")[1]!.body).toEqual({ sequence_token: t2, data: "hello from G" });
    await expect(s.poll()).resolves.toBe("hello from G");
    expect(s.sequenceToken).toBe(t3);

    await s.delete();
    expect(server.sessions.size).toBe(0);
    const err = await rejection(g.get());
    expect(err.code).toBe("rendezvous_not_found");
    // a deleted session refuses further use without a request
    const before = server.log.length;
    expect((await rejection(s.get())).code).toBe("rendezvous_closed");
    expect(server.log.length).toBe(before);
  });

  test("a GET that returns our own token is 'not modified': poll keeps waiting", async () => {
    const g = await client().create("");
    const s = await client().open(g.id);
    let n = 0;
    server.hook = (req) => {
      if (req.method === "GET" && ++n === 4) server.externalWrite(g.id, "late");
      return undefined;
    };
    await expect(g.poll()).resolves.toBe("late");
    expect(server.requests("GET").length).toBeGreaterThanOrEqual(4);
    void s;
  });
});

describe("lost responses and conflicts", () => {
  test("a PUT whose response was lost is re-sent identically and succeeds once", async () => {
    const g = await client().create("");
    const t1 = g.sequenceToken;
    server.hook = (req) => (req.method === "PUT" && server.requests("PUT").length === 1 ? "drop-response" : undefined);
    const t2 = await g.put("payload");
    const puts = server.requests("PUT");
    expect(puts).toHaveLength(2);
    expect(puts[1]!.body).toEqual(puts[0]!.body);
    expect(puts[0]!.body).toEqual({ sequence_token: t1, data: "payload" });
    expect(server.sessions.get(g.id)!.counter).toBe(1);
    expect(t2).toBe(server.sessions.get(g.id)!.token);
    expect(g.sequenceToken).toBe(t2);
  });

  test("a PUT lost before reaching the server is re-sent and writes", async () => {
    const g = await client().create("");
    server.hook = (req) => (req.method === "PUT" && server.requests("PUT").length === 1 ? "drop-request" : undefined);
    await g.put("payload");
    expect(server.sessions.get(g.id)!.data).toBe("payload");
    expect(server.sessions.get(g.id)!.counter).toBe(1);
  });

  test("lost responses: a few immediate re-sends, then growing back-off", async () => {
    const g = await client().create("");
    server.hook = (req) => (req.method === "GET" && server.requests("GET").length <= 7 ? "drop-response" : undefined);
    await g.get();
    const gets = server.requests("GET");
    expect(gets).toHaveLength(8);
    expect(gets.slice(1).map((r, i) => r.at - gets[i]!.at)).toEqual([0, 0, 0, 0, 250, 500, 1_000]);
  });

  test("a request that keeps failing without a session gives up with a typed network error", async () => {
    server.hook = () => "drop-request";
    const err = await rejection(client({ maxAttempts: 5 }).create(""));
    expect(err.code).toBe("rendezvous_network");
    expect(server.log).toHaveLength(5);
  });

  test("409 from a third party's write: GET, see foreign data, typed concurrent-write error", async () => {
    const g = await client().create("");
    const s = await client().open(g.id);
    server.externalWrite(g.id, "Specter was here");
    const err = await rejection(s.put("LoginInitiate"));
    expect(err.code).toBe("rendezvous_concurrent_write");
    expect(err.status).toBe(409);
    expect(err.errcode).toBe("M_CONCURRENT_WRITE");
    expect(server.sessions.get(g.id)!.data).toBe("Specter was here");
    expect(server.log.at(-1)!.method).toBe("GET");
  });

  test("409 on a strict server after a lost response: the GET shows our payload, so the write landed", async () => {
    server.idempotency = "strict";
    const g = await client().create("");
    server.hook = (req) => (req.method === "PUT" && server.requests("PUT").length === 1 ? "drop-response" : undefined);
    const token = await g.put("mine");
    expect(token).toBe(server.sessions.get(g.id)!.token);
    expect(server.log.map((r) => r.method)).toEqual(["POST", "PUT", "PUT", "GET"]);
    expect(server.sessions.get(g.id)!.counter).toBe(1);
    // re-send and settle go out at once: the peer could answer our landed write at its next poll
    const [, put1, put2, get] = server.log;
    expect([put2!.at - put1!.at, get!.at - put2!.at]).toEqual([0, 0]);
  });
});

describe("a write overtaken by the answer to it (its own answer lost)", () => {
  test("409 after a lost answer, with the peer's reply there: the write counts as done, the reply is the next poll's", async () => {
    const g = await client().create("");
    const s = await client().open(g.id);
    server.hook = (req) => {
      if (req.method !== "PUT") return undefined;
      const n = server.requests("PUT").length;
      if (n === 1) return "drop-response";
      // Before our re-send, the other device read our write and answered it.
      if (n === 2) server.externalWrite(g.id, "the reply");
      return undefined;
    };
    const token = await s.put("LoginInitiate");
    expect(token).toBe(server.sessions.get(g.id)!.token);
    // The reply was sealed with the token our write got, which we never saw.
    expect(s.openToken).toBeUndefined();
    const requests = server.log.length;
    await expect(s.poll()).resolves.toBe("the reply");
    expect(server.log.length).toBe(requests);
    expect(s.openToken).toBe(token);
  });

  test("404 after a lost answer (the peer read our write and deleted the session): the write counts as done, the next poll says gone", async () => {
    const g = await client().create("");
    const s = await client().open(g.id);
    server.hook = (req) => {
      if (req.method !== "PUT") return undefined;
      if (server.requests("PUT").length === 1) return "drop-response";
      server.sessions.delete(g.id);
      return undefined;
    };
    await s.put("m.login.secrets");
    expect((await rejection(s.poll())).code).toBe("rendezvous_not_found");
    await s.delete();
    expect(server.requests("DELETE")).toHaveLength(0);
  });

  test("…and the same when the re-send met 409 and the session was gone by the read that settles it", async () => {
    const g = await client().create("");
    const s = await client().open(g.id);
    server.hook = (req) => {
      if (req.method === "PUT" && server.requests("PUT").length === 1) return "drop-response";
      if (req.method === "PUT") {
        // The peer read our write, answered it, read nothing more, and deleted the session.
        server.externalWrite(g.id, "the reply");
        return undefined;
      }
      if (req.method === "GET" && server.requests("GET").length === 2) {
        server.sessions.delete(g.id);
        return "drop-response";
      }
      return undefined;
    };
    await s.put("m.login.secrets");
    expect(server.log.map((r) => r.method)).toEqual(["POST", "GET", "PUT", "PUT", "GET", "GET"]);
    expect((await rejection(s.poll())).code).toBe("rendezvous_not_found");
  });

  test("the same 409 without a lost answer is still a concurrent write", async () => {
    const g = await client().create("");
    const s = await client().open(g.id);
    server.hook = (req) => {
      if (req.method === "PUT" && server.requests("PUT").length === 1) server.externalWrite(g.id, "Specter");
      return undefined;
    };
    expect((await rejection(s.put("LoginInitiate"))).code).toBe("rendezvous_concurrent_write");
  });
});

describe("rate limits and expiry", () => {
  test("429 waits retry_after_ms before retrying", async () => {
    const g = await client().create("");
    server.hook = (req) =>
      req.method === "GET" && server.requests("GET").length === 1
        ? json(429, { errcode: "M_LIMIT_EXCEEDED", error: "slow down", retry_after_ms: 3_500 })
        : undefined;
    await g.get();
    const gets = server.requests("GET");
    expect(gets).toHaveLength(2);
    expect(gets[1]!.at - gets[0]!.at).toBe(3_500);
  });

  test("429 without retry_after_ms honours Retry-After seconds", async () => {
    const g = await client().create("");
    server.hook = (req) =>
      req.method === "PUT" && server.requests("PUT").length === 1 ? json(429, { errcode: "M_LIMIT_EXCEEDED" }, { "retry-after": "2" }) : undefined;
    await g.put("x");
    const puts = server.requests("PUT");
    expect(puts[1]!.at - puts[0]!.at).toBe(2_000);
  });

  test("a 429 on create with no session retries, then gives up with a typed error", async () => {
    server.hook = (req) => (req.method === "POST" ? json(429, { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 100 }) : undefined);
    const err = await rejection(client({ maxAttempts: 3 }).create(""));
    expect(err.code).toBe("rendezvous_rate_limited");
    expect(server.requests("POST")).toHaveLength(3);
  });

  test("retry_after_ms beyond the session's life ends in 'expired' at the deadline, without another request", async () => {
    const g = await client().create("");
    server.hook = (req) => (req.method === "GET" ? json(429, { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 500_000 }) : undefined);
    const t0 = clock.now();
    const err = await rejection(g.get());
    expect(err.code).toBe("rendezvous_expired");
    expect(clock.now() - t0).toBe(server.ttlMs);
    expect(server.requests("GET")).toHaveLength(1);
  });

  test("expires_in_ms is relative to the monotonic clock: an idle poll stops with 'expired'", async () => {
    server = new FakeRendezvousServer(clock, { ttlMs: 5_000 });
    const t0 = clock.now();
    const g = await client().create("");
    const err = await rejection(g.poll({ replyDue: false }));
    expect(err.code).toBe("rendezvous_expired");
    expect(clock.now() - t0).toBeLessThanOrEqual(5_000);
    expect(server.log.every((r) => r.at < t0 + 5_000)).toBe(true);
    expect(g.remainingMs).toBeLessThanOrEqual(0);
  });

  test("each GET refreshes the deadline from its expires_in_ms (server clock may differ from ours)", async () => {
    const g = await client().create("");
    // The server says 1 s left, whatever our own bookkeeping said.
    server.hook = (req) => (req.method === "GET" ? json(200, { data: "", sequence_token: g.sequenceToken, expires_in_ms: 1_000 }) : undefined);
    const err = await rejection(g.poll({ replyDue: false }));
    expect(err.code).toBe("rendezvous_expired");
    // 1 s from the first GET that said so (the first poll goes 250 ms after our create)
    const firstGet = server.requests("GET")[0]!;
    expect(clock.now() - firstGet.at).toBe(1_000);
  });

  test("a 404 before our deadline means the session is gone: not found", async () => {
    const g = await client().create("");
    server.sessions.clear();
    expect((await rejection(g.get())).code).toBe("rendezvous_not_found");
  });

  test("after the server said the session is gone, delete() sends nothing", async () => {
    const g = await client().create("");
    server.sessions.clear();
    await rejection(g.get());
    const before = server.log.length;
    await g.delete();
    expect(server.log.slice(before)).toEqual([]);
    const live = await client().create("");
    await live.delete();
    expect(server.log.at(-1)!.method).toBe("DELETE");
  });
});

describe("prefix fallback", () => {
  test("v1 first; a server with only the unstable prefix is found and remembered", async () => {
    server = new FakeRendezvousServer(clock, { prefixes: [UNSTABLE] });
    const c = client({ prefixes: [V1, UNSTABLE] });
    const g = await c.create("");
    expect(c.prefix).toBe(UNSTABLE);
    await g.put("x");
    await g.get();
    await g.delete();
    expect(server.log.map((r) => `${r.method} ${r.path.startsWith(UNSTABLE) ? "unstable" : "v1"}`)).toEqual([
      "POST v1",
      "POST unstable",
      "PUT unstable",
      "GET unstable",
      "DELETE unstable",
    ]);
  });

  test("unstable first (element profile); a v1-only server works for the scanner's first GET", async () => {
    const creator = await client().create("");
    server.prefixes.splice(0, server.prefixes.length, V1);
    const c = client({ prefixes: [UNSTABLE, V1] });
    const s = await c.open(creator.id);
    expect(c.prefix).toBe(V1);
    expect(s.sequenceToken).toBe(creator.sequenceToken);
  });

  test("M_NOT_FOUND on the first prefix is a real 404 (no fallback)", async () => {
    const err = await rejection(client().open("nope"));
    expect(err.code).toBe("rendezvous_not_found");
    expect(server.log).toHaveLength(1);
  });

  test("no prefix served: typed 'unavailable'", async () => {
    server.prefixes.length = 0;
    const err = await rejection(client().create(""));
    expect(err.code).toBe("rendezvous_unavailable");
    expect(server.log).toHaveLength(2);
  });
});

describe("polling pace", () => {
  async function pollFor(session: RendezvousSession, ms: number, replyDue: boolean): Promise<number[]> {
    const start = server.log.length;
    const deadline = clock.now() + ms;
    server.hook = (req) => {
      if (req.method === "GET" && req.at >= deadline) server.externalWrite(session.id, "reply");
      return undefined;
    };
    await session.poll({ replyDue });
    return server.log.slice(start).map((r) => r.at);
  }

  function gaps(times: number[]): number[] {
    return times.slice(1).map((t, i) => t - times[i]!);
  }

  test("fast right after our own write, never more than one GET per 250 ms, easing off later", async () => {
    const g = await client().create("");
    await g.put("question");
    const times = [server.log.at(-1)!.at, ...(await pollFor(g, 30_000, true))];
    const d = gaps(times);
    expect(Math.min(...d)).toBeGreaterThanOrEqual(250);
    expect(d[0]).toBe(250); // the reply is due: first poll 250 ms after the write, not later
    expect(d.slice(0, 10)).toEqual(Array(10).fill(250)); // fast while the reply is due
    expect(d.at(-1)).toBeGreaterThan(250); // no longer fast after the window
    // 30 s at the floor would be 120 requests; adaptive pacing sends far fewer
    expect(times.length).toBeLessThan(60);
  });

  test("idle polling (no reply due) is slow", async () => {
    const g = await client().create("");
    const d = gaps(await pollFor(g, 10_000, false));
    expect(Math.min(...d)).toBeGreaterThanOrEqual(1_000);
  });

  test("eager polling (a peer may write at any moment) stays at the 250 ms floor for the whole wait", async () => {
    const g = await client().create("");
    const created = server.log.at(-1)!.at;
    const start = server.log.length;
    const deadline = clock.now() + 30_000;
    server.hook = (req) => {
      if (req.method === "GET" && req.at >= deadline) server.externalWrite(g.id, "LoginInitiate");
      return undefined;
    };
    await expect(g.poll({ pace: "eager" })).resolves.toBe("LoginInitiate");
    const times = server.log.slice(start).map((r) => r.at);
    expect(server.log.slice(start).every((r) => r.method === "GET")).toBe(true);
    expect(times[0]! - created).toBe(250);
    expect(new Set(gaps(times))).toEqual(new Set([250]));
    expect(times.at(-1)! - deadline).toBeLessThan(250);
  });

  test("a PUT goes right after the GET that fetched its token; the next GET keeps 250 ms from the last GET", async () => {
    const s = await client().open((await client().create("")).id);
    const opened = server.log.at(-1)!;
    await s.put("LoginInitiate");
    const put = server.log.at(-1)!;
    expect(put.method).toBe("PUT");
    expect(put.at - opened.at).toBe(0);
    // explicit GETs are polling too: never closer than the floor, whatever was written in between
    await s.get();
    await s.get();
    const [get1, get2] = server.log.slice(-2);
    expect([get1!.at - opened.at, get2!.at - get1!.at]).toEqual([250, 250]);
    await s.delete();
    expect(server.log.at(-1)!.method).toBe("DELETE");
    expect(server.log.at(-1)!.at - get2!.at).toBe(0);
  });

  test("after our write the first poll goes 250 ms after the write even if the last GET was earlier", async () => {
    const g = await client().create("");
    await g.get();
    const get = server.log.at(-1)!.at;
    await clock.sleep(100);
    await g.put("question");
    const put = server.log.at(-1)!.at;
    server.hook = (req) => {
      if (req.method === "GET") server.externalWrite(g.id, "answer");
      return undefined;
    };
    await expect(g.poll()).resolves.toBe("answer");
    const poll = server.log.at(-1)!.at;
    expect([put - get, poll - put]).toEqual([100, 250]);
  });
});

describe("cancellation", () => {
  test("aborting during polling rejects with 'cancelled' and stops the requests", async () => {
    const g = await client().create("");
    const ac = new AbortController();
    server.hook = (req) => {
      if (req.method === "GET" && server.requests("GET").length === 3) ac.abort();
      return undefined;
    };
    const err = await rejection(g.poll({ signal: ac.signal }));
    expect(err.code).toBe("cancelled");
    const n = server.log.length;
    await Promise.resolve();
    expect(server.log.length).toBe(n);
  });

  test("an already-aborted signal sends nothing", async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await rejection(client().create("", ac.signal));
    expect(err.code).toBe("cancelled");
    expect(server.log).toHaveLength(0);
  });

  test("abort interrupts a real-time sleep promptly", async () => {
    jest.restoreAllMocks();
    const real = new RendezvousClient({ baseUrl: server.origin, fetch: server.fetch, clock: systemClock, poll: { idleMs: 60_000 } });
    server.hook = undefined;
    const g = await real.create("");
    const ac = new AbortController();
    const started = performance.now();
    setTimeout(() => ac.abort(), 50);
    const err = await rejection(g.poll({ signal: ac.signal, replyDue: false }));
    expect(err.code).toBe("cancelled");
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
