// `qr-login server` behind a real nginx configured as operators do (gzip on for text/plain and
// JSON, keep-alive to the upstream, default buffering): the 2024 API's ETags reach the clients
// strong and its payloads as exactly text/plain (matrix-js-sdk's MSC4108RendezvousSession in
// ping-pong, and Chromium's fetch across origins), while nginx does gzip what it may (the 2025
// API's JSON), which our 2025 client (startGenerator / connectScanner) reads through it.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { chromium } from "playwright-core";
import { CHROMIUM } from "../support/system-programs.js";
import { connectScanner, startGenerator } from "../../main/protocol/secure-session.js";
import type { FetchLike } from "../../main/protocol/rendezvous-http.js";
import { MSC4108_PATH } from "../../server/rendezvous/index.js";
import type { CliServer } from "../support/cli-server.js";
import { startCliServer } from "../support/cli-server.js";
import { connectPeers, expectCleanWire, pingPong } from "../support/msc4108-peers.js";
import type { TestNginx } from "../support/nginx.js";
import { startNginx } from "../support/nginx.js";
import { freePort } from "../support/redis-server.js";
import { ClientRendezvousFailureReason } from "matrix-js-sdk/lib/rendezvous/index.js";

let rz: CliServer;
let nginx: TestNginx;

beforeAll(async () => {
  const port = await freePort();
  // Behind a proxy: the session URLs come from X-Forwarded-Proto and Host, trusted from loopback.
  rz = await startCliServer(["--store", "memory", "--listen", `127.0.0.1:${port}`, "--trust-proxy", "127.0.0.1"]);
  nginx = await startNginx({ upstreams: [`127.0.0.1:${port}`] });
}, 20_000);
afterAll(async () => {
  await nginx?.stop();
  await rz?.stop();
});

/** A GET as browsers and undici send it: gzip accepted. */
async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers: { "accept-encoding": "gzip, deflate", ...headers } });
}

describe("through nginx with gzip on", () => {
  test("nginx gzips the 2025 API's JSON but leaves 2024 payloads, their length and their strong ETag alone", async () => {
    // Control: gzip is active for what it may compress.
    const c25 = await fetch(`${nginx.url}/_matrix/client/v1/rendezvous`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ data: "x".repeat(200) }) });
    const { id } = (await c25.json()) as { id: string };
    const poll25 = await get(`${nginx.url}/_matrix/client/v1/rendezvous/${id}`);
    expect(poll25.headers.get("content-encoding")).toBe("gzip");
    expect(((await poll25.json()) as { data: string }).data).toBe("x".repeat(200));

    const c24 = await fetch(`${nginx.url}${MSC4108_PATH}`, { method: "POST", headers: { "content-type": "text/plain" }, body: "y".repeat(200) });
    expect(c24.status).toBe(201);
    const { url } = (await c24.json()) as { url: string };
    expect(url.startsWith(`${nginx.url}${MSC4108_PATH}/`)).toBe(true);
    const etag = c24.headers.get("etag")!;
    expect(etag).toMatch(/^"[^"]+"$/);
    const got = await get(url);
    expect(got.headers.get("etag")).toBe(etag);
    expect(got.headers.get("content-type")).toBe("text/plain");
    expect(got.headers.get("content-length")).toBe("200");
    expect(got.headers.get("content-encoding")).toBe("identity");
    expect(await got.text()).toBe("y".repeat(200));
    expect((await get(url, { "if-none-match": etag })).status).toBe(304);
    const put = await fetch(url, { method: "PUT", headers: { "content-type": "text/plain", "if-match": etag }, body: "z".repeat(300) });
    expect(put.status).toBe(202);
    expect(put.headers.get("etag")).toMatch(/^"[^"]+"$/);
    expect((await get(url)).headers.get("etag")).toBe(put.headers.get("etag"));
  });

  test("matrix-js-sdk's MSC4108RendezvousSession in ping-pong: every ETag it sees is strong, no write refused", async () => {
    const p = await connectPeers({ fallbackRzServer: `${nginx.url}${MSC4108_PATH}` });
    expect(p.creator.url!.startsWith(`${nginx.url}${MSC4108_PATH}/`)).toBe(true);
    await pingPong(p, 4);
    expectCleanWire(p.seen);
    expect(p.seen.filter((s) => s.method === "GET").length).toBeGreaterThan(8);
    await p.creator.close();
    expect(await p.joiner.receive()).toBeUndefined();
    await p.creator.cancel(ClientRendezvousFailureReason.Unknown);
    // All of it went through nginx to our server.
    expect(nginx.accessLog()).toMatch(new RegExp(`PUT ${MSC4108_PATH.replace(/\./g, "\\.")}/\\S+ 202 upstream=127\\.0\\.0\\.1`));
  }, 30_000);

  test("our 2025 client: handshake, check code and messages both ways through nginx (gzipped answers)", async () => {
    const encodings: (string | null)[] = [];
    const recording: FetchLike = async (input, init) => {
      const res = await fetch(input, init);
      encodings.push(res.headers.get("content-encoding"));
      return res;
    };
    const pending = await startGenerator({ rendezvousUrl: nginx.url, intent: "login", fetch: recording });
    const [unconfirmed, scanner] = await Promise.all([pending.waitForScanner(), connectScanner(pending.qr, { expectedIntent: "login", fetch: recording })]);
    const g = await unconfirmed.confirm(scanner.checkCode);
    const s = scanner.conversation;
    for (let i = 0; i < 3; i++) {
      const [, fromS] = await Promise.all([s.send({ type: "echo", body: `S ${i} ${"é".repeat(50)}` }), g.receive()]);
      expect(fromS).toEqual({ type: "echo", body: `S ${i} ${"é".repeat(50)}` });
      const [, fromG] = await Promise.all([g.send({ type: "echo", body: `G ${i}` }), s.receive()]);
      expect(fromG).toEqual({ type: "echo", body: `G ${i}` });
    }
    await s.close();
    expect(encodings).toContain("gzip");
  }, 30_000);

  test("Chromium's fetch from another origin: preflights pass, the ETag is readable and strong, If-None-Match gives 304", async () => {
    const page0 = http.createServer((_req, res) => { res.writeHead(200, { "content-type": "text/html" }); res.end("<!doctype html><title>app</title>"); });
    await new Promise<void>((r) => page0.listen(0, "127.0.0.1", r));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(page0.address() as AddressInfo).port}/`);
      const result = await page.evaluate(async (post: string) => {
        const c = await fetch(post, { method: "POST", headers: { "content-type": "text/plain" }, body: "from chromium ".repeat(10) });
        const { url } = (await c.json()) as { url: string };
        const etag0 = c.headers.get("etag");
        const g = await fetch(url);
        const text = await g.text();
        const nm = await fetch(url, { headers: { "if-none-match": etag0 ?? "" } });
        const p = await fetch(url, { method: "PUT", headers: { "content-type": "text/plain", "if-match": etag0 ?? "" }, body: "reply ".repeat(10) });
        const g2 = await fetch(url, { headers: { "if-none-match": etag0 ?? "" } });
        return {
          created: c.status, etag0, got: g.status, type: g.headers.get("content-type"), etagGet: g.headers.get("etag"), text,
          notModified: nm.status, put: p.status, etag1: p.headers.get("etag"), after: g2.status, afterText: await g2.text(), etagAfter: g2.headers.get("etag"),
        };
      }, `${nginx.url}${MSC4108_PATH}`);
      expect(result).toMatchObject({
        created: 201, got: 200, type: "text/plain", text: "from chromium ".repeat(10), notModified: 304,
        put: 202, after: 200, afterText: "reply ".repeat(10),
      });
      expect(result.etag0).toMatch(/^"[^"]+"$/);
      expect(result.etagGet).toBe(result.etag0);
      expect(result.etag1).toMatch(/^"[^"]+"$/);
      expect(result.etagAfter).toBe(result.etag1);
    } finally {
      await browser.close();
      await new Promise((r) => page0.close(r));
    }
  }, 30_000);
});
