// Transport2024 (the fetch function under matrix-js-sdk's MSC4108RendezvousSession) on its own, with a
// scripted fetch and a virtual monotonic clock: what it hands the SDK, and how it classifies answers.
import { describe, expect, test } from "@jest/globals";
import { Transport2024 } from "../../main/protocol-2024/transport.js";
import { VirtualClock } from "../support/fake-rendezvous.js";
import { protocolRejection } from "../support/protocol-error-code.js";

type Answer = { status: number; headers?: Record<string, string>; body?: string } | Error;

function scripted(answers: Answer[]): { fetch: (input: string, init: RequestInit) => Promise<Response>; seen: Array<{ url: string; init: RequestInit }> } {
  const seen: Array<{ url: string; init: RequestInit }> = [];
  return {
    seen,
    fetch: async (url, init) => {
      seen.push({ url, init });
      const a = answers.shift();
      if (!a) throw new Error(`unexpected request ${init.method} ${url}`);
      if (a instanceof Error) throw a;
      return new Response([204, 304].includes(a.status) ? null : (a.body ?? ""), { status: a.status, headers: a.headers ?? {} });
    },
  };
}

const URL_ = "https://rz.example/_synapse/client/rendezvous/abc";
const CREATE = "https://rz.example/_matrix/client/unstable/org.matrix.msc4108/rendezvous";

function created(lifetimeMs: number, skewMs = 0): Answer {
  const serverNow = Date.now() + skewMs;
  return {
    status: 201,
    headers: { "content-type": "application/json", etag: '"e1"', date: new Date(serverNow).toUTCString(), expires: new Date(serverNow + lifetimeMs).toUTCString() },
    body: JSON.stringify({ url: URL_ }),
  };
}

describe("Transport2024", () => {
  test("Expires is rewritten to local time from Expires − Date; the deadline is kept on the monotonic clock", async () => {
    const clock = new VirtualClock();
    const { fetch } = scripted([created(120_000, -3_600_000)]);
    const t = new Transport2024({ fetch, clock });
    const res = await t.fetchFn(CREATE, { method: "POST", body: "" });
    const expires = Date.parse(res.headers.get("expires")!);
    // A server an hour behind: the rewritten Expires is ~2 minutes from our now, not an hour ago.
    expect(expires - Date.now()).toBeGreaterThan(118_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(121_000);
    expect(t.remainingMs).toBeGreaterThan(118_000);
    clock.t += 60_000;
    expect(t.remainingMs).toBeLessThanOrEqual(61_000);
  });

  test("a 404 within the second HTTP dates are rounded to before the deadline is an expiry; earlier, a deletion", async () => {
    const clock = new VirtualClock();
    const { fetch } = scripted([created(3_000), { status: 404, body: "{}" }, { status: 404, body: "{}" }]);
    const t = new Transport2024({ fetch, clock });
    await t.fetchFn(CREATE, { method: "POST", body: "" });
    clock.t += 1_000;
    expect((await protocolRejection(t.fetchFn(URL_, { method: "GET", headers: { "if-none-match": '"e1"' } }))).code).toBe("rendezvous_not_found");
    // Expires − Date may overstate the lifetime by almost a second; a held GET answers the real expiry at once.
    clock.t += 1_200;
    expect((await protocolRejection(t.fetchFn(URL_, { method: "GET", headers: { "if-none-match": '"e1"' } }))).code).toBe("rendezvous_expired");
  });

  test("a DELETE after the server answered 404 for the session is answered locally; before it, it goes out", async () => {
    const { fetch, seen } = scripted([created(60_000), { status: 204 }]);
    const t = new Transport2024({ fetch });
    await t.fetchFn(CREATE, { method: "POST", body: "" });
    expect((await t.fetchFn(URL_, { method: "DELETE" })).status).toBe(204);
    expect(seen.map((s) => s.init.method)).toEqual(["POST", "DELETE"]);

    const gone = scripted([created(60_000), { status: 404, body: "{}" }]);
    const u = new Transport2024({ fetch: gone.fetch });
    await u.fetchFn(CREATE, { method: "POST", body: "" });
    await protocolRejection(u.fetchFn(URL_, { method: "GET", headers: { "if-none-match": '"e1"' } }));
    // matrix-js-sdk's close() after the 404: no request (the scripted fetch would throw on one).
    expect((await u.fetchFn(URL_, { method: "DELETE" })).status).toBe(404);
    expect(gone.seen.map((s) => s.init.method)).toEqual(["POST", "GET"]);
    expect(u.counts.DELETE).toBe(0);
  });

  test("ETags handed over strong, text/plain without its charset; a 304 without ETag keeps the one asked with; long-poll `since`", async () => {
    const { fetch, seen } = scripted([
      { status: 200, headers: { etag: 'W/"e2"', "content-type": "text/plain; charset=utf-8" }, body: "payload" },
      { status: 304 },
    ]);
    const t = new Transport2024({ fetch });
    const got = await t.fetchFn(URL_, { method: "GET", headers: { "if-none-match": '"e1"' } });
    expect(got.headers.get("etag")).toBe('"e2"');
    expect(got.headers.get("content-type")).toBe("text/plain");
    expect(await got.text()).toBe("payload");
    const unchanged = await t.fetchFn(URL_, { method: "GET", headers: { "if-none-match": '"e2"' } });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers.get("etag")).toBe('"e2"');
    expect(seen.map((s) => new URL(s.url).searchParams.get("since"))).toEqual(['"e1"', '"e2"']);
    expect(t.counts).toMatchObject({ total: 2, GET: 2 });
  });

  test("writes: 412 is a concurrent write, 413 too large, a 2xx without ETag a bad response", async () => {
    const { fetch, seen } = scripted([
      { status: 412, headers: { etag: '"other"', "content-type": "application/json" }, body: '{"errcode":"M_UNKNOWN"}' },
      { status: 413, body: "{}" },
      { status: 202, headers: { "content-type": "text/plain" } },
    ]);
    const t = new Transport2024({ fetch });
    const put = (): Promise<Response> => t.fetchFn(URL_, { method: "PUT", headers: { "if-match": '"e1"' }, body: "x" });
    expect((await protocolRejection(put())).code).toBe("rendezvous_concurrent_write");
    expect((await protocolRejection(put())).code).toBe("rendezvous_too_large");
    expect((await protocolRejection(put())).code).toBe("rendezvous_bad_response");
    expect(seen).toHaveLength(3);
  });

  test("every method is retried on refused and reset connections, 5xx and 429, with backoff; 429 waits its Retry-After", async () => {
    const clock = new VirtualClock();
    const refused = Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
    const { fetch, seen } = scripted([
      refused, created(60_000),
      new TypeError("other side closed"), { status: 502 }, { status: 200, headers: { etag: '"e2"', "content-type": "text/plain" }, body: "hi" },
      refused, { status: 503 }, { status: 202, headers: { etag: '"e3"' } },
      { status: 429, headers: { "retry-after": "7" } }, { status: 204 },
    ]);
    const t = new Transport2024({ fetch, clock });
    expect((await t.fetchFn(CREATE, { method: "POST", body: "" })).status).toBe(201);
    expect((await t.fetchFn(URL_, { method: "GET", headers: { "if-none-match": '"e1"' } })).status).toBe(200);
    expect((await t.fetchFn(URL_, { method: "PUT", headers: { "if-match": '"e2"' }, body: "x" })).headers.get("etag")).toBe('"e3"');
    const before = clock.t;
    expect((await t.fetchFn(URL_, { method: "DELETE" })).status).toBe(204);
    expect(clock.t - before).toBe(7_000);
    expect(seen.map((s) => s.init.method)).toEqual(["POST", "POST", "GET", "GET", "GET", "PUT", "PUT", "PUT", "DELETE", "DELETE"]);
  });

  test("retries go on until the session's expiry, not for a fixed number of attempts; then a network error", async () => {
    const clock = new VirtualClock();
    const down = Array.from({ length: 200 }, () => new TypeError("fetch failed"));
    const { fetch, seen } = scripted([created(120_000), ...down]);
    const t = new Transport2024({ fetch, clock });
    await t.fetchFn(CREATE, { method: "POST", body: "" });
    const err = await protocolRejection(t.fetchFn(URL_, { method: "PUT", headers: { "if-match": '"e1"' }, body: "x" }));
    expect(err.code).toBe("rendezvous_network");
    // 250 ms doubling to 4 s between attempts: about 30 of them fit in two minutes.
    expect(seen.length - 1).toBeGreaterThan(25);
    expect(t.isExpired).toBe(true);
  });

  test("before the expiry is known (POST), a fixed number of attempts; a DELETE only for its short budget", async () => {
    const clock = new VirtualClock();
    const { fetch, seen } = scripted(Array.from({ length: 8 }, () => new TypeError("fetch failed")));
    const t = new Transport2024({ fetch, clock, maxAttempts: 8 });
    expect((await protocolRejection(t.fetchFn(CREATE, { method: "POST", body: "" }))).code).toBe("rendezvous_network");
    expect(seen).toHaveLength(8);

    const del = scripted([created(600_000), ...Array.from({ length: 50 }, () => new TypeError("fetch failed"))]);
    const u = new Transport2024({ fetch: del.fetch, clock, deleteBudgetMs: 5_000 });
    await u.fetchFn(CREATE, { method: "POST", body: "" });
    const at = clock.t;
    await protocolRejection(u.fetchFn(URL_, { method: "DELETE" }));
    expect(clock.t - at).toBeLessThanOrEqual(5_000 + 4_000);
    expect(del.seen.length).toBeLessThan(12);
  });

  test("a PUT whose answer was lost meets 412 on its retry: the session holds what we wrote, so it landed; its ETag is adopted", async () => {
    const clock = new VirtualClock();
    const { fetch, seen } = scripted([
      new TypeError("other side closed"),
      { status: 412, headers: { "content-type": "application/json" }, body: '{"errcode":"M_CONCURRENT_WRITE"}' },
      { status: 200, headers: { etag: '"after-ours"', "content-type": "text/plain" }, body: "sealed é" },
    ]);
    const t = new Transport2024({ fetch, clock });
    const res = await t.fetchFn(URL_, { method: "PUT", headers: { "if-match": '"e1"', "content-type": "text/plain" }, body: "sealed é" });
    expect(res.status).toBe(202);
    expect(res.headers.get("etag")).toBe('"after-ours"');
    // The read that settles it is unconditional (no If-None-Match, no long-poll parameter).
    expect(seen[2]!.init.method).toBe("GET");
    expect(new Headers(seen[2]!.init.headers).get("if-none-match")).toBeNull();
    expect(new URL(seen[2]!.url).search).toBe("");
  });

  test("…and when the other device has already answered our write, its answer is not lost: the next receive reads it", async () => {
    const clock = new VirtualClock();
    const { fetch, seen } = scripted([
      new TypeError("other side closed"),
      { status: 412, body: "{}" },
      { status: 200, headers: { etag: '"reply"', "content-type": "text/plain" }, body: "the peer's reply" },
      { status: 200, headers: { etag: '"reply"', "content-type": "text/plain" }, body: "the peer's reply" },
    ]);
    const t = new Transport2024({ fetch, clock });
    const res = await t.fetchFn(URL_, { method: "PUT", headers: { "if-match": '"e1"' }, body: "ours" });
    expect(res.status).toBe(202);
    // Not the current ETag (that would make matrix-js-sdk skip the reply), but the one we wrote against.
    expect(res.headers.get("etag")).toBe('"e1"');
    const next = await t.fetchFn(URL_, { method: "GET", headers: { "if-none-match": res.headers.get("etag")! } });
    expect(await next.text()).toBe("the peer's reply");
    expect(new URL(seen[3]!.url).searchParams.get("since")).toBe('"e1"');
  });

  test("…and when the session is gone by the retry (the peer read our write and deleted it), the write counts as done", async () => {
    const clock = new VirtualClock();
    const { fetch, seen } = scripted([created(60_000), new TypeError("other side closed"), { status: 404, body: "{}" }, { status: 404, body: "{}" }]);
    const t = new Transport2024({ fetch, clock });
    await t.fetchFn(CREATE, { method: "POST", body: "" });
    expect((await t.fetchFn(URL_, { method: "PUT", headers: { "if-match": '"e1"' }, body: "m.login.secrets" })).status).toBe(202);
    // The next request reports the end, and the session is not DELETEd again.
    expect((await protocolRejection(t.fetchFn(URL_, { method: "GET", headers: { "if-none-match": '"e1"' } }))).code).toBe("rendezvous_not_found");
    expect((await t.fetchFn(URL_, { method: "DELETE" })).status).toBe(404);
    expect(seen.map((s) => s.init.method)).toEqual(["POST", "PUT", "PUT", "GET"]);

    // The same when the 412 came first and the session was gone by the read that settles it.
    const late = scripted([created(60_000), new TypeError("other side closed"), { status: 412, body: "{}" }, new TypeError("other side closed"), { status: 404, body: "{}" }]);
    const u = new Transport2024({ fetch: late.fetch, clock });
    await u.fetchFn(CREATE, { method: "POST", body: "" });
    expect((await u.fetchFn(URL_, { method: "PUT", headers: { "if-match": '"e1"' }, body: "m.login.secrets" })).status).toBe(202);
    expect(late.seen.map((s) => s.init.method)).toEqual(["POST", "PUT", "PUT", "GET", "GET"]);
  });

  test("POST answers 404 mean no 2024 rendezvous there", async () => {
    const { fetch } = scripted([{ status: 404, body: "{}" }]);
    const t = new Transport2024({ fetch });
    expect((await protocolRejection(t.fetchFn(CREATE, { method: "POST", body: "" }))).code).toBe("rendezvous_unavailable");
  });

  test("an abandoned operation: its in-flight request is aborted and its later requests never reach the network", async () => {
    let inFlight: AbortSignal | undefined;
    const requests: string[] = [];
    const t = new Transport2024({
      fetch: (url, init) => {
        requests.push(url);
        inFlight = init.signal ?? undefined;
        return new Promise((_resolve, reject) => init.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true }));
      },
    });
    const stop = new AbortController();
    let secondTry: Promise<unknown> | undefined;
    const op = t.run(async () => {
      await t.fetchFn(URL_, { method: "GET" }).catch(() => undefined);
      // The SDK's loop goes on after its sleep: this request must be refused.
      secondTry = t.fetchFn(URL_, { method: "GET" });
      return secondTry;
    }, { signal: stop.signal });
    await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    expect((await protocolRejection(op)).code).toBe("cancelled");
    expect(inFlight?.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect((await protocolRejection(secondTry!)).code).toBe("cancelled");
    expect(requests).toHaveLength(1);
  });
});
