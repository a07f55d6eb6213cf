// Fuzz: ≥ 20,000 random requests (methods, paths, headers, bodies) against a real listening
// rendezvous server, on both APIs. Invariants: never a 5xx, the server never crashes, every error
// response carries a JSON Matrix error body, and nothing is lost: witness sessions of both APIs
// that the fuzz never names are intact at the end, and every 2024 session the fuzz wrote holds
// exactly its last acknowledged write (or is gone after an acknowledged DELETE). Seeded, so a
// failure can be replayed (the seed is printed).
import { afterAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { MSC4108_PATH, startRendezvousServer } from "../../server/rendezvous/index.js";

const V1 = "/_matrix/client/v1/rendezvous";
const UNSTABLE = "/_matrix/client/unstable/io.element.msc4388/rendezvous";
const P2024 = MSC4108_PATH;

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
/** A 2024 session as the fuzz last saw it acknowledged: data as latin1 bytes, the current ETag. */
interface Live2024 { id: string; etag: string; previousEtag: string; data: string; deleted: boolean }

interface FuzzRequest { method: string; path: string; headers: Record<string, string | string[]>; body: string | Buffer | undefined; session?: Live | undefined; session2024?: Live2024 | undefined }

function makeGenerator(rand: () => number, live: Live[], live2024: Live2024[]): () => FuzzRequest {
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
  // The 2024 API: conditional headers in every good and bad form, content types, sizes, bytes.
  const ifMatchFor = (s: Live2024 | undefined): string | string[] | undefined => {
    const etag = s?.etag ?? '"AAAAAAAAAAAAAAAAAAAAAAAAAAA"';
    return pick([
      etag, etag, etag, `W/${etag}`, s?.previousEtag ?? etag, "*", `${etag}, "x"`, [etag, etag], etag.slice(1, -1), "", '"garbage"',
      `"${randomString(int(20), "AZaz09_-")}"`, undefined,
    ]);
  };
  const shaped2024 = (): FuzzRequest => {
    const s = live2024.length > 0 ? pick(live2024) : undefined;
    const type = pick(["text/plain", "text/plain", "text/plain", "text/plain; charset=utf-8", "TEXT/PLAIN", "application/json", "application/x-www-form-urlencoded", undefined]);
    const headers: Record<string, string | string[]> = type ? { "Content-Type": type } : {};
    const body = pick<string | Buffer>([
      randomString(int(60)), randomString(int(60)), "", Buffer.from(Array.from({ length: int(400) }, () => int(256))), "a".repeat(4096), "a".repeat(4097), "é".repeat(2049),
    ]);
    const kind = int(8);
    if (kind === 0 || !s) return { method: "POST", path: P2024, headers, body };
    if (kind <= 2) {
      const inm = pick([s.etag, s.etag, `W/${s.etag}`, s.previousEtag, "*", '"nope"', "garbage", undefined]);
      return { method: "GET", path: `${P2024}/${s.id}`, headers: inm === undefined ? {} : { "If-None-Match": inm }, body: undefined, session2024: s };
    }
    if (kind === 3 && rand() < 0.3) return { method: "DELETE", path: `${P2024}/${s.id}`, headers: {}, body: undefined, session2024: s };
    const ifMatch = ifMatchFor(s);
    if (ifMatch !== undefined) headers["If-Match"] = ifMatch;
    return { method: "PUT", path: `${P2024}/${s.id}`, headers, body, session2024: s };
  };
  return (): FuzzRequest => {
    const r = rand();
    if (r < 0.25) return shaped();
    if (r < 0.5) return shaped2024();
    const method = pick(["GET", "GET", "HEAD", "POST", "POST", "PUT", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"]);
    const session = live.length > 0 && rand() < 0.6 ? pick(live) : undefined;
    // Ids of either API under either API's paths: sessions must never answer for the other API.
    const session2024 = live2024.length > 0 && rand() < 0.5 ? pick(live2024) : undefined;
    const anyId = session2024 && rand() < 0.5 ? session2024.id : session?.id;
    const base = pick([V1, UNSTABLE, UNSTABLE, V1, P2024, P2024, "/_matrix/client/v3/rendezvous", "/", "/health", "/metrics", "/" + randomString(5, "abc")]);
    const suffix = pick([
      "", "/", `/${anyId ?? "AAAAAAAAAAAAAAAAAAAAAA"}`, `/${anyId ?? "x"}`, `/${anyId ?? "x"}/extra`,
      "/" + encodeURIComponent(randomString(int(30))), "/%zz", "/%2F..%2F", "?access_token=abc&x=%ff", "//", "/" + "a".repeat(3000),
      `/${session?.id ?? "x"}?sequence_token=1`,
    ]);
    const headers: Record<string, string | string[]> = {};
    if (rand() < 0.15) headers["If-Match"] = ifMatchFor(session2024) ?? "*";
    if (rand() < 0.1) headers["If-None-Match"] = session2024?.etag ?? "*";
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
    return { method, path: base + suffix, headers, body, session, session2024: anyId !== undefined && anyId === session2024?.id ? session2024 : undefined };
  };
}

interface Outcome { status: number; contentType: string; text: string; etag: string | undefined; bytes: Buffer }

function send(port: number, agent: http.Agent, r: { method: string; path: string; headers: Record<string, string | string[]>; body: string | Buffer | undefined }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    // Explicit Content-Length: Node would send a GET/DELETE/OPTIONS body unframed (malformed framing is
    // covered by rawGarbage below).
    const headers = r.body === undefined ? r.headers : { ...r.headers, "Content-Length": String(Buffer.byteLength(r.body)) };
    const req = http.request({ host: "127.0.0.1", port, method: r.method, path: r.path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), text: bytes.toString("utf8"), etag: res.headers.etag, bytes });
      });
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

/** 2024 statuses each method may answer, besides the generic 4xx of malformed requests. */
const ALLOWED_2024: Record<string, readonly number[]> = {
  POST: [201, 400, 401, 404, 405, 413, 429], GET: [200, 304, 400, 403, 404, 405, 413, 429], HEAD: [200, 304, 400, 403, 404, 405, 413, 429],
  PUT: [202, 400, 404, 405, 412, 413, 429], DELETE: [204, 400, 404, 405, 413, 429],
};

const latin1 = (body: string | Buffer | undefined) => (body === undefined ? "" : Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8")).toString("latin1");

async function fuzz(server: RunningRendezvousServer, total: number, seed: number): Promise<Map<number, number>> {
  const port = Number(new URL(server.url).port);
  const rand = mulberry32(seed);
  const live: Live[] = [];
  const live2024: Live2024[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 48 });
  const next = makeGenerator(rand, live, live2024);
  // Witnesses: sessions of both APIs the fuzz never learns about.
  const witness25: { id: string; token: string; data: string }[] = [];
  const witness24: { path: string; etag: string; data: Buffer }[] = [];
  for (let i = 0; i < 3; i++) {
    const o = await send(port, agent, { method: "POST", path: V1, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ data: `witness ${i}` }) });
    const j = JSON.parse(o.text) as { id: string; sequence_token: string };
    witness25.push({ id: j.id, token: j.sequence_token, data: `witness ${i}` });
    const data = Buffer.from([0, 255, i, 10, 13]);
    const w = await send(port, agent, { method: "POST", path: P2024, headers: { "Content-Type": "text/plain" }, body: data });
    witness24.push({ path: new URL((JSON.parse(w.text) as { url: string }).url).pathname, etag: w.etag!, data });
  }
  const statuses = new Map<number, number>();
  let done = 0;
  try {
    // Seed a few live sessions so ids and tokens hit real sessions.
    for (let i = 0; i < 15; i++) {
      const o = await send(port, agent, { method: "POST", path: V1, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ data: `seed ${i}` }) });
      const j = JSON.parse(o.text) as { id: string; sequence_token: string };
      live.push({ id: j.id, token: j.sequence_token, data: `seed ${i}`, previous: j.sequence_token });
    }
    for (let i = 0; i < 15; i++) {
      const o = await send(port, agent, { method: "POST", path: P2024, headers: { "Content-Type": "text/plain" }, body: `seed ${i}` });
      const id = new URL((JSON.parse(o.text) as { url: string }).url).pathname.split("/").at(-1)!;
      live2024.push({ id, etag: o.etag!, previousEtag: o.etag!, data: `seed ${i}`, deleted: false });
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
        const describeReq = () => `${r.method} ${r.path.slice(0, 120)} headers=${JSON.stringify(r.headers)} body=${String(r.body).slice(0, 80)} seed=${seed}`;
        checkOutcome(r.method, o, describeReq);
        if (r.path.startsWith(`${P2024}/`) || r.path === P2024) {
          const allowed = ALLOWED_2024[r.method];
          if (allowed && !allowed.includes(o.status)) throw new Error(`2024 API answered ${o.status} to ${describeReq()}: ${o.text.slice(0, 200)}`);
          if (o.etag !== undefined && !/^"[\x21\x23-\x7e]+"$/.test(o.etag)) throw new Error(`not a strong ETag: ${o.etag} for ${describeReq()}`);
          if (r.method === "GET" && o.status === 200 && o.contentType !== "text/plain") throw new Error(`2024 payload as ${o.contentType} for ${describeReq()}`);
        }
        const s24 = r.session2024;
        if (s24 && r.path === `${P2024}/${s24.id}`) {
          if (r.method === "PUT" && o.status === 202) {
            s24.previousEtag = s24.etag;
            s24.etag = o.etag!;
            s24.data = latin1(r.body);
          }
          if (r.method === "DELETE" && o.status === 204) s24.deleted = true;
          if (r.method === "GET" && o.status === 200 && !s24.deleted && o.etag === s24.etag && o.bytes.toString("latin1") !== s24.data) {
            throw new Error(`GET of a 2024 session returned other bytes than its last acknowledged write under the same ETag (seed=${seed})`);
          }
        }
        if (o.status === 201 && r.method === "POST" && r.path === P2024 && live2024.length < 200) {
          const id = new URL((JSON.parse(o.text) as { url: string }).url).pathname.split("/").at(-1)!;
          live2024.push({ id, etag: o.etag!, previousEtag: o.etag!, data: latin1(r.body), deleted: false });
        }
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
    // Nothing lost: witnesses intact, every 2024 session as last acknowledged.
    for (const w of witness25) {
      const o = await send(port, agent, { method: "GET", path: `${V1}/${w.id}`, headers: {}, body: undefined });
      expect(JSON.parse(o.text)).toMatchObject({ data: w.data, sequence_token: w.token });
    }
    for (const w of witness24) {
      const o = await send(port, agent, { method: "GET", path: w.path, headers: {}, body: undefined });
      expect([o.status, o.etag, o.bytes.equals(w.data)]).toEqual([200, w.etag, true]);
    }
    for (const s of live2024) {
      const o = await send(port, agent, { method: "GET", path: `${P2024}/${s.id}`, headers: {}, body: undefined });
      if (s.deleted) expect(o.status).toBe(404);
      else expect([o.status, o.etag, o.bytes.toString("latin1") === s.data]).toEqual([200, s.etag, true]);
    }
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
  test(`${total} random requests on both APIs: no 5xx, no crash, JSON errors, nothing lost`, async () => {
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
      for (const s of [200, 201, 202, 204, 304, 400, 403, 404, 405, 409, 412, 413, 429]) if (!seen[s]) throw new Error(`fuzz never produced ${s}: ${JSON.stringify(seen)}`);
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
