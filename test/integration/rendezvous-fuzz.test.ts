// Fuzz: ≥ 20,000 random requests (methods, paths, headers, bodies) against a real listening
// rendezvous server. Invariants: never a 5xx, the server never crashes, and every error response
// carries a JSON Matrix error body. Seeded, so a failure can be replayed (the seed is printed).
import { afterAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { startRendezvousServer } from "../../server/rendezvous/index.js";

const V1 = "/_matrix/client/v1/rendezvous";
const UNSTABLE = "/_matrix/client/unstable/io.element.msc4388/rendezvous";

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Live { id: string; token: string; data: string; previous: string }

function makeGenerator(rand: () => number, live: Live[]) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (n: number) => Math.floor(rand() * n);
  const randomString = (n: number, alphabet = "abcXYZ019-_.~%/?#&=+ é😀\u0000\u001f\"\\") => {
    const chars = [...alphabet]; // code points, so the emoji is never split into lone surrogates
    return Array.from({ length: n }, () => chars[int(chars.length)]).join("");
  };
  const randomJsonValue = (depth = 0): unknown => {
    switch (int(depth > 2 ? 5 : 7)) {
      case 0: return null;
      case 1: return rand() < 0.5;
      case 2: return rand() * 1e6 - 5e5;
      case 3: return randomString(int(20));
      case 4: return int(10) === 0 ? "a".repeat(4097) : randomString(int(200));
      case 5: return Array.from({ length: int(4) }, () => randomJsonValue(depth + 1));
      default: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(["data", "sequence_token", "id", "__proto__", "x"]), randomJsonValue(depth + 1)]));
    }
  };
  // Protocol-shaped requests (valid prefix, live session, plausible bodies) reach the deeper states.
  const shaped = () => {
    const prefix = pick([V1, UNSTABLE]);
    const s = live.length > 0 ? pick(live) : undefined;
    const headers: Record<string, string> = rand() < 0.8 ? { "Content-Type": "application/json" } : {};
    const kind = int(7);
    if (kind === 0 || !s) return { method: "POST", path: prefix, headers, body: JSON.stringify({ data: randomString(int(40)) }), session: undefined };
    if (kind === 1) return { method: "GET", path: `${prefix}/${s.id}`, headers: {}, body: undefined, session: s };
    if (kind === 6) return { method: "DELETE", path: `${prefix}/${s.id}`, headers: {}, body: undefined, session: s };
    const token = kind === 2 ? s.token : kind === 3 ? s.previous : kind === 4 ? randomString(27, "AZaz09_-") : s.token;
    const data = kind === 5 || rand() < 0.3 ? s.data : randomString(int(40));
    return { method: "PUT", path: `${prefix}/${s.id}`, headers, body: JSON.stringify({ sequence_token: token, data }), session: s };
  };
  return () => {
    if (rand() < 0.4) return shaped();
    const method = pick(["GET", "GET", "HEAD", "POST", "POST", "PUT", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"]);
    const session = live.length > 0 && rand() < 0.6 ? pick(live) : undefined;
    const base = pick([V1, UNSTABLE, UNSTABLE, V1, "/_matrix/client/v3/rendezvous", "/", "/health", "/metrics", "/" + randomString(5, "abc")]);
    const suffix = pick([
      "", "/", `/${session?.id ?? "AAAAAAAAAAAAAAAAAAAAAA"}`, `/${session?.id ?? "x"}`, `/${session?.id ?? "x"}/extra`,
      "/" + encodeURIComponent(randomString(int(30))), "/%zz", "/%2F..%2F", "?access_token=abc&x=%ff", "//", "/" + "a".repeat(3000),
      `/${session?.id ?? "x"}?sequence_token=1`,
    ]);
    const headers: Record<string, string> = {};
    if (rand() < 0.7) headers["Content-Type"] = pick(["application/json", "text/plain", "application/json; charset=utf-8", "multipart/form-data; boundary=x", "garbage/??", "application/x-www-form-urlencoded"]);
    if (rand() < 0.2) headers["Sec-Fetch-Dest"] = pick(["empty", "document", "image", ""]);
    if (rand() < 0.2) headers["Sec-Fetch-Mode"] = pick(["cors", "navigate", "no-cors"]);
    if (rand() < 0.1) headers["Sec-Fetch-User"] = "?1";
    if (rand() < 0.1) headers["Sec-Fetch-Site"] = pick(["none", "same-origin", "cross-site"]);
    if (rand() < 0.2) headers.Authorization = pick(["Bearer abc", "Bearer", "Basic xyz", "Bearer " + "t".repeat(500)]);
    if (rand() < 0.2) headers.Origin = "https://app.example";
    if (rand() < 0.1) headers["Access-Control-Request-Method"] = pick(["PUT", "POST", "GET"]);
    if (rand() < 0.05) headers["Content-Encoding"] = "gzip";
    let body: string | Buffer | undefined;
    switch (int(9)) {
      case 0: body = undefined; break;
      case 1: body = JSON.stringify({ data: randomString(int(100)) }); break;
      case 2: body = JSON.stringify({ sequence_token: (rand() < 0.6 ? session?.token : session?.previous) ?? "x", data: rand() < 0.3 ? session?.data ?? "" : randomString(int(50)) }); break;
      case 3: body = JSON.stringify(randomJsonValue()); break;
      case 4: body = randomString(int(100)); break;
      case 5: body = Buffer.from(Array.from({ length: int(300) }, () => int(256))); break;
      case 6: body = "[".repeat(5000) + "]".repeat(5000); break;
      case 7: body = "x".repeat(70_000); break;
      default: body = JSON.stringify({ data: "é".repeat(int(3000)), sequence_token: session?.token ?? "" });
    }
    if ((method === "GET" || method === "HEAD") && rand() < 0.7) body = undefined;
    return { method, path: base + suffix, headers, body, session };
  };
}

interface Outcome { status: number; contentType: string; text: string }

function send(port: number, agent: http.Agent, r: { method: string; path: string; headers: Record<string, string>; body: string | Buffer | undefined }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    // Explicit Content-Length: Node would send a GET/DELETE/OPTIONS body unframed (malformed framing is
    // covered by rawGarbage below).
    const headers = r.body === undefined ? r.headers : { ...r.headers, "Content-Length": String(Buffer.byteLength(r.body)) };
    const req = http.request({ host: "127.0.0.1", port, method: r.method, path: r.path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (r.body !== undefined) req.end(r.body);
    else req.end();
  });
}

function checkOutcome(method: string, o: Outcome, describeReq: () => string): void {
  if (o.status >= 500 || o.status < 100) throw new Error(`got ${o.status} for ${describeReq()}: ${o.text.slice(0, 200)}`);
  if (o.status >= 400 && method !== "HEAD") {
    let parsed: { errcode?: unknown; error?: unknown } | undefined;
    try { parsed = JSON.parse(o.text) as typeof parsed; } catch { /* checked below */ }
    if (!/^application\/json/.test(o.contentType) || typeof parsed?.errcode !== "string" || typeof parsed?.error !== "string") {
      throw new Error(`non-JSON error ${o.status} (${o.contentType}) for ${describeReq()}: ${o.text.slice(0, 200)}`);
    }
  }
}

async function fuzz(server: RunningRendezvousServer, total: number, seed: number): Promise<Map<number, number>> {
  const port = Number(new URL(server.url).port);
  const rand = mulberry32(seed);
  const live: Live[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 48 });
  const next = makeGenerator(rand, live);
  const statuses = new Map<number, number>();
  let done = 0;
  try {
    // Seed a few live sessions so ids and tokens hit real sessions.
    for (let i = 0; i < 20; i++) {
      const o = await send(port, agent, { method: "POST", path: V1, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ data: `seed ${i}` }) });
      const j = JSON.parse(o.text) as { id: string; sequence_token: string };
      live.push({ id: j.id, token: j.sequence_token, data: `seed ${i}`, previous: j.sequence_token });
    }
    await Promise.all(Array.from({ length: 48 }, async () => {
      while (done < total) {
        done++;
        const r = next();
        let o: Outcome;
        try {
          o = await send(port, agent, r);
        } catch (err) {
          // A 413 may close the connection before the whole body was written: that is the server refusing, not failing.
          if (r.body !== undefined && r.body.length > 60_000) continue;
          throw new Error(`request failed (${(err as Error).message}) for ${r.method} ${r.path.slice(0, 80)} seed=${seed}`);
        }
        statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
        checkOutcome(r.method, o, () => `${r.method} ${r.path.slice(0, 120)} headers=${JSON.stringify(r.headers)} body=${String(r.body).slice(0, 80)} seed=${seed}`);
        // Track successful writes so later requests reuse current tokens.
        if (o.status === 200 && r.method === "PUT" && r.session && typeof r.body === "string") {
          try {
            const sent = JSON.parse(r.body) as { data?: string };
            const got = JSON.parse(o.text) as { sequence_token?: string };
            if (got.sequence_token && typeof sent.data === "string" && got.sequence_token !== r.session.token) {
              r.session.previous = r.session.token;
              r.session.token = got.sequence_token;
              r.session.data = sent.data;
            }
          } catch { /* body was not JSON after all */ }
        }
        if (o.status === 200 && r.method === "POST" && live.length < 200) {
          try {
            const j = JSON.parse(o.text) as { id?: string; sequence_token?: string };
            const sent = JSON.parse(String(r.body)) as { data?: string };
            if (j.id && j.sequence_token) live.push({ id: j.id, token: j.sequence_token, data: String(sent.data), previous: j.sequence_token });
          } catch { /* ignore */ }
        }
      }
    }));
  } finally {
    agent.destroy();
  }
  return statuses;
}

/** Sends raw, malformed HTTP; the server must answer with a JSON 4xx or close, and stay up. */
async function rawGarbage(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port }, () => sock.end(payload));
    let out = "";
    sock.on("data", (d) => { out += d.toString("latin1"); });
    sock.on("close", () => resolve(out));
    sock.on("error", () => resolve(out));
    sock.setTimeout(3000, () => sock.destroy());
  });
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "qrl-rz-fuzz-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each([
  ["memory", 20_000],
  ["sqlite", 5_000],
] as const)("fuzz, %s store", (store, total) => {
  test(`${total} random requests: no 5xx, no crash, JSON errors`, async () => {
    const seed = Number(process.env.RZ_FUZZ_SEED ?? Date.now() % 2 ** 31);
    console.log(`rendezvous fuzz (${store}) seed=${seed}`);
    const server = await startRendezvousServer({
      host: "127.0.0.1", port: 0, mode: "open", logLevel: false,
      store: store === "memory" ? "memory" : `sqlite:${path.join(tmp, "fuzz.sqlite")}`,
      limits: { maxSessions: 50, maxSessionsPerIp: 0, createPerWindow: 0, requestsPerWindow: 0 },
    });
    try {
      const statuses = await fuzz(server, total, seed);
      const count = [...statuses.values()].reduce((a, b) => a + b, 0);
      expect(count).toBeGreaterThanOrEqual(total * 0.95);
      // The fuzz reached the interesting outcomes, not just 404s.
      const seen = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
      for (const s of [200, 204, 400, 403, 404, 405, 409, 413, 429]) if (!seen[s]) throw new Error(`fuzz never produced ${s}: ${JSON.stringify(seen)}`);
      const port = Number(new URL(server.url).port);
      for (const payload of ["GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", `GET ${V1} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`, "\u0000\u0001\u0002\r\n\r\n"]) {
        const reply = await rawGarbage(port, payload);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);
        expect(status).toBe(400);
        expect(JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)).errcode).toBe("M_INVALID_PARAM");
      }
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(200);
    } finally {
      await server.close();
    }
  }, 120_000);
});
