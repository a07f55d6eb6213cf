// The rendezvous client's use of qr-login's long-poll extension (docs/protocol.md "Long-poll"),
// against the in-memory server playing it: used only when advertised, one held GET per message, no
// hot loop when a server answers at once, re-sent at once at the bound, abort and local expiry cut a
// held GET, and a held GET is not taken for a lost response before the bound plus the request timeout.
import { describe, expect, test } from "@jest/globals";
import { systemClock } from "../../main/protocol/clock.js";
import { RendezvousClient } from "../../main/protocol/rendezvous.js";
import { RendezvousError } from "../../main/protocol/rendezvous-errors.js";
import { LONG_POLL_FIELD, parseLongPoll } from "../../main/protocol/rendezvous-long-poll.js";
import { FakeRendezvousServer, VirtualClock, json, type FakeServerOptions } from "../support/fake-rendezvous.js";

function setup(options: FakeServerOptions = {}, clock: VirtualClock | typeof systemClock = new VirtualClock()) {
  const server = new FakeRendezvousServer(clock, options);
  const client = (extra: Partial<ConstructorParameters<typeof RendezvousClient>[0]> = {}): RendezvousClient =>
    new RendezvousClient({ baseUrl: server.origin, fetch: server.fetch, clock, ...extra });
  return { server, client, clock };
}

const LONG = { longPoll: { maxWaitMs: 20_000 } };

async function rejection(p: Promise<unknown>): Promise<RendezvousError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RendezvousError);
    return err as RendezvousError;
  }
  throw new Error("expected a rejection");
}

/** Let real time pass until `cond` holds (the fake's holds end on real events). */
async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe("advertisement", () => {
  test("parsed from discovery, create and the scanner's first GET; absent → undefined", async () => {
    const { client } = setup(LONG);
    await expect(client().discover()).resolves.toMatchObject({ longPoll: { queryParameter: "since", maxWaitMs: 20_000 } });
    const c = client();
    const g = await c.create("");
    expect(c.longPoll).toEqual({ queryParameter: "since", maxWaitMs: 20_000 });
    const scanner = client();
    expect(scanner.longPoll).toBeUndefined();
    await scanner.open(g.id);
    expect(scanner.longPoll).toEqual({ queryParameter: "since", maxWaitMs: 20_000 });

    const plain = setup();
    const d = await plain.client().discover();
    expect(d).not.toHaveProperty("longPoll");
  });

  test("malformed advertisements are ignored; an absurd bound is capped at 60 s", () => {
    const ad = (v: unknown) => parseLongPoll({ [LONG_POLL_FIELD]: v });
    expect(ad({ query_parameter: "since", max_wait_ms: 25_000 })).toEqual({ queryParameter: "since", maxWaitMs: 25_000 });
    expect(ad({ query_parameter: "since", max_wait_ms: 3_600_000 })).toEqual({ queryParameter: "since", maxWaitMs: 60_000 });
    for (const bad of [null, "since", [], {}, { query_parameter: "since" }, { max_wait_ms: 1 }, { query_parameter: "a&b", max_wait_ms: 1 }, { query_parameter: "", max_wait_ms: 1 },
      { query_parameter: "since", max_wait_ms: 0 }, { query_parameter: "since", max_wait_ms: -5 }, { query_parameter: "since", max_wait_ms: "20" }, { query_parameter: "since", max_wait_ms: Number.NaN }]) {
      expect([bad, ad(bad)]).toEqual([bad, undefined]);
    }
    expect(parseLongPoll(null)).toBeUndefined();
  });
});

describe("held GETs", () => {
  test("the generator waits for the scanner with one GET naming its token; a reply costs one GET", async () => {
    const { server, client } = setup(LONG);
    const g = await client().create("");
    const waiting = g.poll({ pace: "eager" });
    await until(() => server.held === 1);
    const s = await client().open(g.id);
    await s.put("LoginInitiate");
    await expect(waiting).resolves.toBe("LoginInitiate");
    const replying = s.poll({ replyDue: true });
    await until(() => server.held === 1);
    await g.put("LoginOk");
    await expect(replying).resolves.toBe("LoginOk");
    const gets = server.requests("GET").map((r) => r.search);
    // G's held GET, S's opening GET (plain: it has no token yet), S's held GET after its PUT.
    expect(gets).toEqual(["?since=tok1", "", "?since=tok2"]);
    expect(server.holds.map((h) => h.ended)).toEqual(["change", "change"]);
  });

  test("a ping-pong of 10 messages costs 10 PUTs and 10 GETs; the first held GET goes at once after our write", async () => {
    const { server, client, clock } = setup(LONG);
    const g = await client().create("");
    const s = await client().open(g.id);
    const before = server.log.length;
    for (let i = 0; i < 5; i++) {
      const atG = g.poll();
      await s.put(`s${i}`);
      await expect(atG).resolves.toBe(`s${i}`);
      const atS = s.poll();
      await g.put(`g${i}`);
      await expect(atS).resolves.toBe(`g${i}`);
    }
    const log = server.log.slice(before);
    expect(log.filter((r) => r.method === "PUT")).toHaveLength(10);
    expect(log.filter((r) => r.method === "GET")).toHaveLength(10);
    // No polling interval anywhere: the whole conversation takes no (virtual) time.
    expect(new Set(log.map((r) => r.at))).toEqual(new Set([clock.now()]));
  });

  test("the server names the query parameter", async () => {
    const { server, client } = setup({ longPoll: { maxWaitMs: 5_000, queryParameter: "after" } });
    const g = await client().create("");
    const waiting = g.poll();
    await until(() => server.held === 1);
    server.externalWrite(g.id, "x");
    await expect(waiting).resolves.toBe("x");
    expect(server.requests("GET").map((r) => r.search)).toEqual(["?after=tok1"]);
  });

  test("at the bound the held GET comes back unchanged and is re-sent at once", async () => {
    const { server, client, clock } = setup({ longPoll: { maxWaitMs: 20_000, boundRealMs: 5 } });
    const g = await client().create("");
    const t0 = clock.now();
    server.hook = (req) => {
      if (req.method === "GET" && server.requests("GET").length === 4) server.externalWrite(g.id, "late");
      return undefined;
    };
    await expect(g.poll({ pace: "eager" })).resolves.toBe("late");
    expect(server.holds.map((h) => h.ended)).toEqual(["bound", "bound", "bound"]);
    expect(server.requests("GET").map((r) => r.at - t0)).toEqual([0, 20_000, 40_000, 60_000]);
  });

  test("a server that advertises but answers at once (at its cap) is polled at the normal pace, never in a hot loop", async () => {
    for (const [pace, gap] of [["eager", 250], ["idle", 1_000]] as const) {
      const { server, client, clock } = setup({ longPoll: { maxWaitMs: 20_000, hold: false } });
      const g = await client().create("");
      const deadline = clock.now() + 10_000;
      server.hook = (req) => {
        // A hot loop would never reach the (virtual) deadline: stop it with a 404 instead of hanging.
        if (server.requests("GET").length > 100) return json(404, { errcode: "M_NOT_FOUND", error: "hot loop" });
        if (req.method === "GET" && req.at >= deadline) server.externalWrite(g.id, "finally");
        return undefined;
      };
      await expect(g.poll({ pace })).resolves.toBe("finally");
      const times = server.requests("GET").map((r) => r.at);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      expect(new Set(gaps)).toEqual(new Set([gap]));
      expect(times.length).toBeLessThanOrEqual(10_000 / gap + 2);
      // It still named its token each time (the server might hold the next one).
      expect(server.requests("GET").every((r) => r.search === "?since=tok1")).toBe(true);
    }
  });

  test("when the server stops advertising, the client polls as before (no parameter, paced)", async () => {
    const { server, client, clock } = setup({ longPoll: { maxWaitMs: 20_000, advertiseOnGet: false } });
    const g = await client().create("");
    const waiting = g.poll();
    await until(() => server.held === 1);
    server.externalWrite(g.id, "one");
    await expect(waiting).resolves.toBe("one");
    expect(g.client.longPoll).toBeUndefined(); // that GET's body did not advertise it
    const from = clock.now();
    const deadline = from + 2_000;
    server.hook = (req) => {
      if (req.method === "GET" && req.at >= deadline) server.externalWrite(g.id, "two");
      return undefined;
    };
    await expect(g.poll({ pace: "eager" })).resolves.toBe("two");
    const later = server.requests("GET").slice(1);
    expect(later.every((r) => r.search === "")).toBe(true);
    expect(later[0]!.at - from).toBe(250);
    expect(server.holds).toHaveLength(1);
  });

  test("a DELETE by the peer ends a held GET at once: not found", async () => {
    const { server, client } = setup(LONG);
    const g = await client().create("");
    const waiting = rejection(g.poll());
    await until(() => server.held === 1);
    const s = await client().open(g.id);
    await s.delete();
    expect((await waiting).code).toBe("rendezvous_not_found");
    expect(server.holds.map((h) => h.ended)).toEqual(["change"]);
  });

  test("without an advertisement no GET names a token (servers and clients that do not opt in see no change)", async () => {
    const { server, client } = setup();
    const g = await client().create("");
    const s = await client().open(g.id);
    await s.put("a");
    await g.poll();
    await g.put("b");
    await s.poll();
    expect(server.requests("GET").length).toBeGreaterThan(2);
    expect(server.requests("GET").every((r) => r.search === "")).toBe(true);
  });
});

describe("held GETs in real time", () => {
  test("abort stops a held GET at once", async () => {
    const { server, client } = setup(LONG, systemClock);
    const g = await client().create("");
    const ac = new AbortController();
    const waiting = rejection(g.poll({ signal: ac.signal }));
    await until(() => server.held === 1);
    const t = performance.now();
    ac.abort();
    expect((await waiting).code).toBe("cancelled");
    expect(performance.now() - t).toBeLessThan(200);
    expect(server.holds.map((h) => h.ended)).toEqual(["aborted"]);
    expect(server.requests("GET")).toHaveLength(1);
  });

  test("a hold longer than the request timeout is not a lost response", async () => {
    const { server, client } = setup({ longPoll: { maxWaitMs: 1_000 } }, systemClock);
    const g = await client({ requestTimeoutMs: 50 }).create("");
    const waiting = g.poll();
    await until(() => server.held === 1);
    await new Promise((r) => setTimeout(r, 300)); // six request timeouts
    server.externalWrite(g.id, "slow");
    await expect(waiting).resolves.toBe("slow");
    expect(server.requests("GET")).toHaveLength(1);
  });

  test("a GET lost while held is re-sent after the bound plus the request timeout", async () => {
    const { server, client } = setup({ longPoll: { maxWaitMs: 100 } }, systemClock);
    const g = await client({ requestTimeoutMs: 100 }).create("");
    // The first GET's answer never comes (a proxy that swallows it).
    let swallowed = false;
    server.hook = (req) => {
      if (req.method !== "GET" || swallowed) return undefined;
      swallowed = true;
      return "hang";
    };
    const t = performance.now();
    const waiting = g.poll();
    await until(() => server.requests("GET").length === 2, 3_000);
    const resentAfter = performance.now() - t;
    expect(resentAfter).toBeGreaterThanOrEqual(190);
    expect(resentAfter).toBeLessThan(1_500);
    server.externalWrite(g.id, "after loss");
    await expect(waiting).resolves.toBe("after loss");
  });

  test("expiry is enforced locally: a server that would hold past it is cut at our deadline", async () => {
    const { server, client } = setup({ ttlMs: 300, longPoll: { maxWaitMs: 20_000 } }, systemClock);
    const g = await client().create("");
    // The server's own idea of the session's life is much longer than what it told us.
    server.sessions.get(g.id)!.expiresAt += 60_000;
    const t = performance.now();
    const err = await rejection(g.poll());
    expect(err.code).toBe("rendezvous_expired");
    const took = performance.now() - t;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1_500);
    expect(server.holds.map((h) => h.ended)).toEqual(["aborted"]);
  });

  test("a held GET cut at our deadline ends the poll even when the clock lags the timers", async () => {
    // Timers and the monotonic clock do not agree to the millisecond (a timer may fire while the clock
    // still shows a little time left); here the clock runs at 0.9× so that always happens.
    const start = performance.now();
    const lagging = { ...systemClock, now: () => start + (performance.now() - start) * 0.9 };
    const { server, client } = setup({ ttlMs: 300, longPoll: { maxWaitMs: 20_000 } }, lagging);
    const g = await client().create("");
    server.sessions.get(g.id)!.expiresAt += 60_000;
    const err = await rejection(g.poll());
    expect(err.code).toBe("rendezvous_expired");
    expect(server.holds.map((h) => h.ended)).toEqual(["aborted"]);
  });
});
