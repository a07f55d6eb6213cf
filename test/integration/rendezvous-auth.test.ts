// `authenticated` mode against a homeserver's /account/whoami (the remote verifier): discovery
// says whether the caller may create (never 401), creating needs a valid token, everything else on
// a session works without one, and a client sending fresh bogus tokens costs the homeserver only a
// bounded number of checks. The homeserver is a real one on a socket (the verifier fetches whoami); the
// rendezvous server answers through fastify's inject.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { RendezvousServer } from "../../server/rendezvous/index.js";
import { buildRendezvousServer } from "../../server/rendezvous/index.js";
import { injectRequest } from "../support/inject.js";

const P = "/_matrix/client/v1/rendezvous";
let homeserver: http.Server;
let whoamiCalls = 0;
let server: RendezvousServer;
let down = false;

beforeAll(async () => {
  homeserver = http.createServer((req, res) => {
    whoamiCalls++;
    if (down) { res.writeHead(502).end(); return; }
    const ok = req.url === "/_matrix/client/v3/account/whoami" && req.headers.authorization === "Bearer good-token";
    res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
    res.end(JSON.stringify(ok ? { user_id: "@alice:hs.test" } : { errcode: "M_UNKNOWN_TOKEN", error: "Unknown token" }));
  });
  await new Promise<void>((r) => homeserver.listen(0, "127.0.0.1", r));
  server = await buildRendezvousServer({
    host: "127.0.0.1", port: 0, mode: "authenticated", store: "memory", logLevel: false,
    homeserver: `http://127.0.0.1:${(homeserver.address() as AddressInfo).port}`,
    limits: { createPerWindow: 0, requestsPerWindow: 0 },
  });
});
afterAll(async () => {
  await server.close();
  await new Promise((r) => homeserver.close(r));
});

test("discovery: create_available reflects the token, never a 401", async () => {
  expect((await injectRequest(server.app, "GET", P)).json).toMatchObject({ create_available: false });
  expect((await injectRequest(server.app, "GET", P, { Authorization: "Bearer bad-token" })).json).toMatchObject({ create_available: false });
  expect((await injectRequest(server.app, "GET", P, { Authorization: "Bearer good-token" })).json).toMatchObject({ create_available: true });
});

test("create needs a valid token; the session is then usable without one", async () => {
  const none = await injectRequest(server.app, "POST", P, {}, JSON.stringify({ data: "x" }));
  expect([none.status, none.json!.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
  const bad = await injectRequest(server.app, "POST", P, { Authorization: "Bearer bad-token" }, JSON.stringify({ data: "x" }));
  expect([bad.status, bad.json!.errcode]).toEqual([401, "M_UNKNOWN_TOKEN"]);
  const calls = whoamiCalls;
  const ok = await injectRequest(server.app, "POST", P, { Authorization: "Bearer good-token" }, JSON.stringify({ data: "x" }));
  expect(ok.status).toBe(200);
  expect(whoamiCalls).toBe(calls); // answered from the verifier's cache
  const id = ok.json!.id as string;
  const put = await injectRequest(server.app, "PUT", `${P}/${id}`, {}, JSON.stringify({ sequence_token: ok.json!.sequence_token, data: "y" }));
  expect(put.status).toBe(200);
  expect((await injectRequest(server.app, "GET", `${P}/${id}`)).json!.data).toBe("y");
  expect((await injectRequest(server.app, "DELETE", `${P}/${id}`)).status).toBe(200);
});

test("an unreachable homeserver: creates get 503 with Retry-After, discovery says false", async () => {
  down = true;
  try {
    const r = await injectRequest(server.app, "POST", P, { Authorization: "Bearer another-token" }, JSON.stringify({ data: "x" }));
    expect([r.status, r.json!.errcode]).toEqual([503, "M_UNKNOWN"]);
    expect(r.headers.get("retry-after")).toBe("5");
    expect((await injectRequest(server.app, "GET", P, { Authorization: "Bearer another-token" })).json).toMatchObject({ create_available: false });
  } finally {
    down = false;
  }
});

test("bogus tokens cost the homeserver a bounded number of checks per client; repeated ones are answered from the cache", async () => {
  // Discovery is unauthenticated: without a bound, each fresh token would be one whoami call.
  const guarded = await buildRendezvousServer({
    host: "127.0.0.1", port: 0, mode: "authenticated", store: "memory", logLevel: false, trustProxy: true,
    homeserver: `http://127.0.0.1:${(homeserver.address() as AddressInfo).port}`,
    limits: { createPerWindow: 0, requestsPerWindow: 0, tokenChecksPerWindow: 10 },
  });
  try {
    const attacker = { "X-Forwarded-For": "192.0.2.66" };
    const before = whoamiCalls;
    for (let i = 0; i < 50; i++) {
      const r = await injectRequest(guarded.app, "GET", P, { ...attacker, Authorization: `Bearer bogus-${i}` });
      expect([r.status, r.json!.create_available]).toEqual([200, false]);
    }
    expect(whoamiCalls - before).toBe(10);
    // A refusal is remembered: the same token again costs nothing and is still refused.
    for (let i = 0; i < 5; i++) {
      const r = await injectRequest(guarded.app, "POST", P, { ...attacker, Authorization: "Bearer bogus-3" }, JSON.stringify({ data: "x" }));
      expect([r.status, r.json!.errcode]).toEqual([401, "M_UNKNOWN_TOKEN"]);
    }
    // A fresh token from that client is not sent to the homeserver: 429 with Retry-After.
    const limited = await injectRequest(guarded.app, "POST", P, { ...attacker, Authorization: "Bearer bogus-new" }, JSON.stringify({ data: "x" }));
    expect([limited.status, limited.json!.errcode]).toEqual([429, "M_LIMIT_EXCEEDED"]);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(whoamiCalls - before).toBe(10);
    // Other clients are not affected.
    const other = await injectRequest(guarded.app, "POST", P, { "X-Forwarded-For": "198.51.100.1", Authorization: "Bearer good-token" }, JSON.stringify({ data: "x" }));
    expect(other.status).toBe(200);
  } finally {
    await guarded.close();
  }
});
