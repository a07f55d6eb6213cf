// The rendezvous server as real `qr-login server` processes: sessions survive a restart with the
// SQLite store, two processes on one Redis share sessions, compare-and-swap and rate limits, and
// what the process logs (no session id in any spelling of a path; a warning for trust_proxy: true).
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { CliServer } from "../support/cli-server.js";
import { startCliServer } from "../support/cli-server.js";
import { closeHttpAgent, httpRequest } from "../support/http.js";
import type { TestRedis } from "../support/redis-server.js";
import { freePort, startRedis } from "../support/redis-server.js";

const P = "/_matrix/client/v1/rendezvous";
const json = (o: unknown) => JSON.stringify(o);
const H = { "Content-Type": "application/json" };

let tmp: string;
const running: CliServer[] = [];
async function server(args: string[]): Promise<CliServer> {
  const s = await startCliServer(args);
  running.push(s);
  return s;
}

beforeAll(() => { tmp = mkdtempSync(path.join(os.tmpdir(), "qrl-rz-proc-")); });
afterAll(async () => {
  for (const s of running) await s.stop("SIGKILL");
  closeHttpAgent();
  rmSync(tmp, { recursive: true, force: true });
});

describe("SQLite store across a restart", () => {
  test("a session keeps its data, tokens and remaining lifetime after the process is killed and restarted", async () => {
    const port = await freePort();
    const args = ["--store", `sqlite:${path.join(tmp, "rz.sqlite")}`, "--listen", `127.0.0.1:${port}`, "--ttl", "120"];
    const first = await server(args);
    const created = await httpRequest(first.url, "POST", P, H, json({ data: "before restart" }));
    expect(created.status).toBe(200);
    const { id, sequence_token: seq0, expires_in_ms: e0 } = created.json as { id: string; sequence_token: string; expires_in_ms: number };
    const put = await httpRequest(first.url, "PUT", `${P}/${id}`, H, json({ sequence_token: seq0, data: "written before" }));
    expect(put.status).toBe(200);
    const seq1 = put.json!.sequence_token as string;
    const killedAt = Date.now();
    expect(await first.stop("SIGKILL")).toBeNull(); // no graceful close: the data must already be on disk

    const second = await server(args);
    const got = await httpRequest(second.url, "GET", `${P}/${id}`);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ data: "written before", sequence_token: seq1 });
    const remaining = got.json!.expires_in_ms as number;
    expect(remaining).toBeLessThanOrEqual(e0 - (Date.now() - killedAt) + 50);
    expect(remaining).toBeGreaterThan(e0 - 15_000);
    // The old token is stale, the current one still works.
    expect((await httpRequest(second.url, "PUT", `${P}/${id}`, H, json({ sequence_token: seq0, data: "stale" }))).status).toBe(409);
    const put2 = await httpRequest(second.url, "PUT", `${P}/${id}`, H, json({ sequence_token: seq1, data: "after restart" }));
    expect(put2.status).toBe(200);
    expect(put2.json!.sequence_token).not.toBe(seq1);
    // Graceful shutdown on SIGTERM exits 0.
    expect(await second.stop("SIGTERM")).toBe(0);
    expect(second.output()).toContain("SIGTERM: shutting down");
  }, 30_000);
});

describe("two server processes on one Redis", () => {
  let redis: TestRedis;
  let a: CliServer;
  let b: CliServer;

  beforeAll(async () => {
    redis = await startRedis();
    const common = ["--store", redis.url, "--create-per-minute", "40", "--max-sessions-per-ip", "0"];
    [a, b] = await Promise.all([
      server([...common, "--listen", `127.0.0.1:${await freePort()}`]),
      server([...common, "--listen", `127.0.0.1:${await freePort()}`]),
    ]);
  }, 30_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.stop();
  });

  test("a PUT through A is seen by a GET through B", async () => {
    const created = await httpRequest(a.url, "POST", P, H, json({ data: "hello" }));
    const { id, sequence_token: seq0 } = created.json as { id: string; sequence_token: string };
    expect((await httpRequest(b.url, "GET", `${P}/${id}`)).json).toMatchObject({ data: "hello", sequence_token: seq0 });
    const put = await httpRequest(a.url, "PUT", `${P}/${id}`, H, json({ sequence_token: seq0, data: "from A" }));
    expect(put.status).toBe(200);
    expect((await httpRequest(b.url, "GET", `${P}/${id}`)).json).toMatchObject({ data: "from A", sequence_token: put.json!.sequence_token });
    expect((await httpRequest(b.url, "DELETE", `${P}/${id}`)).status).toBe(200);
    expect((await httpRequest(a.url, "GET", `${P}/${id}`)).status).toBe(404);
  });

  test("concurrent PUTs with the same token through A and B: exactly one 200 and one 409, every time", async () => {
    for (let round = 0; round < 20; round++) {
      const created = await httpRequest(a.url, "POST", P, H, json({ data: `round ${round}` }));
      const { id, sequence_token: seq0 } = created.json as { id: string; sequence_token: string };
      const [ra, rb] = await Promise.all([
        httpRequest(a.url, "PUT", `${P}/${id}`, H, json({ sequence_token: seq0, data: `A wins ${round}` })),
        httpRequest(b.url, "PUT", `${P}/${id}`, H, json({ sequence_token: seq0, data: `B wins ${round}` })),
      ]);
      expect([ra.status, rb.status].sort()).toEqual([200, 409]);
      const winner = ra.status === 200 ? ra : rb;
      const loser = ra.status === 200 ? rb : ra;
      expect(loser.json!.errcode).toBe("M_CONCURRENT_WRITE");
      const now = await httpRequest(b.url, "GET", `${P}/${id}`);
      expect(now.json!.sequence_token).toBe(winner.json!.sequence_token);
      expect(now.json!.data).toBe(ra.status === 200 ? `A wins ${round}` : `B wins ${round}`);
    }
  }, 30_000);

  test("the per-IP create limit is shared between the processes", async () => {
    // 21 creates so far in this describe (1 + 20 rounds); the limit is 40 a minute per IP.
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await httpRequest(i % 2 ? a.url : b.url, "POST", P, H, json({ data: "x" }))).status);
    const first429 = statuses.indexOf(429);
    expect(first429).toBe(40 - 21);
    expect(statuses.slice(first429).every((s) => s === 429)).toBe(true);
    const refused = await httpRequest(a.url, "POST", P, H, json({ data: "x" }));
    expect(refused.json!.errcode).toBe("M_LIMIT_EXCEEDED");
    expect(refused.json!.retry_after_ms as number).toBeGreaterThan(0);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  }, 30_000);
});

describe("Redis outage", () => {
  test("requests get 503 M_UNKNOWN with Retry-After while Redis is down, and the server keeps running", async () => {
    const redis = await startRedis();
    const s = await server(["--store", redis.url, "--listen", `127.0.0.1:${await freePort()}`]);
    try {
      const created = await httpRequest(s.url, "POST", P, H, json({ data: "x" }));
      expect(created.status).toBe(200);
      await redis.stop();
      const got = await httpRequest(s.url, "GET", `${P}/${created.json!.id as string}`);
      expect([got.status, got.json!.errcode]).toEqual([503, "M_UNKNOWN"]);
      expect(got.headers.get("retry-after")).toBe("1");
      expect((await httpRequest(s.url, "POST", P, H, json({ data: "y" }))).status).toBe(503);
      expect((await httpRequest(s.url, "GET", "/health")).status).toBe(503);
      expect(s.child.exitCode).toBeNull();
      expect(s.output()).not.toContain("Unhandled error event");
    } finally {
      await s.stop();
      await redis.stop();
    }
  }, 30_000);
});

describe("logs", () => {
  test("debug request lines never carry a session id, however the path spells it", async () => {
    const s = await server(["--store", "memory", "--listen", `127.0.0.1:${await freePort()}`, "--log-level", "debug"]);
    try {
      const created = await httpRequest(s.url, "POST", P, H, json({ data: "x" }));
      const id = created.json!.id as string;
      const paths = [
        `${P}/${id}`, `${P}//${id}`, `${P};${id}`, `${P}/;${id}`, `${P}/${id};v=1`, `${P}%2F${id}`, `${P}%2f${id}`,
        `${P}%252F${id}`, `${P}/x/${id}`, `${P}/${id}?since=abc`, `/_synapse/client/rendezvous/${id}`, `/${id}`,
        `/_matrix/client/unstable/org.matrix.msc4108/rendezvous/${id}`,
      ];
      for (const p of paths) await httpRequest(s.url, "GET", p);
      await new Promise((r) => setTimeout(r, 300)); // the log lines reach the pipe
      const out = s.output();
      expect(out).toContain("<id>");
      expect(out.match(/"url":"[^"]*"/g)!.length).toBeGreaterThanOrEqual(paths.length);
      expect(out).not.toContain(id);
    } finally {
      await s.stop();
    }
  }, 30_000);

  test("trust_proxy: true is warned about at start", async () => {
    const s = await server(["--store", "memory", "--listen", `127.0.0.1:${await freePort()}`, "--trust-proxy", "true"]);
    try {
      expect(s.output()).toMatch(/trust_proxy is true: X-Forwarded-For is believed from any peer/);
    } finally {
      await s.stop();
    }
    const quiet = await server(["--store", "memory", "--listen", `127.0.0.1:${await freePort()}`, "--trust-proxy", "127.0.0.1"]);
    try {
      expect(quiet.output()).not.toMatch(/trust_proxy/);
    } finally {
      await quiet.stop();
    }
  }, 30_000);
});
