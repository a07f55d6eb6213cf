// Whole sign-ins behind a real reverse proxy: the development homeserver (OAuth, Client-Server API and
// both rendezvous APIs on one origin) behind nginx with gzip on for text/plain and JSON, as operators
// run it. A 2025 and a 2024 sign-in between our two roles, and the 2024 headline against
// matrix-js-sdk's own new device, all through nginx (its access log shows the rendezvous traffic).
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { runNewDevice } from "../../main/login/flows/new-device.js";
import { runExistingDevice } from "../../main/login/flows/existing-device.js";
import { createExistingDeviceMatrixPort, createNewDeviceMatrixPort } from "../../main/login/matrix/port.js";
import { createSecureChannelPort } from "../../main/login/channel/port.js";
import { createHomeserverPort } from "../../main/login/matrix/homeserver.js";
import { createOAuthPort } from "../../main/login/oauth/port.js";
import type { FlowEvent, FlowOutcome, ProtocolVersion } from "../../main/login/flows/ports.js";
import { newDeviceShows } from "../support/jssdk-peer.js";
import { startNginx, type TestNginx } from "../support/nginx.js";
import { freePort } from "../support/redis-server.js";
import { consent, crossSignedAsOthersSeeIt, startE2eStack, type E2eStack } from "./e2e-stack.js";

const CLIENT = { client_name: "qr-login behind nginx", client_uri: "https://example.org/", application_type: "native" as const };

let nginx: TestNginx;
let stack: E2eStack;

beforeAll(async () => {
  const port = await freePort();
  nginx = await startNginx({ upstreams: [`127.0.0.1:${port}`], gzip: true });
  stack = await startE2eStack({ port, publicBaseUrl: `${nginx.url}/` });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await nginx?.stop();
});

function waiter(): { push(e: FlowEvent): void; first<T extends FlowEvent["type"]>(t: T): Promise<Extract<FlowEvent, { type: T }>>; all: FlowEvent[] } {
  const all: FlowEvent[] = [];
  const wake: Array<() => void> = [];
  return {
    all,
    push: (e) => {
      all.push(e);
      for (const w of wake.splice(0)) w();
    },
    async first(t) {
      for (;;) {
        const e = all.find((x) => x.type === t);
        if (e) return e as never;
        await new Promise<void>((r) => wake.push(r));
      }
    },
  };
}

/** Our new device shows the QR on the proxied homeserver, our existing device scans it. */
async function oursBoth(protocol: ProtocolVersion): Promise<{ n: FlowOutcome; e: FlowOutcome; version?: ProtocolVersion }> {
  const nEvents = waiter();
  const eEvents = waiter();
  const password = stack.dh.demo!.password;
  const [n, e] = await Promise.all([
    runNewDevice(
      {
        channel: createSecureChannelPort(),
        homeserver: createHomeserverPort({ pinned: stack.dh.baseUrl }),
        oauth: createOAuthPort({ clientMetadata: CLIENT }),
        matrix: createNewDeviceMatrixPort(),
        ui: { enterCheckCode: async () => (await eEvents.first("check_code")).code, confirmAccount: async () => true },
      },
      { mode: { kind: "generate", rendezvousUrl: stack.dh.baseUrl }, protocol, lingerMs: 500 },
      { onEvent: nEvents.push },
    ),
    runExistingDevice(
      {
        channel: createSecureChannelPort(),
        oauth: createOAuthPort({ clientMetadata: CLIENT }),
        matrix: createExistingDeviceMatrixPort(stack.existing),
        ui: {
          scanQr: async () => new Uint8Array(Buffer.from((await nEvents.first("qr")).hex, "hex")),
          enterCheckCode: async () => {
            throw new Error("the scanner never types a code");
          },
          openUri: async (uri) => {
            void consent(uri, password, "confirm");
            return "opened";
          },
        },
      },
      { mode: { kind: "scan" }, lingerMs: 500 },
      { onEvent: eEvents.push },
    ),
  ]);
  if (n.signedIn) stack.clients.push(n.signedIn.client);
  const version = (nEvents.all.find((x) => x.type === "protocol") as Extract<FlowEvent, { type: "protocol" }> | undefined)?.version;
  return { n: n.outcome, e, ...(version ? { version } : {}) };
}

describe("sign in with QR behind nginx (gzip on)", () => {
  test.each<ProtocolVersion>(["2025", "2024"])("%s version, our two roles: signed in, cross-signed, with the backup", async (protocol) => {
    const log = nginx.accessLog().length;
    const r = await oursBoth(protocol);
    expect(r.version).toBe(protocol);
    expect(r.e).toMatchObject({ outcome: "success" });
    expect(r.n).toMatchObject({ outcome: "success", userId: stack.dh.demo!.userId, crossSigned: true, backup: true });
    expect(await crossSignedAsOthersSeeIt(stack, (r.n as { deviceId: string }).deviceId)).toBe(true);
    // The rendezvous went through nginx (and so did OAuth and the Client-Server API).
    const seen = nginx.accessLog().slice(log);
    expect(seen).toMatch(protocol === "2024" ? /org\.matrix\.msc4108\/rendezvous/ : /io\.element\.msc4388\/rendezvous|v1\/rendezvous/);
    expect(seen).toMatch(/\/_matrix\/client\/v3\/keys\/upload/);
  }, 60_000);

  test("2024 headline against matrix-js-sdk: Element's new device shows, our existing device scans", async () => {
    let qrShown: (qr: Uint8Array) => void = () => undefined;
    const qr = new Promise<Uint8Array>((r) => (qrShown = r));
    let codeShown: (code: string) => void = () => undefined;
    const ourCode = new Promise<string>((r) => (codeShown = r));
    const theirs = newDeviceShows({ homeserverUrl: stack.dh.baseUrl, resolve: () => stack.dh.baseUrl }, { onQr: qrShown, typeCheckCode: () => ourCode });
    const e = await runExistingDevice(
      {
        channel: createSecureChannelPort(),
        oauth: createOAuthPort({ clientMetadata: CLIENT }),
        matrix: createExistingDeviceMatrixPort(stack.existing),
        ui: {
          scanQr: () => qr,
          enterCheckCode: async () => {
            throw new Error("the scanner never types a code");
          },
          openUri: async (uri) => {
            void consent(uri, stack.dh.demo!.password, "confirm");
            return "opened";
          },
        },
      },
      { mode: { kind: "scan" }, secretsReadMs: 2_000 },
      { onEvent: (ev) => ev.type === "check_code" && codeShown(ev.code) },
    );
    const peer = await theirs;
    expect(e).toMatchObject({ outcome: "success" });
    expect(peer).toMatchObject({ outcome: "success", crossSigned: true, backupTrusted: true });
    if (peer.outcome === "success") {
      stack.clients.push(peer.client!);
      expect(await crossSignedAsOthersSeeIt(stack, peer.deviceId!)).toBe(true);
    }
    await peer.dispose();
  }, 60_000);
});
