// matrix-js-sdk's MSC4108RendezvousSession (Element Web's 2024 transport) against real
// `qr-login server` processes: two sessions in ping-pong on every store, through a kill -9 and
// restart on the same SQLite file, across two instances on one redis-server behind a round-robin
// balancer, and as Synapse's msc4108_delegation_endpoint (a fake Synapse that advertises
// org.matrix.msc4108 and 307-redirects the POST to us). Also on the development homeserver's origin.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { createClient } from "matrix-js-sdk";
import { ClientRendezvousFailureReason } from "matrix-js-sdk/lib/rendezvous/index.js";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { startDevhome } from "../../server/devhome/index.js";
import { MSC4108_PATH } from "../../server/rendezvous/index.js";
import type { CliServer } from "../support/cli-server.js";
import { startCliServer } from "../support/cli-server.js";
import { closeHttpAgent, httpRequest } from "../support/http.js";
import { connectPeers, expectCleanWire, pingPong } from "../support/msc4108-peers.js";
import type { TestRedis } from "../support/redis-server.js";
import { freePort, startRedis } from "../support/redis-server.js";
import { startRoundRobinProxy } from "../support/round-robin-proxy.js";

let tmp: string;
let redis: TestRedis;
const running: CliServer[] = [];
async function server(args: string[]): Promise<CliServer> {
  const s = await startCliServer(args);
  running.push(s);
  return s;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "qrl-rz-jssdk24-"));
  redis = await startRedis();
});
afterAll(async () => {
  for (const s of running) await s.stop("SIGKILL");
  await redis?.stop();
  closeHttpAgent();
  rmSync(tmp, { recursive: true, force: true });
});

async function gone(url: string): Promise<void> {
  expect((await httpRequest(new URL(url).origin, "GET", new URL(url).pathname)).status).toBe(404);
}

describe.each(["memory", "sqlite", "redis"] as const)("MSC4108RendezvousSession against qr-login server, %s store", (kind) => {
  test("creator and joiner exchange messages both ways; close() deletes, and the other side is told", async () => {
    const store = kind === "memory" ? "memory" : kind === "sqlite" ? `sqlite:${path.join(tmp, "pp.sqlite")}` : redis.url;
    const s = await server(["--store", store, "--listen", `127.0.0.1:${await freePort()}`, "--redis-prefix", `pp:${kind}:`]);
    const p = await connectPeers({ fallbackRzServer: `${s.url}${MSC4108_PATH}` });
    expect(p.creator.url!.startsWith(`${s.url}${MSC4108_PATH}/`)).toBe(true);
    await pingPong(p, 3);
    expectCleanWire(p.seen);
    await p.creator.close();
    expect(await p.joiner.receive()).toBeUndefined();
    expect(p.failures).toEqual([ClientRendezvousFailureReason.Unknown]);
    await gone(p.creator.url!);
    await p.creator.cancel(ClientRendezvousFailureReason.Unknown); // clears its expiry timer
  }, 30_000);
});

test("SQLite: the server is killed (-9) and restarted on the same file between two messages; the session continues", async () => {
  const port = await freePort();
  const args = ["--store", `sqlite:${path.join(tmp, "restart.sqlite")}`, "--listen", `127.0.0.1:${port}`];
  const first = await server(args);
  const p = await connectPeers({ fallbackRzServer: `${first.url}${MSC4108_PATH}` });
  await pingPong(p, 1);
  expect(await first.stop("SIGKILL")).toBeNull();
  const second = await server(args);
  expect(second.url).toBe(first.url);
  await pingPong(p, 2, 1);
  expectCleanWire(p.seen);
  await p.creator.close();
  await gone(p.creator.url!);
  await p.joiner.cancel(ClientRendezvousFailureReason.Unknown);
}, 30_000);

test("two instances on one redis-server behind a round-robin balancer: every request may land on either", async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const balancer = await startRoundRobinProxy([`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`]);
  try {
    const common = ["--store", redis.url, "--redis-prefix", "rr2024:", "--public-base-url", balancer.url];
    await Promise.all([server([...common, "--listen", `127.0.0.1:${portA}`]), server([...common, "--listen", `127.0.0.1:${portB}`])]);
    const p = await connectPeers({ fallbackRzServer: `${balancer.url}${MSC4108_PATH}` });
    expect(p.creator.url!.startsWith(`${balancer.url}${MSC4108_PATH}/`)).toBe(true);
    await pingPong(p, 3);
    expectCleanWire(p.seen);
    expect(balancer.counts[0]).toBeGreaterThan(3);
    expect(balancer.counts[1]).toBeGreaterThan(3);
    await p.creator.close();
    await p.creator.cancel(ClientRendezvousFailureReason.Unknown);
  } finally {
    await balancer.close();
  }
}, 30_000);

describe("as Synapse's msc4108_delegation_endpoint", () => {
  let synapse: http.Server;
  let synapseUrl: string;
  let rz: CliServer;
  const synapseSaw: string[] = [];

  beforeAll(async () => {
    rz = await server(["--store", `sqlite:${path.join(tmp, "delegated.sqlite")}`, "--listen", `127.0.0.1:${await freePort()}`]);
    // What Synapse does with `experimental_features: msc4108_delegation_endpoint: <our POST URL>`:
    // advertise org.matrix.msc4108 and answer its POST with a 307 to the endpoint.
    synapse = http.createServer((req, res) => {
      synapseSaw.push(`${req.method} ${req.url}`);
      const cors = { "access-control-allow-origin": "*" };
      if (req.method === "GET" && req.url === "/_matrix/client/versions") {
        res.writeHead(200, { ...cors, "content-type": "application/json" });
        res.end(JSON.stringify({ versions: ["v1.11", "v1.12"], unstable_features: { "org.matrix.msc4108": true } }));
      } else if (req.method === "POST" && req.url === MSC4108_PATH) {
        req.resume();
        res.writeHead(307, { ...cors, location: `${rz.url}${MSC4108_PATH}`, "content-length": "0" });
        res.end();
      } else {
        res.writeHead(404, { ...cors, "content-type": "application/json" });
        res.end(JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }));
      }
    });
    await new Promise<void>((r) => synapse.listen(0, "127.0.0.1", r));
    synapseUrl = `http://127.0.0.1:${(synapse.address() as AddressInfo).port}`;
  }, 20_000);
  afterAll(async () => { await new Promise((r) => synapse.close(r)); });

  test("a creator given the homeserver's client finds the API in /versions, follows the 307, and talks to us", async () => {
    const client = createClient({ baseUrl: synapseUrl });
    const p = await connectPeers({ client });
    expect(p.creator.url!.startsWith(`${rz.url}${MSC4108_PATH}/`)).toBe(true);
    const post = p.seen.find((s) => s.method === "POST")!;
    expect([post.status, post.redirected]).toEqual([201, true]);
    await pingPong(p, 2);
    expectCleanWire(p.seen);
    // The homeserver saw discovery and the POST, nothing of the session itself.
    expect(synapseSaw).toEqual(["GET /_matrix/client/versions", `POST ${MSC4108_PATH}`]);
    await p.creator.close();
    await p.creator.cancel(ClientRendezvousFailureReason.Unknown);
    client.stopClient();
  }, 30_000);
});

describe("on the development homeserver's origin", () => {
  test("/versions advertises org.matrix.msc4108 exactly when the 2024 API is served, and a client-driven creator uses it", async () => {
    const both = await startDevhome({ port: 0 });
    const only2025 = await startDevhome({ port: 0, rendezvousApis: ["2025"] });
    try {
      const features = async (base: string) => (await httpRequest(base, "GET", "/_matrix/client/versions")).json!.unstable_features as Record<string, boolean>;
      expect(await features(both.baseUrl)).toMatchObject({ "org.matrix.msc4108": true, "io.element.msc4388": true });
      expect((await features(only2025.baseUrl))["org.matrix.msc4108"]).toBeUndefined();
      expect((await httpRequest(only2025.baseUrl, "POST", MSC4108_PATH, { "Content-Type": "text/plain" }, "x")).status).toBe(404);

      const client = createClient({ baseUrl: both.baseUrl });
      const p = await connectPeers({ client });
      expect(p.creator.url!.startsWith(`${both.baseUrl}${MSC4108_PATH.slice(1)}/`)).toBe(true);
      await pingPong(p, 2);
      expectCleanWire(p.seen);
      await p.creator.close();
      await p.creator.cancel(ClientRendezvousFailureReason.Unknown);
      client.stopClient();
    } finally {
      await both.close();
      await only2025.close();
    }
  }, 30_000);
});
