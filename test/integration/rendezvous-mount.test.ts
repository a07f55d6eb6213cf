// rendezvousPlugin mounted into a host fastify app (as the development homeserver does): it serves
// its two prefixes and leaves the host's routes, CORS, body parsing and 404s alone.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import cors from "@fastify/cors";
import Fastify from "fastify";
import type { FastifyInstance } from "fastify";
import { MemoryStore, rendezvousPlugin, RendezvousMetrics } from "../../server/rendezvous/index.js";
import { injectRequest } from "../support/inject.js";

let app: FastifyInstance;
const metrics = new RendezvousMetrics();

beforeAll(async () => {
  app = Fastify({ logger: false });
  await app.register(cors, { origin: "*" });
  app.post("/_matrix/client/v3/echo", async (req) => ({ got: req.body }));
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ host: "not found" }));
  await app.register(rendezvousPlugin, {
    mode: "authenticated", store: new MemoryStore(), metrics,
    verifier: async (t) => (t === "devhome-token" ? { userId: "@dev:localhost" } : null),
  });
  await app.ready();
});
afterAll(async () => {
  await app.close();
});

test("the plugin's routes work under both prefixes with the host's verifier", async () => {
  for (const prefix of ["/_matrix/client/v1/rendezvous", "/_matrix/client/unstable/io.element.msc4388/rendezvous"]) {
    expect((await injectRequest(app, "GET", prefix, { Authorization: "Bearer devhome-token" })).json).toMatchObject({ create_available: true });
    const created = await injectRequest(app, "POST", prefix, { Authorization: "Bearer devhome-token" }, JSON.stringify({ data: "hi" }));
    expect(created.status).toBe(200);
    expect(created.headers.get("access-control-allow-origin")).toBe("*");
    expect((await injectRequest(app, "GET", `${prefix}/${created.json!.id as string}`)).json!.data).toBe("hi");
    const unknown = await injectRequest(app, "GET", `${prefix}/x/y`);
    expect([unknown.status, unknown.json!.errcode]).toEqual([404, "M_UNRECOGNIZED"]);
    const preflight = await injectRequest(app, "OPTIONS", `${prefix}/abc`, { Origin: "https://app.example", "Access-Control-Request-Method": "PUT" });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("PUT");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Authorization");
  }
  expect(metrics.render(null)).toContain('route="/_matrix/client/v1/rendezvous",status="200"');
});

test("the host keeps its own JSON parsing, CORS and 404s", async () => {
  const echo = await injectRequest(app, "POST", "/_matrix/client/v3/echo", { "Content-Type": "application/json", Origin: "https://x.example" }, JSON.stringify({ a: 1 }));
  expect(echo.json).toEqual({ got: { a: 1 } });
  expect(echo.headers.get("access-control-allow-origin")).toBe("*");
  expect((await injectRequest(app, "GET", "/_matrix/client/v3/nothing")).json).toEqual({ host: "not found" });
  expect((await injectRequest(app, "OPTIONS", "/_matrix/client/v3/echo", { Origin: "https://x.example", "Access-Control-Request-Method": "POST" })).status).toBe(204);
});
