// `npm run bench:server`: the rendezvous server under load, next to a bare node:http baseline.
// One run on loopback, autocannon as the load generator in this process, each server under test
// in its own child process (so generator and server get a core each on a 2-core machine):
//   (a) bare node:http answering a fixed small JSON body
//   (b) our GET poll of a live session (memory store, then Redis)
//   (c) PUT/GET ping-pong pairs, each connection on its own session
// plus RSS of the server process for 10,000 idle sessions, and held long-poll GETs: how many wait at
// once on one process, the memory each costs (split into its connection and its held request, next
// to a bare node:http server holding requests the same way), how fast a PUT wakes one, and how fast
// they are released when their clients go away. The held GETs come from a separate process.
// Prints figures and ratios; no pass/fail.
// BENCH_ONLY=get runs only the GET-poll rows (a), (a'), (b), (b'); BENCH_ONLY=held only the held
// GETs; BENCH_ROUNDS and BENCH_DURATION set the rounds and seconds per run, BENCH_CONNECTIONS the
// connections, BENCH_HELD the number of held GETs (default 10,000).
import autocannon from "autocannon";
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const P = "/_matrix/client/v1/rendezvous";
const HELD = Number(process.env.BENCH_HELD ?? 10_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 200);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const SESSIONS = 10_000;
// The size of a typical poll answer: a base64 ciphertext of ~100 bytes plus token and expiry.
const PAYLOAD = "A".repeat(100);
const BARE_BODY = JSON.stringify({ data: PAYLOAD, sequence_token: "AAAAAAkd_ykB0x3ZxKa4JEjqZ90", expires_in_ms: 179000 });

// ---- child side -------------------------------------------------------------------------------
async function child(kind: string, store: string): Promise<void> {
  if (kind === "bare") {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(BARE_BODY) });
      res.end(BARE_BODY);
    });
    server.keepAliveTimeout = 72_000;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    console.log(`URL http://127.0.0.1:${(server.address() as { port: number }).port}`);
  } else if (kind === "bare-held") {
    // The floor: node:http answering plain GETs at once and leaving GETs with ?since pending forever.
    const held: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
      if (req.url?.includes("?since=")) { held.push(res); res.once("close", () => held.splice(held.indexOf(res), 1)); return; }
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(BARE_BODY) });
      res.end(BARE_BODY);
    });
    server.keepAliveTimeout = 72_000;
    server.requestTimeout = 0;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    console.log(`URL http://127.0.0.1:${(server.address() as { port: number }).port}`);
  } else if (kind === "holder") {
    await holder(store);
    return;
  } else if (kind === "fastify") {
    const { default: Fastify } = await import("fastify");
    const app = Fastify({ logger: false });
    app.get("/", (_req, reply) => reply.header("content-type", "application/json").send(BARE_BODY));
    console.log(`URL ${await app.listen({ host: "127.0.0.1", port: 0 })}`);
  } else {
    const { startRendezvousServer } = await import("../server/rendezvous/index.js");
    const s = await startRendezvousServer({
      host: "127.0.0.1", port: 0, mode: "open", store, logLevel: "warn",
      // The limiter hooks run (their cost is part of the figure) but never refuse the generator.
      limits: { maxSessions: 0, maxSessionsPerIp: 0, createPerWindow: 1e9, requestsPerWindow: kind === "rendezvous-nolimit" ? 0 : 1e9, maxHeld: 0, maxHeldPerIp: 0 },
      // The generator is one client with hundreds (held GETs: thousands) of connections.
      connectionLimits: { maxConnectionsPerIp: 0 },
      // Held GETs must outlast the measurement: the longest bound.
      ...(kind === "rendezvous-held" ? { longPollMs: 25_000 } : {}),
      // Each process its own key space, except the pair of the cross-instance wake-up run.
      ...(store.startsWith("redis") ? { redisPrefix: kind === "rendezvous-held" ? `bench:held:${process.ppid}:` : `bench:${process.pid}:` } : {}),
    });
    console.log(`URL ${s.url}`);
  }
  process.on("SIGTERM", () => process.exit(0)); // a normal exit, so --cpu-prof can write its profile
  process.on("SIGUSR2", () => {
    (globalThis as { gc?: () => void }).gc?.();
    console.log(`GC done heapUsed=${process.memoryUsage().heapUsed}`);
  });
}

// ---- parent side ------------------------------------------------------------------------------
interface Child {
  url: string; proc: ChildProcess; waitFor(line: string): Promise<void>; onLine(f: (line: string) => void): void; lastHeapUsed(): number; stop(): Promise<void>;
}

async function startChild(kind: string, store = "memory", listens = true): Promise<Child> {
  const self = fileURLToPath(import.meta.url);
  const proc = spawn(process.execPath, ["--expose-gc", self, "--child", kind, store], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  let heapUsed = NaN;
  let partial = "";
  const lineListeners: ((line: string) => void)[] = [];
  const waiters: { line: string; resolve: () => void }[] = [];
  proc.stdout!.on("data", (d: Buffer) => {
    const text = d.toString();
    partial += text;
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const l of lines) for (const f of lineListeners) f(l);
    // WOKE lines go to their listener only (thousands of them would slow the search below).
    out += text.replace(/^WOKE .*\n?/gm, "");
    const h = /heapUsed=(\d+)/.exec(out);
    if (h) heapUsed = Number(h[1]);
    for (const w of [...waiters]) if (out.includes(w.line)) { waiters.splice(waiters.indexOf(w), 1); out = out.replace(w.line, ""); w.resolve(); }
  });
  const waitFor = (line: string) => new Promise<void>((resolve, reject) => {
    if (out.includes(line)) { out = out.replace(line, ""); resolve(); return; }
    waiters.push({ line, resolve });
    setTimeout(() => reject(new Error(`child ${kind} did not print "${line}"`)), 20_000).unref();
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  let url = "";
  if (listens) {
    await waitFor("URL ");
    await sleep(50);
    url = /(http:\/\/\S+)/.exec(out)![1]!;
  }
  return {
    url, proc, waitFor, onLine: (f) => { lineListeners.push(f); }, lastHeapUsed: () => heapUsed,
    stop: async () => { if (proc.exitCode === null) proc.kill("SIGTERM"); await exited; },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function request(base: string, method: string, path: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = http.request({ host: u.hostname, port: u.port, method, path, agent, headers: body ? { "content-type": "application/json" } : {} }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => { text += c.toString(); });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function createSessions(base: string, n: number): Promise<{ id: string; token: string }[]> {
  const out: { id: string; token: string }[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < n) {
      next++;
      const r = await request(base, "POST", P, JSON.stringify({ data: PAYLOAD }));
      if (r.status !== 200) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.json)}`);
      out.push({ id: r.json.id as string, token: r.json.sequence_token as string });
    }
  }));
  return out;
}

async function burst(base: string, n: number): Promise<void> {
  const tooLarge = JSON.stringify({ data: "x".repeat(5000) });
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < n) { next++; await request(base, "POST", P, tooLarge); }
  }));
}

interface Figures { rps: number; p99: number; p50: number; errors: number; cpuUsPerReq: number }

/** CPU time (user + system) of a process so far, in ms, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * One measured run. Besides req/s and latency, the server's CPU time per
 * request: on a shared 2-core machine throughput follows whatever else runs, CPU per request much less.
 */
async function load(server: Child, opts: Parameters<typeof autocannon>[0]): Promise<Figures> {
  const cpu0 = cpuMs(server.proc.pid!);
  const r = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...opts });
  const cpu = cpuMs(server.proc.pid!) - cpu0;
  return { rps: r.requests.average, p99: r.latency.p99, p50: r.latency.p50, errors: r.errors + r.timeouts + r.non2xx, cpuUsPerReq: (cpu * 1000) / r.requests.total };
}

function pingPong(url: string, sessions: { id: string; token: string }[]): Parameters<typeof autocannon>[0] {
  let handedOut = 0;
  // Tokens are written back to the shared session objects, so a later run (new connections, new
  // contexts) starts from each session's current token.
  const remember = (status: number, body: string, ctx: Record<string, unknown>) => {
    if (status !== 200) return;
    const token = (JSON.parse(body) as { sequence_token: string }).sequence_token;
    (ctx.session as { token: string }).token = token;
  };
  return {
    url, connections: CONNECTIONS,
    requests: [
      {
        method: "PUT",
        setupRequest: (req, ctx) => {
          if (ctx.session === undefined) {
            ctx.session = sessions[handedOut++ % sessions.length]!;
            ctx.n = 0;
          }
          const session = ctx.session as { id: string; token: string };
          ctx.n = (ctx.n as number) + 1;
          return { ...req, path: `${P}/${session.id}`, headers: { "content-type": "application/json" },
            body: JSON.stringify({ sequence_token: session.token, data: `${PAYLOAD}${ctx.n as number}` }) };
        },
        onResponse: remember,
      },
      {
        method: "GET",
        setupRequest: (req, ctx) => ({ ...req, path: `${P}/${(ctx.session as { id: string }).id}` }),
        onResponse: remember,
      },
    ],
  };
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

async function gcRss(c: Child): Promise<{ rssKb: number; heapUsed: number }> {
  c.proc.kill("SIGUSR2");
  await c.waitFor("GC done heapUsed=");
  await sleep(200);
  return { rssKb: rssKb(c.proc.pid!), heapUsed: c.lastHeapUsed() };
}

async function startRedis(): Promise<{ url: string; stop(): Promise<void> } | null> {
  if (spawnSync("redis-server", ["--version"]).status !== 0) return null;
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const proc = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = http.get({ host: "127.0.0.1", port, path: "/" }, () => resolve(true));
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code !== "ECONNREFUSED"));
    });
    if (up) break;
    await sleep(50);
  }
  return { url: `redis://127.0.0.1:${port}`, stop: async () => { proc.kill("SIGTERM"); await exited; } };
}

// ---- held GETs --------------------------------------------------------------------------------

/**
 * The client side of the held-GET run, in its own process: one raw keep-alive socket per session;
 * commands on stdin (`hold`, `close`), events on stdout. Every socket first makes one plain GET, so
 * the server has N idle keep-alive connections (what plain polling costs between polls) before any
 * request is held.
 */
async function holder(spec: string): Promise<void> {
  const { url, file } = JSON.parse(spec) as { url: string; file: string };
  const sessions = JSON.parse(readFileSync(file, "utf8")) as { id: string; token: string }[];
  const u = new URL(url);
  const now = () => performance.timeOrigin + performance.now();
  let idle = 0;
  const socks: net.Socket[] = [];
  const t0 = now();
  await Promise.all(sessions.map((s, i) => new Promise<void>((opened) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port) });
    socks[i] = sock;
    let buf = "";
    let answers = 0;
    sock.setEncoding("latin1");
    sock.on("error", () => undefined);
    sock.on("data", (d: string) => {
      buf += d;
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = buf.slice(end + 4 + len);
        answers++;
        if (answers === 1) { idle++; opened(); } else console.log(`WOKE ${i} ${now()}`);
      }
    });
    sock.once("connect", () => sock.write(`GET ${P}/${s.id} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`));
  })));
  console.log(`IDLE ${idle} ${Math.round(now() - t0)}`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === "hold") {
      sessions.forEach((s, i) => socks[i]!.write(`GET ${P}/${s.id}?since=${s.token} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`));
      console.log("SENT");
    } else if (line === "close") {
      for (const sock of socks) sock.destroy();
      console.log("CLOSED");
    } else if (line === "exit") {
      process.exit(0);
    }
  }
}

interface HeldFigures {
  kind: string;
  held: number;
  /** ms from sending the held GETs to the server holding all of them (ours only). */
  holdMs: number;
  perConnRss: number;
  perConnHeap: number;
  perHeldRss: number;
  perHeldHeap: number;
  wakeP50?: number;
  wakeP99?: number;
  releaseMs?: number;
}

async function heldRun(kind: "rendezvous-held" | "bare-held"): Promise<HeldFigures> {
  const server = await startChild(kind, "memory");
  const dir = mkdtempSync(path.join(tmpdir(), "qrl-bench-held-"));
  try {
    // N sessions (the bare server needs none: its ids are made up), then a warm-up burst, so the
    // baseline already has the grown young generation and the warmed-up code.
    const sessions = kind === "bare-held"
      ? Array.from({ length: HELD }, (_, i) => ({ id: `bare${i}`, token: "t" }))
      : await createSessions(server.url, HELD);
    if (kind === "rendezvous-held") await burst(server.url, HELD);
    const m0 = await gcRss(server);
    const file = path.join(dir, "sessions.json");
    writeFileSync(file, JSON.stringify(sessions));
    const h = await startChild("holder", JSON.stringify({ url: server.url, file }), false);
    await h.waitFor("IDLE ");
    const m1 = await gcRss(server);
    const sentAt = performance.now();
    h.proc.stdin!.write("hold\n");
    await h.waitFor("SENT");
    let holdMs = NaN;
    if (kind === "rendezvous-held") {
      while ((await heldCount(server.url)) < HELD) await sleep(20);
      holdMs = performance.now() - sentAt;
    } else {
      await sleep(2000); // the bare server has no gauge: give the requests time to arrive
    }
    const m2 = await gcRss(server);
    const fig: HeldFigures = {
      kind, held: HELD, holdMs,
      perConnRss: ((m1.rssKb - m0.rssKb) * 1024) / HELD, perConnHeap: (m1.heapUsed - m0.heapUsed) / HELD,
      perHeldRss: ((m2.rssKb - m1.rssKb) * 1024) / HELD, perHeldHeap: (m2.heapUsed - m1.heapUsed) / HELD,
    };
    if (kind === "rendezvous-held") {
      // Wake-up latency: a PUT on each of 200 held sessions, one after the other.
      const woke = new Map<number, number>();
      h.onLine((line) => {
        const m = /^WOKE (\d+) ([\d.]+)$/.exec(line);
        if (m) woke.set(Number(m[1]), Number(m[2]));
      });
      const putAt = new Map<number, number>();
      for (let i = 0; i < 200; i++) {
        putAt.set(i, performance.timeOrigin + performance.now());
        await request(server.url, "PUT", `${P}/${sessions[i]!.id}`, JSON.stringify({ sequence_token: sessions[i]!.token, data: "woken" }));
      }
      for (let k = 0; k < 100 && woke.size < 200; k++) await sleep(20);
      const lat = [...putAt].filter(([i]) => woke.has(i)).map(([i, t]) => woke.get(i)! - t).sort((x, y) => x - y);
      fig.wakeP50 = lat[Math.floor(lat.length / 2)];
      fig.wakeP99 = lat[Math.floor(lat.length * 0.99)];
      const closedAt = performance.now();
      h.proc.stdin!.write("close\n");
      while ((await heldCount(server.url)) > 0) await sleep(5);
      fig.releaseMs = performance.now() - closedAt;
    }
    h.proc.stdin!.write("exit\n");
    await h.stop();
    return fig;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Wake-up across instances: two servers on one Redis, GETs held on B by the holder process, each
 * woken by a PUT through A (pub/sub from inside the write script). ms from the PUT to the answer.
 */
async function redisWake(redisUrl: string, n = 200): Promise<{ p50: number; p99: number; woken: number }> {
  const a = await startChild("rendezvous-held", redisUrl);
  const b = await startChild("rendezvous-held", redisUrl);
  const dir = mkdtempSync(path.join(tmpdir(), "qrl-bench-wake-"));
  try {
    const sessions = await createSessions(a.url, n);
    const file = path.join(dir, "sessions.json");
    writeFileSync(file, JSON.stringify(sessions));
    const h = await startChild("holder", JSON.stringify({ url: b.url, file }), false);
    await h.waitFor("IDLE ");
    const woke = new Map<number, number>();
    h.onLine((line) => {
      const m = /^WOKE (\d+) ([\d.]+)$/.exec(line);
      if (m) woke.set(Number(m[1]), Number(m[2]));
    });
    h.proc.stdin!.write("hold\n");
    await h.waitFor("SENT");
    while ((await heldCount(b.url)) < n) await sleep(20);
    const putAt = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      putAt.set(i, performance.timeOrigin + performance.now());
      await request(a.url, "PUT", `${P}/${sessions[i]!.id}`, JSON.stringify({ sequence_token: sessions[i]!.token, data: "woken" }));
    }
    for (let k = 0; k < 100 && woke.size < n; k++) await sleep(20);
    const lat = [...putAt].filter(([i]) => woke.has(i)).map(([i, t]) => woke.get(i)! - t).sort((x, y) => x - y);
    h.proc.stdin!.write("exit\n");
    await h.stop();
    return { p50: lat[Math.floor(lat.length / 2)] ?? NaN, p99: lat[Math.floor(lat.length * 0.99)] ?? NaN, woken: woke.size };
  } finally {
    await a.stop();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function heldCount(base: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    http.get(`${base}/metrics`, { agent }, (res) => {
      let t = "";
      res.on("data", (c: Buffer) => { t += c.toString(); });
      res.on("end", () => resolve(t));
    }).on("error", reject);
  });
  return Number(/^rendezvous_held_requests (\d+)$/m.exec(text)?.[1] ?? NaN);
}

const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Target { name: string; server: Child; opts: Parameters<typeof autocannon>[0] }

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/**
 * Runs the targets in interleaved rounds (a, b, b', c, a, b, …) and keeps each one's median, so a
 * burst of load from other processes hits every target alike instead of skewing one ratio.
 */
async function rounds(targets: Target[]): Promise<[string, Figures][]> {
  for (const t of targets) await autocannon({ ...t.opts, duration: 2 }); // warm-up, not counted
  const runs = new Map<string, Figures[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of targets) {
      const f = await load(t.server, t.opts);
      runs.set(t.name, [...(runs.get(t.name) ?? []), f]);
    }
  }
  return targets.map((t) => {
    const fs = runs.get(t.name)!;
    return [t.name, {
      rps: median(fs.map((f) => f.rps)), p50: median(fs.map((f) => f.p50)), p99: median(fs.map((f) => f.p99)),
      errors: fs.reduce((n, f) => n + f.errors, 0), cpuUsPerReq: median(fs.map((f) => f.cpuUsPerReq)),
    }];
  });
}

async function main(): Promise<void> {
  const os = await import("node:os");
  console.log(`rendezvous server benchmark: ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${DURATION} s per run (medians), Node ${process.version}, ${os.cpus().length} cores\n`);

  if (process.env.BENCH_ONLY === "held") {
    const held = [await heldRun("rendezvous-held"), await heldRun("bare-held")];
    const redis = await startRedis();
    const wake = redis ? await redisWake(redis.url) : undefined;
    await redis?.stop();
    agent.destroy();
    printHeld(held, wake);
    return;
  }
  // BENCH_ONLY=get: only rows (a), (a'), (b), (b') and their ratios, a quick before/after for the hot path.
  const getOnly = process.env.BENCH_ONLY === "get";
  const bare = await startChild("bare");
  const fastify = await startChild("fastify");
  const mem = await startChild("rendezvous", "memory");
  // The same poll without the per-IP request limiter, to show what the limiter costs.
  const nolimit = await startChild("rendezvous-nolimit", "memory");
  const [one] = await createSessions(mem.url, 1);
  const [free] = await createSessions(nolimit.url, 1);
  const pairs = getOnly ? [] : await createSessions(mem.url, CONNECTIONS);
  const rows = await rounds([
    { name: "(a) bare node:http, fixed JSON", server: bare, opts: { url: bare.url } },
    { name: "(a') bare fastify, fixed JSON", server: fastify, opts: { url: fastify.url } },
    { name: "(b) GET poll, memory store", server: mem, opts: { url: `${mem.url}${P}/${one!.id}` } },
    { name: "(b') GET poll, memory, no limiter", server: nolimit, opts: { url: `${nolimit.url}${P}/${free!.id}` } },
    ...(getOnly ? [] : [{ name: "(c) PUT/GET ping-pong, memory", server: mem, opts: pingPong(mem.url, pairs) }]),
  ]);
  for (const c of [bare, fastify, mem, nolimit]) await c.stop();

  // RSS of 10,000 idle sessions, in a fresh process.
  let before = { rssKb: NaN, heapUsed: NaN }, after = before;
  if (!getOnly) {
  // The baseline is taken after a burst of as many requests that create nothing (POSTs refused as
  // too large), so V8's grown young generation and the code warm-up are in it, not in the delta.
  const fresh = await startChild("rendezvous", "memory");
  await createSessions(fresh.url, 10);
  await burst(fresh.url, SESSIONS);
  before = await gcRss(fresh);
  await createSessions(fresh.url, SESSIONS);
  after = await gcRss(fresh);
  await fresh.stop();
  }

  const redis = getOnly ? null : await startRedis();
  let wake: Awaited<ReturnType<typeof redisWake>> | undefined;
  if (redis) {
    const rz = await startChild("rendezvous", redis.url);
    const memAgain = await startChild("rendezvous", "memory");
    const [s] = await createSessions(rz.url, 1);
    const [m] = await createSessions(memAgain.url, 1);
    const rpairs = await createSessions(rz.url, CONNECTIONS);
    const mpairs = await createSessions(memAgain.url, CONNECTIONS);
    const redisRows = await rounds([
      { name: "(b) GET poll, memory (Redis pair)", server: memAgain, opts: { url: `${memAgain.url}${P}/${m!.id}` } },
      { name: "(b) GET poll, Redis store", server: rz, opts: { url: `${rz.url}${P}/${s!.id}` } },
      { name: "(c) ping-pong, memory (Redis pair)", server: memAgain, opts: pingPong(memAgain.url, mpairs) },
      { name: "(c) PUT/GET ping-pong, Redis", server: rz, opts: pingPong(rz.url, rpairs) },
    ]);
    rows.push(...redisRows);
    await rz.stop();
    await memAgain.stop();
    wake = await redisWake(redis.url);
    await redis.stop();
  }
  const held = getOnly ? [] : [await heldRun("rendezvous-held"), await heldRun("bare-held")];
  agent.destroy();

  const loadavg = os.loadavg()[0]!;
  console.log(`${"run".padEnd(34)}${"req/s".padStart(10)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"non-2xx/err".padStart(13)}${"server CPU µs/req".padStart(19)}`);
  for (const [name, f] of rows) {
    console.log(`${name.padEnd(34)}${fmt(f.rps).padStart(10)}${fmt(f.p50).padStart(9)}${fmt(f.p99).padStart(9)}${fmt(f.errors).padStart(13)}${fmt(f.cpuUsPerReq, 1).padStart(19)}`);
  }
  console.log(`(load average at the end: ${fmt(loadavg, 1)} on ${os.cpus().length} cores; other processes skew req/s, less so CPU µs/req)`);
  const get = (name: string) => rows.find(([n]) => n.startsWith(name))?.[1];
  const a = get("(a)")!, b = get("(b) GET poll, memory")!, c = get("(c) PUT/GET ping-pong, memory");
  console.log("");
  console.log(`b/a throughput          ${fmt(b.rps / a.rps, 2)}   (goal ≥ 0.80)`);
  console.log(`a/b server CPU per req  ${fmt(a.cpuUsPerReq / b.cpuUsPerReq, 2)}   (the same ratio from CPU cost; without the limiter: ${fmt(a.cpuUsPerReq / get("(b')")!.cpuUsPerReq, 2)})`);
  console.log(`p99(b)/p99(a)           ${fmt(b.p99 / Math.max(a.p99, 1), 2)}   (goal ≤ 1.50)`);
  if (!c) return;
  console.log(`ping-pong pairs/s       ${fmt(c.rps / 2)}`);
  const perSession = ((after.rssKb - before.rssKb) * 1024) / SESSIONS;
  console.log(`RSS for ${fmt(SESSIONS)} idle sessions: +${fmt((after.rssKb - before.rssKb) / 1024, 1)} MB = ${fmt(perSession)} bytes/session (goal < 2048; ${PAYLOAD.length}-byte payloads)`);
  console.log(`  V8 heap used after GC: +${fmt((after.heapUsed - before.heapUsed) / SESSIONS)} bytes/session`);
  const rb = get("(b) GET poll, Redis"), rc = get("(c) PUT/GET ping-pong, Redis");
  const mb = get("(b) GET poll, memory (Redis pair)"), mc = get("(c) ping-pong, memory (Redis pair)");
  if (rb && rc && mb && mc) {
    console.log(`Redis/memory GET        ${fmt(rb.rps / mb.rps, 2)}   (goal ≥ 0.50, i.e. within 2×)`);
    console.log(`Redis/memory ping-pong  ${fmt(rc.rps / mc.rps, 2)}`);
  } else {
    console.log("Redis: redis-server not installed, Redis runs skipped");
  }
  printHeld(held, wake);
}

function printHeld(runs: HeldFigures[], wake?: { p50: number; p99: number; woken: number }): void {
  const ours = runs.find((r) => r.kind === "rendezvous-held");
  const bare = runs.find((r) => r.kind === "bare-held");
  if (!ours || !bare) return;
  const kb = (b: number) => `${fmt(b / 1024, 2)} KB`;
  console.log("");
  console.log(`held long-poll GETs (memory store, bound 25 s, clients in another process):`);
  console.log(`  held at once on one process   ${fmt(ours.held)} (all held ${fmt(ours.holdMs)} ms after they were sent)`);
  console.log(`  per held GET, total           RSS ${kb(ours.perConnRss + ours.perHeldRss)}, V8 heap ${kb(ours.perConnHeap + ours.perHeldHeap)}   (goal < 4 KB)`);
  console.log(`    its keep-alive connection   RSS ${kb(ours.perConnRss)}, heap ${kb(ours.perConnHeap)}   (plain polling keeps it open too)`);
  console.log(`    the held request on it      RSS ${kb(ours.perHeldRss)}, heap ${kb(ours.perHeldHeap)}`);
  console.log(`  bare node:http, same method   RSS ${kb(bare.perConnRss + bare.perHeldRss)} (connection ${kb(bare.perConnRss)}, request ${kb(bare.perHeldRss)}), heap ${kb(bare.perConnHeap + bare.perHeldHeap)} (connection ${kb(bare.perConnHeap)}, request ${kb(bare.perHeldHeap)})`);
  console.log(`  ours/bare per held request    heap ${fmt(ours.perHeldHeap / bare.perHeldHeap, 2)}×, RSS ${fmt(ours.perHeldRss / bare.perHeldRss, 2)}×`);
  console.log(`  PUT → held GET answered       p50 ${fmt(ours.wakeP50 ?? NaN, 2)} ms, p99 ${fmt(ours.wakeP99 ?? NaN, 2)} ms (200 PUTs in turn)`);
  console.log(`  all clients gone → released   ${fmt(ours.releaseMs ?? NaN)} ms for ${fmt(ours.held - 200)} held GETs`);
  if (wake) console.log(`  PUT on A → GET held on B      p50 ${fmt(wake.p50, 2)} ms, p99 ${fmt(wake.p99, 2)} ms (two instances on one Redis; ${wake.woken} of 200 woken)`);
}

const childAt = process.argv.indexOf("--child");
if (childAt !== -1) await child(process.argv[childAt + 1]!, process.argv[childAt + 2] ?? "memory");
else await main();
