// Clients that try to tie the rendezvous server up, on real sockets: requests that never finish
// arriving (silence, headers or a body trickled a byte at a time, a promised body never sent) are
// answered 408 and closed within the request bound while a held long-poll GET keeps its hold;
// connections per client IP are capped (not for a trusted proxy); and a client that pipelines
// thousands of requests without reading the answers is closed before the server's memory grows
// (measured on a `qr-login server` child process).
import { afterAll, afterEach, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import net from "node:net";
import type { RendezvousServerConfig, RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { startRendezvousServer } from "../../server/rendezvous/index.js";
import type { CliServer } from "../support/cli-server.js";
import { startCliServer } from "../support/cli-server.js";
import { closeHttpAgent, httpRequest } from "../support/http.js";
import { freePort } from "../support/redis-server.js";

const P = "/_matrix/client/v1/rendezvous";
const H = { "Content-Type": "application/json" };
const NO_LIMITS = { maxSessions: 0, maxSessionsPerIp: 0, createPerWindow: 0, requestsPerWindow: 0 };

let server: RunningRendezvousServer | undefined;
let cli: CliServer | undefined;
const sockets: net.Socket[] = [];
const timers: NodeJS.Timeout[] = [];

async function start(extra: Partial<RendezvousServerConfig> = {}): Promise<RunningRendezvousServer> {
  server = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", logLevel: false, limits: NO_LIMITS, ...extra });
  return server;
}

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
  await cli?.stop("SIGKILL");
  cli = undefined;
});
afterAll(() => closeHttpAgent());

/** A raw connection that records what it receives and when the server closed it. */
interface Raw {
  socket: net.Socket;
  received(): string;
  /** ms from `since` until the connection closed. */
  closed: Promise<number>;
}

function connect(url: string, since = performance.now()): Promise<Raw> {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  sockets.push(socket);
  let text = "";
  socket.on("data", (d: Buffer) => { text += d.toString("latin1"); });
  socket.on("error", () => undefined);
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(performance.now() - since)));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve({ socket, received: () => text, closed }));
    socket.once("error", reject);
  });
}

/** Writes `text` one byte every `everyMs` (until the connection goes). */
function trickle(raw: Raw, text: string, everyMs = 300): void {
  let i = 0;
  const t = setInterval(() => {
    if (raw.socket.destroyed || i >= text.length) { clearInterval(t); return; }
    raw.socket.write(text[i++]!);
  }, everyMs);
  timers.push(t);
}

/** Resolves with the ms until the promise settles, or "open" if it does not within `ms`. */
async function within(p: Promise<number>, ms: number): Promise<number | "open"> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p, new Promise<"open">((resolve) => { timer = setTimeout(() => resolve("open"), ms); })]);
  clearTimeout(timer);
  return r;
}

describe("time to receive a request", () => {
  test("silence, trickled headers, a promised body never sent and a trickled body are answered 408 and closed within the bound; a held GET keeps its hold", async () => {
    // Bound 1.5 s (checked every second); the held GET's bound 7 s is well beyond both.
    const s = await start({ requestTimeoutMs: 1500, longPollMs: 7000 });
    const created = await httpRequest(s.url, "POST", P, H, JSON.stringify({ data: "held" }));
    const { id, sequence_token: token } = created.json as { id: string; sequence_token: string };
    const t0 = performance.now();
    const held = httpRequest(s.url, "GET", `${P}/${id}?since=${token}`).then((r) => ({ status: r.status, afterMs: performance.now() - t0 }));

    const silent = await connect(s.url, t0);
    const headers = await connect(s.url, t0);
    trickle(headers, `GET ${P} HTTP/1.1\r\nHost: x\r\nX-Slow: ${"y".repeat(200)}\r\n\r\n`);
    const noBody = await connect(s.url, t0);
    noBody.socket.write(`POST ${P} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`);
    const slowBody = await connect(s.url, t0);
    slowBody.socket.write(`POST ${P} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n`);
    trickle(slowBody, `{"data":"${"z".repeat(9000)}"}`);

    // Old code: Node's 60 s headers bound at best, no bound on bodies at all.
    const closedAfter = await Promise.all([silent, headers, noBody, slowBody].map((raw) => within(raw.closed, 9000)));
    for (const ms of closedAfter) {
      expect(ms).not.toBe("open");
      expect(ms as number).toBeLessThan(7000); // before the held GET's bound
    }
    for (const raw of [silent, headers, noBody, slowBody]) expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(slowBody.received().split("\r\n\r\n")[1]!)).toMatchObject({ errcode: "M_UNKNOWN" });

    const answered = await held;
    expect(answered.status).toBe(200); // at its bound, not cut off by the request bound
    expect(answered.afterMs).toBeGreaterThan(6500);
    const metrics = await httpRequest(s.url, "GET", "/metrics");
    expect(metrics.text).toMatch(/^rendezvous_connections_closed_total\{reason="request_timeout"\} 4$/m);
  }, 30_000);

  test("a kept-alive connection may idle between requests longer than the request bound", async () => {
    const s = await start({ requestTimeoutMs: 1000 });
    const raw = await connect(s.url);
    raw.socket.write(`GET ${P} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 3000)); // past the bound and two checks
    expect(raw.socket.destroyed).toBe(false);
    raw.socket.write(`GET ${P} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    expect(raw.received().match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
  });

  test("a request that arrives in time is served normally, also when its body comes in pieces", async () => {
    const s = await start({ requestTimeoutMs: 3000 });
    const raw = await connect(s.url);
    const body = JSON.stringify({ data: "in pieces" });
    raw.socket.write(`POST ${P} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (const piece of [body.slice(0, 5), body.slice(5, 12), body.slice(12)]) {
      await new Promise((r) => setTimeout(r, 400));
      raw.socket.write(piece);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(raw.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.socket.destroyed).toBe(false);
  });
});

describe("connections per client IP", () => {
  test("beyond the cap a connection is answered 429 and closed; a closed one frees its place", async () => {
    const s = await start({ connectionLimits: { maxConnectionsPerIp: 3 } });
    const open = [await connect(s.url), await connect(s.url), await connect(s.url)];
    const extra = await connect(s.url);
    expect(await within(extra.closed, 5000)).not.toBe("open");
    expect(extra.received()).toMatch(/^HTTP\/1\.1 429 /);
    expect(JSON.parse(extra.received().split("\r\n\r\n")[1]!)).toMatchObject({ errcode: "M_LIMIT_EXCEEDED" });
    // The three admitted connections work.
    open[0]!.socket.write(`GET ${P} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    expect(open[0]!.received()).toMatch(/^HTTP\/1\.1 200 /);
    open[1]!.socket.destroy();
    await open[1]!.closed;
    await new Promise((r) => setTimeout(r, 100));
    const again = await connect(s.url);
    again.socket.write(`GET ${P} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    expect(again.received()).toMatch(/^HTTP\/1\.1 200 /);
    for (const c of [open[0]!, open[2]!, again]) c.socket.destroy();
    await Promise.all([open[0]!, open[2]!, again].map((c) => c.closed));
    await new Promise((r) => setTimeout(r, 100));
    expect((await httpRequest(s.url, "GET", "/metrics")).text).toMatch(/^rendezvous_connections_refused_total 1$/m);
  });

  test("a trusted proxy's connections are not capped: they carry many clients", async () => {
    const s = await start({ connectionLimits: { maxConnectionsPerIp: 2 }, trustProxy: ["127.0.0.1"] });
    const conns = await Promise.all(Array.from({ length: 5 }, () => connect(s.url)));
    for (const c of conns) c.socket.write(`GET ${P} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 500));
    for (const c of conns) expect(c.received()).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe("pipelining without reading", () => {
  function rssMiB(pid: number): number {
    return Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" }).trim()) / 1024;
  }

  test("20 connections pipelining 2,000 GETs each and never reading are closed; the server's memory stays bounded", async () => {
    cli = await startCliServer(["--store", "memory", "--listen", `127.0.0.1:${await freePort()}`, "--requests-per-minute", "0"]);
    // Answers of about 3 KB each: what the server would have to keep for a client that does not read.
    const created = await httpRequest(cli.url, "POST", P, H, JSON.stringify({ data: "A".repeat(3000) }));
    const path = `${P}/${created.json!.id as string}`;
    await httpRequest(cli.url, "GET", path); // warm up the route before measuring
    const pid = cli.child.pid!;
    const before = rssMiB(pid);
    const conns = await Promise.all(Array.from({ length: 20 }, () => connect(cli!.url)));
    for (const c of conns) {
      c.socket.pause(); // never read
      c.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(2000));
    }
    let peak = before;
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 300));
      peak = Math.max(peak, rssMiB(pid));
    }
    // Reading now: every connection ends (the server closed it), long before 2,000 answers. On the
    // old code they stay open, and the server held about 200 MiB of answers for them.
    for (const c of conns) c.socket.resume();
    const ended = await Promise.all(conns.map((c) => within(c.closed, 10_000)));
    expect(ended.filter((e) => e === "open")).toEqual([]);
    for (const c of conns) expect((c.received().match(/HTTP\/1\.1 /g) ?? []).length).toBeLessThan(100);
    expect(peak - before).toBeLessThan(64); // about 15 MiB here; the old code grew by about 185 MiB
    // The server still serves.
    expect((await httpRequest(cli.url, "GET", path)).status).toBe(200);
    expect((await httpRequest(cli.url, "GET", "/metrics")).text).toMatch(/^rendezvous_connections_closed_total\{reason="pipelining"\} 20$/m);
  }, 60_000);

  test("a client that pipelines a few requests gets every answer", async () => {
    const s = await start();
    const created = await httpRequest(s.url, "POST", P, H, JSON.stringify({ data: "x" }));
    const raw = await connect(s.url);
    raw.socket.write(`GET ${P}/${created.json!.id as string} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(8));
    for (let i = 0; i < 50 && (raw.received().match(/HTTP\/1\.1 200 /g) ?? []).length < 8; i++) await new Promise((r) => setTimeout(r, 100));
    expect((raw.received().match(/HTTP\/1\.1 200 /g) ?? []).length).toBe(8);
    expect(raw.socket.destroyed).toBe(false);
  });
});
