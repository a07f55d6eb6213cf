// Full MSC4108 sign-in (the login flows + real secure session + real OAuth client + matrix-js-sdk with
// Rust crypto, against a listening development homeserver) while the rendezvous server misbehaves:
// - a proxy loses 20% of the rendezvous responses after the server acted on them (idempotent retries);
// - the rendezvous server (SQLite store) is restarted in the middle of the flow;
// - two rendezvous instances share one Redis behind a round-robin proxy (no stickiness).
// The new device shows the QR on that external rendezvous server; the existing device scans it (the QR
// carries the rendezvous URL). OAuth and the Client-Server API go to the devhome directly.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { MatrixClient } from "matrix-js-sdk";
import { startDevhome, type RunningDevhome } from "../../server/devhome/index.js";
import { startRendezvousServer, type RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { runNewDevice } from "../../main/login/flows/new-device.js";
import { runExistingDevice } from "../../main/login/flows/existing-device.js";
import { createExistingDeviceMatrixPort, createNewDeviceMatrixPort } from "../../main/login/matrix/port.js";
import { createSecureChannelPort } from "../../main/login/channel/port.js";
import { createOAuthPort } from "../../main/login/oauth/port.js";
import { createHomeserverPort } from "../../main/login/matrix/homeserver.js";
import { bootstrapCrossSigningAndBackup } from "../../main/devstack/identity.js";
import { createMatrixClient, startAndWaitForSync, stopClient } from "../../main/login/matrix/client.js";
import type { FlowEvent, FlowOutcome } from "../../main/login/flows/ports.js";
import { seededRandom, startLossyProxy } from "../support/lossy-proxy.js";
import { startRoundRobinProxy } from "../support/round-robin-proxy.js";
import { startRedis, type TestRedis } from "../support/redis-server.js";
import { decodeQr } from "../../main/protocol/qr.js";
import { MiniBrowser } from "./mini-browser.js";

const CLIENT = { client_name: "qr-login faults", client_uri: "https://example.org/", application_type: "native" as const };

let dh: RunningDevhome;
let existing: MatrixClient;
let tmp: string;
const clients: MatrixClient[] = [];

async function consent(uri: string): Promise<void> {
  const browser = new MiniBrowser();
  const entry = await browser.go(uri);
  const page = await browser.submit(entry, {});
  const next = await browser.submit(page, {}, { button: "confirm" });
  await browser.submit(next, { username: dh.demo!.localpart, password: dh.demo!.password }, { withField: "password" });
}

interface Run {
  newOutcome: FlowOutcome;
  existingOutcome: FlowOutcome;
  events: Record<"new" | "existing", FlowEvent[]>;
}

/**
 * Existing device scans the new device's QR, which points at `rendezvousUrl`. `onNewEvent` may inject faults.
 * (`new_scans`: the existing device generates on `rendezvousUrl`, which must then be its homeserver.)
 */
async function signIn(rendezvousUrl: string, onNewEvent?: (e: FlowEvent) => void, direction: "existing_scans" | "new_scans" = "existing_scans"): Promise<Run> {
  const events: Run["events"] = { new: [], existing: [] };
  const waiters: Array<() => void> = [];
  const push = (side: "new" | "existing") => (e: FlowEvent): void => {
    events[side].push(e);
    if (side === "new") onNewEvent?.(e);
    for (const w of waiters.splice(0)) w();
  };
  const waitFor = async <T extends FlowEvent["type"]>(side: "new" | "existing", type: T): Promise<Extract<FlowEvent, { type: T }>> => {
    for (;;) {
      const found = events[side].find((e) => e.type === type);
      if (found) return found as Extract<FlowEvent, { type: T }>;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const channel = createSecureChannelPort();
  const consents: Promise<void>[] = [];
  const hexBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"));
  const existingRun = runExistingDevice(
    {
      channel,
      oauth: createOAuthPort({ clientMetadata: CLIENT }),
      matrix: createExistingDeviceMatrixPort(existing),
      ui: {
        scanQr: async () => hexBytes((await waitFor("new", "qr")).hex),
        enterCheckCode: async () => (await waitFor("new", "check_code")).code,
        openUri: async (uri) => {
          consents.push(consent(uri));
          return "opened";
        },
      },
    },
    { mode: direction === "existing_scans" ? { kind: "scan" } : { kind: "generate", rendezvousUrl }, protocol: "2025" },
    { onEvent: push("existing") },
  );
  const newMode = direction === "existing_scans"
    ? ({ kind: "generate", rendezvousUrl } as const)
    : ({ kind: "scan", qr: hexBytes((await waitFor("existing", "qr")).hex) } as const);
  const [n, e] = await Promise.all([
    runNewDevice(
      {
        channel,
        homeserver: createHomeserverPort(),
        oauth: createOAuthPort({ clientMetadata: CLIENT }),
        matrix: createNewDeviceMatrixPort(),
        ui: {
          enterCheckCode: async () => (await waitFor("existing", "check_code")).code,
          confirmAccount: async (userId) => userId === dh.demo!.userId,
        },
      },
      // The faults are the 2025 rendezvous API's: forced, so no version probe shifts the seeded loss pattern.
      { mode: newMode, lingerMs: 1500, protocol: "2025" },
      { onEvent: push("new") },
    ),
    existingRun,
  ]);
  await Promise.all(consents);
  if (n.signedIn) clients.push(n.signedIn.client);
  return { newOutcome: n.outcome, existingOutcome: e, events };
}

function expectVerifiedSignIn(run: Run, rendezvousUrl: string): void {
  expect(run.existingOutcome).toMatchObject({ outcome: "success" });
  expect(run.newOutcome).toMatchObject({ outcome: "success", userId: dh.demo!.userId, crossSigned: true, backup: true });
  // The session lived on the faulty rendezvous server, not on the devhome: the QR names it.
  const qr = [...run.events.new, ...run.events.existing].find((e) => e.type === "qr") as Extract<FlowEvent, { type: "qr" }>;
  expect(new URL(decodeQr(new Uint8Array(Buffer.from(qr.hex, "hex"))).baseUrl).origin).toBe(new URL(rendezvousUrl).origin);
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "qr-flow-faults-"));
  dh = await startDevhome({ port: 0, seed: true, deviceInterval: 1 });
  const userId = dh.demo!.userId;
  const token = (await dh.auth.issueDeviceToken({ userId, deviceId: "EXISTINGFT", clientName: "existing device" })).access_token;
  existing = await createMatrixClient({ homeserverUrl: dh.baseUrl, userId, deviceId: "EXISTINGFT", accessToken: token });
  clients.push(existing);
  await startAndWaitForSync(existing);
  await bootstrapCrossSigningAndBackup(existing);
}, 60_000);

afterAll(async () => {
  for (const c of clients) stopClient(c);
  await dh?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const rendezvous = (store: string, port = 0): Promise<RunningRendezvousServer> =>
  startRendezvousServer({ host: "127.0.0.1", port, mode: "open", store, logLevel: false, redisPrefix: "qrl-faults:" });

describe("sign-in with rendezvous faults", () => {
  test("a proxy loses 20% of the rendezvous responses: the sign-in completes through idempotent retries", async () => {
    const server = await rendezvous("memory");
    const proxy = await startLossyProxy(server.url.replace(/\/$/, ""), 0.2, seededRandom(4108));
    try {
      const run = await signIn(`${proxy.url}/`);
      expectVerifiedSignIn(run, proxy.url);
      // Responses really were lost, PUTs among them (the requests that change state).
      expect(proxy.stats.dropped).toBeGreaterThan(0);
      expect(proxy.stats.forwarded).toBeGreaterThan(10);
    } finally {
      await proxy.close();
      await server.close();
    }
  }, 60_000);

  test("the rendezvous server (SQLite store) restarts mid-flow: the sign-in completes", async () => {
    const store = `sqlite:${path.join(tmp, "rendezvous.sqlite")}`;
    let server = await rendezvous(store);
    const port = Number(new URL(server.url).port);
    let restarted: Promise<void> | undefined;
    try {
      const run = await signIn(server.url, (e) => {
        // The new device just sent m.login.protocol and polls for protocol_accepted, while the
        // existing device is about to read it: both sides have requests in flight across the restart.
        if (e.type === "state" && e.state === "waiting_for_accept" && !restarted) {
          restarted = (async () => {
            await server.close();
            server = await rendezvous(store, port);
          })();
        }
      });
      expect(restarted).toBeDefined();
      await restarted;
      expectVerifiedSignIn(run, server.url);
    } finally {
      await restarted?.catch(() => undefined);
      await server.close();
    }
  }, 60_000);

  test("control: the same restart with the in-memory store loses the session, and the sign-in fails", async () => {
    let server = await rendezvous("memory");
    const port = Number(new URL(server.url).port);
    let restarted: Promise<void> | undefined;
    try {
      const run = await signIn(server.url, (e) => {
        if (e.type === "state" && e.state === "waiting_for_accept" && !restarted) {
          restarted = (async () => {
            await server.close();
            server = await rendezvous("memory", port);
          })();
        }
      });
      await restarted;
      expect(run.newOutcome.outcome).not.toBe("success");
      expect(run.existingOutcome.outcome).not.toBe("success");
    } finally {
      await restarted?.catch(() => undefined);
      await server.close();
    }
  }, 60_000);

  describe("two rendezvous instances on one Redis", () => {
    let redis: TestRedis;
    beforeAll(async () => {
      redis = await startRedis();
    }, 20_000);
    afterAll(async () => {
      await redis?.stop();
    });

    test("behind a round-robin proxy: the sign-in completes with requests on both instances", async () => {
      const a = await rendezvous(redis.url);
      const b = await rendezvous(redis.url);
      const proxy = await startRoundRobinProxy([a.url, b.url]);
      try {
        const run = await signIn(`${proxy.url}/`);
        expectVerifiedSignIn(run, proxy.url);
        expect(proxy.counts[0]).toBeGreaterThan(3);
        expect(proxy.counts[1]).toBeGreaterThan(3);
      } finally {
        await proxy.close();
        await a.close();
        await b.close();
      }
    }, 60_000);

    test("control: two instances with their own in-memory stores behind the same proxy cannot complete", async () => {
      const a = await rendezvous("memory");
      const b = await rendezvous("memory");
      const proxy = await startRoundRobinProxy([a.url, b.url]);
      try {
        const run = await signIn(`${proxy.url}/`);
        expect(run.newOutcome.outcome).not.toBe("success");
        expect(run.existingOutcome.outcome).not.toBe("success");
      } finally {
        await proxy.close();
        await a.close();
        await b.close();
      }
    }, 60_000);
  });
});
