// `qr-login doctor` (main/doctor) against deployments that really break one check each, and healthy
// ones that must pass: the development homeserver (our OAuth server and rendezvous), our rendezvous
// server on a homeserver front (test/support/rendezvous-homeserver.ts), a stand-in that answers as
// Synapse does (test/support/synapse-standin.ts), two backends that do not share sessions behind a
// round-robin balancer, an unreachable host. The nginx-shaped faults are in doctor-nginx.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { MemoryStore } from "../../server/rendezvous/index.js";
import { startDevhome, type RunningDevhome } from "../../server/devhome/index.js";
import { diagnose, withStatus } from "../support/doctor.js";
import { freePort } from "../support/redis-server.js";
import { startRendezvousHomeserver, type RendezvousHomeserver } from "../support/rendezvous-homeserver.js";
import { startRoundRobinProxy } from "../support/round-robin-proxy.js";
import { SynapseStandin } from "../support/synapse-standin.js";

const ALL_2024 = ["rendezvous-2024.create", "rendezvous-2024.consistent", "rendezvous-2024.etag", "rendezvous-2024.conditional", "rendezvous-2024.content-type", "rendezvous-2024.cors"];
const ALL_2025 = ["rendezvous-2025.create", "rendezvous-2025.consistent", "rendezvous-2025.sequence", "rendezvous-2025.cors"];

describe("a healthy deployment: the development homeserver", () => {
  let dh: RunningDevhome;
  beforeAll(async () => {
    dh = await startDevhome({ port: 0, rendezvousLongPollMs: 1_500 });
  }, 30_000);
  afterAll(async () => dh?.close());

  test("every check passes; plain http on loopback is the one warning; everyone can sign in, both directions", async () => {
    const d = await diagnose(dh.baseUrl);
    expect(d.ok).toBe(true);
    expect(d.baseUrl).toBe(dh.baseUrl);
    expect(withStatus(d, "warn")).toEqual(["tls"]);
    expect(withStatus(d, "fail")).toEqual([]);
    expect(withStatus(d, "skip")).toEqual([]);
    expect(d.by["rendezvous.long-poll"].summary).toMatch(/held 1\.\d s and answered by the server at its bound of 1\.5 s/);
    expect(d.by["rendezvous-2025.create"].summary).toMatch(/unstable prefix.*and the v1 prefix/);
    expect(d.verdict.map((v) => v.status)).toEqual(["pass", "pass", "pass"]);
    expect(d.verdict[2]).toEqual({ clients: "A new device showing the QR code", status: "pass", summary: "can: anyone may create a rendezvous session (2024 version: anyone; 2025 version: anyone)" });
  }, 30_000);

  test("--register-client: one test client registered, one device authorization answered", async () => {
    const d = await diagnose(dh.baseUrl, { registerClient: true });
    expect(d.by["oauth.registration"]).toMatchObject({ status: "pass", summary: expect.stringMatching(/^registered a test client/) });
    expect(d.by["oauth.device-grant"]).toMatchObject({ status: "pass", summary: expect.stringMatching(/device authorization request was answered/) });
  }, 30_000);
});

describe("our rendezvous server on a homeserver front", () => {
  let front: RendezvousHomeserver;
  beforeAll(async () => {
    front = await startRendezvousHomeserver({ longPollMs: 1_000 });
  });
  afterAll(async () => front?.close());

  test("side effects: every rendezvous session created is deleted before the run ends", async () => {
    const d = await diagnose(front.url);
    expect(d.ok).toBe(true);
    for (const id of [...ALL_2024, ...ALL_2025, "rendezvous.long-poll", "rendezvous.body-size"]) expect([id, d.statuses[id]]).toEqual([id, "pass"]);
    expect(await front.store.liveCount(Date.now())).toBe(0);
  }, 30_000);
});

describe("authenticated mode: only signed-in devices create sessions", () => {
  let front: RendezvousHomeserver;
  beforeAll(async () => {
    front = await startRendezvousHomeserver({ mode: "authenticated", accessToken: "signed-in" });
  });
  afterAll(async () => front?.close());

  test("without a token: the APIs are there, creating is not tried; the verdict says who may create and which direction works", async () => {
    const d = await diagnose(front.url);
    expect(d.ok).toBe(true);
    expect(d.by["rendezvous-2025.create"]).toMatchObject({ status: "pass", summary: expect.stringMatching(/only signed-in devices may create sessions \(authenticated mode, create_available: false\)/) });
    expect(d.by["rendezvous-2024.create"]).toMatchObject({ status: "pass", summary: expect.stringMatching(/401 M_MISSING_TOKEN: only signed-in devices/) });
    expect(d.by["rendezvous-2025.consistent"]).toMatchObject({ status: "skip", summary: expect.stringMatching(/QR_LOGIN_ACCESS_TOKEN/) });
    expect(d.verdict[1]).toMatchObject({ status: "warn", summary: expect.stringMatching(/signed-in device showing the QR code and the new device scanning it/) });
    expect(d.verdict[2]).toMatchObject({ status: "warn", summary: expect.stringMatching(/^cannot: only signed-in devices may create a rendezvous session \(2024 version: signed-in devices only \(authenticated mode\); 2025 version: signed-in devices only/) });
  }, 30_000);

  test("with an access token: the sessions are created and walked", async () => {
    const d = await diagnose(front.url, { accessToken: "signed-in" });
    for (const id of [...ALL_2024, ...ALL_2025]) expect([id, d.statuses[id]]).toEqual([id, "pass"]);
    expect(await front.store.liveCount(Date.now())).toBe(0);
  }, 30_000);
});

describe("what the deployment offers", () => {
  let only2025: RendezvousHomeserver;
  let none: RendezvousHomeserver;
  beforeAll(async () => {
    only2025 = await startRendezvousHomeserver({ apis: ["2025"] });
    none = await startRendezvousHomeserver({ apis: [] });
  });
  afterAll(async () => {
    await only2025?.close();
    await none?.close();
  });

  test("/versions without org.matrix.msc4108: a warning (Element says \"not supported\"), the 2024 checks skipped as not offered", async () => {
    const d = await diagnose(only2025.url);
    expect(d.by["discovery.versions"]).toMatchObject({ status: "warn", summary: expect.stringMatching(/QR code not supported/), fix: expect.stringMatching(/msc4108_enabled: true/) });
    for (const id of ALL_2024) expect(d.by[id as "rendezvous-2024.create"].summary).toMatch(/^the deployment does not offer the 2024 version/);
    for (const id of ALL_2025) expect([id, d.statuses[id]]).toEqual([id, "pass"]);
    expect(d.ok).toBe(true);
    expect(d.verdict[0]).toMatchObject({ status: "fail", summary: expect.stringMatching(/does not list org\.matrix\.msc4108/) });
    expect(d.verdict[1]!.status).toBe("pass");
  }, 30_000);

  test("neither version: discovery.versions fails (no client can sign in with a QR code here)", async () => {
    const d = await diagnose(none.url);
    expect(d.by["discovery.versions"]).toMatchObject({ status: "fail", summary: expect.stringMatching(/no client can sign in with a QR code here/) });
    for (const id of [...ALL_2024, ...ALL_2025]) expect([id, d.statuses[id]]).toEqual([id, "skip"]);
    expect(d.ok).toBe(false);
    expect(d.verdict.map((v) => v.status)).toEqual(["fail", "fail", "fail"]);
  }, 30_000);
});

describe("a homeserver that answers as Synapse does", () => {
  const standins: SynapseStandin[] = [];
  const start = async (o: ConstructorParameters<typeof SynapseStandin>[0]) => {
    const s = await new SynapseStandin(o).start();
    standins.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of standins) await s.close();
  });

  test("msc4108_enabled, MSC4388 off: the 2024 checks pass, the 2025 ones and long-poll are skipped as not offered; Element can sign in", async () => {
    const syn = await start({ msc4108: true });
    const d = await diagnose(syn.url);
    expect(d.ok).toBe(true);
    for (const id of ALL_2024) expect([id, d.statuses[id]]).toEqual([id, "pass"]);
    for (const id of ALL_2025) expect(d.by[id as "rendezvous-2025.create"]).toMatchObject({ status: "skip", summary: expect.stringMatching(/does not offer the 2025 version.*404 M_UNRECOGNIZED/) });
    expect(d.by["rendezvous.long-poll"]).toMatchObject({ status: "skip", summary: expect.stringMatching(/does not hold GETs/) });
    expect(d.by["rendezvous-2024.create"].summary).toMatch(/lifetime 60 s/);
    expect(d.verdict[0]!.status).toBe("pass");
    expect(syn.sessions2024.size).toBe(0);
  }, 30_000);

  test("MAS without the device grant: oauth.device-grant fails with MAS's setting, and nobody can sign in", async () => {
    const syn = await start({ msc4108: true, deviceGrant: false });
    const d = await diagnose(syn.url);
    expect(d.by["oauth.device-grant"]).toMatchObject({ status: "fail", fix: expect.stringMatching(/device_code_grant_enabled: true/) });
    expect(d.by["oauth.metadata"].status).toBe("pass");
    expect(d.verdict.slice(0, 2).map((v) => v.status)).toEqual(["fail", "fail"]);
  }, 30_000);

  test("a server clock 90 s behind: clock fails, naming what matrix-js-sdk would make of Expires; the rest passes", async () => {
    const syn = await start({ msc4108: true, skewMs: -90_000 });
    const d = await diagnose(syn.url);
    expect(d.by.clock).toMatchObject({ status: "fail", summary: expect.stringMatching(/about (8[89]|9[01]) s behind this computer's; a 2024 session lives 60 s, and matrix-js-sdk.*would give it -[23]\d s/) });
    expect(d.by.clock.fix).toMatch(/NTP/);
    expect(withStatus(d, "fail")).toEqual(["clock"]);
    expect(d.verdict[0]!.status).toBe("fail");
  }, 30_000);

  test("a public_baseurl clients cannot reach: rendezvous-2024.create fails, the checks that need the session are not run", async () => {
    const closed = await freePort();
    const syn = await start({ msc4108: true, publicBaseUrl: `http://127.0.0.1:${closed}/` });
    const d = await diagnose(syn.url);
    expect(d.by["rendezvous-2024.create"]).toMatchObject({ status: "fail", summary: expect.stringMatching(new RegExp(`cannot be reached \\(127\\.0\\.0\\.1:${closed} refused the connection \\(nothing listens there\\)\\): it names http://127\\.0\\.0\\.1:${closed}, while the POST went to`)) });
    expect(d.by["rendezvous-2024.create"].fix).toMatch(/public_baseurl/);
    for (const id of ALL_2024.slice(1)) expect(d.by[id as "rendezvous-2024.cors"].summary).toMatch(/^not checked: the session URL cannot be used/);
  }, 30_000);

  test("msc4388_mode open before Synapse 1.157: a retried write is refused (warning); from 1.157 on it passes", async () => {
    const old = await start({ msc4388Mode: "open", idempotentPut: false });
    const d = await diagnose(old.url);
    expect(d.by["rendezvous-2025.sequence"]).toMatchObject({ status: "warn", summary: expect.stringMatching(/retried PUT.*got 409/), fix: expect.stringMatching(/Synapse ≥ 1\.157/) });
    expect(d.by["rendezvous-2025.create"].summary).toMatch(/served at the unstable prefix \(io\.element\.msc4388\); sessions live 120 s/);
    const current = await start({ msc4388Mode: "open" });
    expect((await diagnose(current.url)).by["rendezvous-2025.sequence"]).toMatchObject({ status: "pass", summary: expect.stringMatching(/409 IO_ELEMENT_MSC4388_CONCURRENT_WRITE/) });
  }, 30_000);

  test("msc4108_delegation_endpoint: the POST follows the 307 as matrix-js-sdk does, and the delegated server is checked", async () => {
    const rz = await startRendezvousHomeserver({ apis: ["2024"] });
    try {
      const syn = await start({ msc4108: { delegateTo: `${rz.url}_matrix/client/unstable/org.matrix.msc4108/rendezvous` } });
      const d = await diagnose(syn.url);
      expect(d.by["rendezvous-2024.create"]).toMatchObject({ status: "pass", summary: expect.stringContaining(`(delegated to ${new URL(rz.url).origin})`) });
      for (const id of ALL_2024) expect([id, d.statuses[id]]).toEqual([id, "pass"]);
      expect(await rz.store.liveCount(Date.now())).toBe(0);
    } finally {
      await rz.close();
    }
  }, 30_000);
});

describe("backends that do not share sessions, behind round robin", () => {
  /** Two instances of our server behind a balancer that sends each request to the next one. */
  async function balanced(shared: boolean): Promise<{ url: string; close(): Promise<void> }> {
    const lbPort = await freePort();
    const publicBaseUrl = `http://127.0.0.1:${lbPort}/`;
    const store = shared ? new MemoryStore() : undefined;
    const backends = [await startRendezvousHomeserver({ publicBaseUrl, ...(store ? { store } : {}) }), await startRendezvousHomeserver({ publicBaseUrl, ...(store ? { store } : {}) })];
    const lb = await startRoundRobinProxy(backends.map((s) => s.url), lbPort);
    return { url: `${lb.url}/`, close: async () => { await lb.close(); for (const s of backends) await s.close(); } };
  }

  test("two instances with their own stores: both versions' consistency fails, naming the fix", async () => {
    const d1 = await balanced(false);
    try {
      const d = await diagnose(d1.url);
      for (const id of ["rendezvous-2024.consistent", "rendezvous-2025.consistent"] as const) {
        expect(d.by[id]).toMatchObject({ status: "fail", summary: expect.stringMatching(/404 M_NOT_FOUND: it reached a server that does not have the session/) });
        expect(d.by[id].fix).toMatch(/main process.*shared store \(store: redis/);
      }
      expect(d.ok).toBe(false);
      expect(d.verdict.slice(0, 2).map((v) => v.status)).toEqual(["fail", "fail"]);
    } finally {
      await d1.close();
    }
  }, 30_000);

  test("the same two instances sharing one store: consistent", async () => {
    const d1 = await balanced(true);
    try {
      const d = await diagnose(d1.url);
      for (const id of [...ALL_2024, ...ALL_2025]) expect([id, d.statuses[id]]).toEqual([id, "pass"]);
    } finally {
      await d1.close();
    }
  }, 30_000);
});

describe("a server name, resolved as clients resolve it", () => {
  // For these tests only, https://<name>/ is the server on loopback (name resolution and TLS are faked;
  // the TLS tests are in doctor-nginx.test.ts).
  const mapped = (name: string, to: string) => (input: string, init: RequestInit) => fetch(input.replace(`https://${name}/`, to), init);

  test("no .well-known (404), the name serves the Client-Server API itself: discovery.well-known passes, the rest runs there", async () => {
    const front = await startRendezvousHomeserver();
    try {
      const d = await diagnose("example.org", { fetch: mapped("example.org", front.url) });
      expect(d.target).toBe("example.org");
      expect(d.baseUrl).toBe("https://example.org/");
      expect(d.by["discovery.well-known"]).toMatchObject({ status: "pass", summary: "example.org has no /.well-known/matrix/client (404) and serves the Client-Server API itself at https://example.org/" });
      expect(d.by["discovery.versions"].status).toBe("pass");
    } finally {
      await front.close();
    }
  }, 30_000);

  test("a name whose host is a web site without Matrix: one finding under discovery.well-known, with what to serve", async () => {
    const site = http.createServer((_req, res) => res.writeHead(404, { "content-type": "text/html" }).end("<!doctype html><title>Not Found</title>"));
    await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
    try {
      const d = await diagnose("example.net", { fetch: mapped("example.net", `http://127.0.0.1:${(site.address() as AddressInfo).port}/`) });
      expect(withStatus(d, "fail")).toEqual(["discovery.well-known"]);
      expect(d.by["discovery.well-known"]).toMatchObject({ summary: "cannot find the homeserver of example.net: https://example.net/ does not serve the Matrix Client-Server API", fix: expect.stringMatching(/^Serve https:\/\/example\.net\/\.well-known\/matrix\/client as JSON/) });
      expect(d.by["discovery.versions"].summary).toBe("not checked: the homeserver could not be asked (see discovery.well-known)");
      expect(d.baseUrl).toBeNull();
    } finally {
      site.closeAllConnections();
      await new Promise<void>((resolve) => site.close(() => resolve()));
    }
  }, 30_000);
});

describe("one clear finding, never a hang", () => {
  test("an unreachable host: discovery.versions says so, everything else is not checked, within seconds", async () => {
    const port = await freePort();
    const started = Date.now();
    const d = await diagnose(`http://127.0.0.1:${port}/`);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(withStatus(d, "fail")).toEqual(["discovery.versions"]);
    expect(d.by["discovery.versions"].summary).toBe(`GET /_matrix/client/versions: 127.0.0.1:${port} refused the connection (nothing listens there)`);
    expect(withStatus(d, "skip").length).toBe(d.checks.length - 1);
    expect(d.by["rendezvous-2024.etag"].summary).toBe("not checked: the homeserver could not be asked (see discovery.versions)");
    expect(d.verdict.map((v) => [v.status, v.summary])).toEqual([0, 1].map(() => ["fail", "cannot sign in here from this computer: the homeserver could not be asked (see discovery.versions)"]));
  }, 15_000);

  test("a server that accepts the connection and never answers: one finding after the request timeout", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const started = Date.now();
      const d = await diagnose(`http://127.0.0.1:${port}/`, { requestTimeoutMs: 1_000 });
      expect(Date.now() - started).toBeLessThan(4_000);
      expect(withStatus(d, "fail")).toEqual(["discovery.versions"]);
      expect(d.by["discovery.versions"].summary).toBe(`GET /_matrix/client/versions: 127.0.0.1:${port} did not answer within 1 s`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  }, 15_000);

  test("https:// to a port that speaks plain http: one finding, under tls", async () => {
    const front = await startRendezvousHomeserver();
    try {
      const d = await diagnose(front.url.replace("http:", "https:"));
      expect(withStatus(d, "fail")).toEqual(["tls"]);
      expect(d.by.tls.summary).toMatch(/does not speak TLS on this port \(https:\/\/ to a plain http port\?\)$/);
    } finally {
      await front.close();
    }
  }, 30_000);

  test("plain http to a *.localhost name: tls fails, as the client's URL policy refuses it (one rule for \"this computer\")", async () => {
    const front = await startRendezvousHomeserver();
    try {
      const realHost = new URL(front.url).host;
      const d = await diagnose("http://matrix.localhost/", { fetch: (input, init) => fetch(input.replace("//matrix.localhost/", `//${realHost}/`), init) });
      expect(d.by.tls).toMatchObject({ status: "fail", summary: expect.stringMatching(/^plain http to http:\/\/matrix\.localhost: /) });
    } finally {
      await front.close();
    }
  }, 30_000);

  test("plain http to a host that is not this machine: tls fails", async () => {
    const front = await startRendezvousHomeserver();
    try {
      // matrix.example.org resolves, for this test only, to the front on loopback.
      const realHost = new URL(front.url).host;
      const d = await diagnose("http://matrix.example.org/", { fetch: (input, init) => fetch(input.replace("//matrix.example.org/", `//${realHost}/`), init) });
      expect(d.by.tls).toMatchObject({ status: "fail", summary: expect.stringMatching(/^plain http to http:\/\/matrix\.example\.org: Element X and browsers refuse it/) });
      expect(d.by.tls.fix).toMatch(/https/);
    } finally {
      await front.close();
    }
  }, 30_000);
});

