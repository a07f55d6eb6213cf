// End to end: the two MSC4108 state machines over the real secure session (HPKE + rendezvous HTTP),
// the real OAuth client and matrix-js-sdk with Rust crypto, against a listening development homeserver
// (rendezvous server on the same origin). The consent step is driven through the devhome's pages by a
// small browser with the demo account, from the existing device's openUri.

import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { MatrixClient } from "matrix-js-sdk";
import type { startDevhome, RunningDevhome } from "../../server/devhome/index.js";
import { runNewDevice } from "../../main/login/flows/new-device.js";
import { runExistingDevice } from "../../main/login/flows/existing-device.js";
import { createExistingDeviceMatrixPort, createNewDeviceMatrixPort, type SignedInMatrixClient } from "../../main/login/matrix/port.js";
import { createSecureChannelPort } from "../../main/login/channel/port.js";
import { createOAuthPort } from "../../main/login/oauth/port.js";
import { createHomeserverPort } from "../../main/login/matrix/homeserver.js";
import { stopClient } from "../../main/login/matrix/client.js";
import type { SecretsBundle } from "../../main/login/flows/messages.js";
import type { FlowEvent, FlowOutcome, SecureChannelPort, SecureConversation } from "../../main/login/flows/ports.js";
import { startRendezvousServer, type RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { consent, rawKeysQuery as keysQueryOn, startE2eStack, type KeysQuery } from "./e2e-stack.js";

const CLIENT = { client_name: "qr-login e2e", client_uri: "https://example.org/", application_type: "native" as const };

let dh: RunningDevhome;
let existing: MatrixClient;
let existingToken: string;
let bundle: SecretsBundle;
const clients: MatrixClient[] = [];

async function rawKeysQuery(token: string, userId: string): Promise<KeysQuery> {
  return keysQueryOn(dh.baseUrl, token, userId);
}

async function sessionGone(rendezvousUrl: string, hex: string): Promise<boolean> {
  // The rendezvous id sits in the QR; the channel port's decoder gives it back.
  const { decodeQr } = await import("../../main/protocol/qr.js");
  const qr = decodeQr(new Uint8Array(Buffer.from(hex, "hex")));
  for (const prefix of ["_matrix/client/unstable/io.element.msc4388/rendezvous", "_matrix/client/v1/rendezvous"]) {
    const r = await fetch(new URL(`${prefix}/${encodeURIComponent(qr.rendezvousId)}`, rendezvousUrl));
    if (r.status === 200) return false;
  }
  return true;
}

interface Run {
  newOutcome: FlowOutcome;
  existingOutcome: FlowOutcome;
  signedIn?: SignedInMatrixClient;
  events: Record<"new" | "existing", FlowEvent[]>;
}

interface Variation {
  /** "none": the user never acts in the browser. */
  decision?: "confirm" | "abort" | "none";
  /** The user types another number than the one shown. */
  wrongCode?: boolean;
  /** The new device picks this device id (device_already_exists). */
  deviceId?: string;
  /** Cancel the new device when it reaches this state. */
  cancelNewAt?: string;
  /** Cancel the existing device when it reaches this state. */
  cancelExistingAt?: string;
  /** Rendezvous server the new device generates on (default: the homeserver's). */
  rendezvousUrl?: string;
  /** Rewrite what the new device sends (over the real channel). */
  tamperNew?: (message: Record<string, unknown>) => object;
}

/** The channel port with the new device's outgoing messages rewritten. */
function tampering(port: SecureChannelPort, rewrite: (message: Record<string, unknown>) => object): SecureChannelPort {
  const wrap = (c: SecureConversation): SecureConversation => ({ ...c, send: (m) => c.send(rewrite(m as Record<string, unknown>)), receive: (o) => c.receive(o), close: () => c.close() });
  return {
    decodeQr: (qr) => port.decodeQr(qr),
    connectScanner: async (qr, o) => {
      const scanned = await port.connectScanner(qr, o);
      return { checkCode: scanned.checkCode, conversation: wrap(scanned.conversation) };
    },
    startGenerator: async (o) => {
      const g = await port.startGenerator(o);
      return {
        ...g,
        close: () => g.close(),
        waitForScanner: async (w) => {
          const u = await g.waitForScanner(w);
          return { confirm: async (code) => wrap(await u.confirm(code)), close: () => u.close() };
        },
      };
    },
  };
}

async function signIn(direction: "existing_scans" | "new_scans", v: Variation = {}): Promise<Run> {
  const decision = v.decision ?? "confirm";
  const cancelNew = new AbortController();
  const cancelExisting = new AbortController();
  const events: Run["events"] = { new: [], existing: [] };
  const waiters: Array<() => void> = [];
  const push = (side: "new" | "existing") => (e: FlowEvent): void => {
    events[side].push(e);
    if (side === "new" && e.type === "state" && e.state === v.cancelNewAt) cancelNew.abort();
    if (side === "existing" && e.type === "state" && e.state === v.cancelExistingAt) cancelExisting.abort();
    for (const w of waiters.splice(0)) w();
  };
  const waitFor = async <T extends FlowEvent>(side: "new" | "existing", type: T["type"]): Promise<T> => {
    for (;;) {
      const found = events[side].find((e) => e.type === type);
      if (found) return found as T;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const channel = createSecureChannelPort();
  const password = dh.demo!.password;

  const existingFlow = (qr?: Uint8Array): Promise<FlowOutcome> =>
    runExistingDevice(
      {
        channel,
        oauth: createOAuthPort({ clientMetadata: CLIENT }),
        matrix: createExistingDeviceMatrixPort(existing),
        ui: {
          scanQr: async () => new Uint8Array(Buffer.from((await waitFor<Extract<FlowEvent, { type: "qr" }>>("new", "qr")).hex, "hex")),
          enterCheckCode: async () => typed((await waitFor<Extract<FlowEvent, { type: "check_code" }>>("new", "check_code")).code),
          openUri: async (uri) => {
            // The user's browser: consent runs while the flow goes on to send protocol_accepted.
            void consent(uri, password, decision);
            return "opened";
          },
        },
      },
      { mode: direction === "existing_scans" ? { kind: "scan", ...(qr ? { qr } : {}) } : { kind: "generate", rendezvousUrl: dh.baseUrl }, lingerMs: 1500 },
      { onEvent: push("existing"), signal: cancelExisting.signal },
    );

  const typed = (code: string): string => (v.wrongCode ? (code === "10" ? "11" : "10") : code);
  const newOAuth = createOAuthPort({ clientMetadata: CLIENT });
  const fixedId = v.deviceId;
  if (fixedId) newOAuth.generateDeviceId = () => fixedId;
  const newFlow = (mode: Parameters<typeof runNewDevice>[1]["mode"]) =>
    runNewDevice(
      {
        channel: v.tamperNew ? tampering(channel, v.tamperNew) : channel,
        homeserver: createHomeserverPort(),
        oauth: newOAuth,
        matrix: createNewDeviceMatrixPort(),
        ui: {
          enterCheckCode: async () => typed((await waitFor<Extract<FlowEvent, { type: "check_code" }>>("existing", "check_code")).code),
          confirmAccount: async (userId) => userId === dh.demo!.userId,
        },
      },
      { mode, lingerMs: 1500 },
      { onEvent: push("new"), signal: cancelNew.signal },
    );

  if (direction === "existing_scans") {
    const [n, e] = await Promise.all([newFlow({ kind: "generate", rendezvousUrl: v.rendezvousUrl ?? dh.baseUrl }), existingFlow()]);
    if (n.signedIn) clients.push(n.signedIn.client);
    return { newOutcome: n.outcome, existingOutcome: e, ...(n.signedIn ? { signedIn: n.signedIn } : {}), events };
  }
  const e = existingFlow();
  const qrEvent = await waitFor<Extract<FlowEvent, { type: "qr" }>>("existing", "qr");
  const n = await newFlow({ kind: "scan", qr: new Uint8Array(Buffer.from(qrEvent.hex, "hex")) });
  if (n.signedIn) clients.push(n.signedIn.client);
  return { newOutcome: n.outcome, existingOutcome: await e, ...(n.signedIn ? { signedIn: n.signedIn } : {}), events };
}

const stacks: Array<{ close(): Promise<void> }> = [];

async function startStack(opts: Parameters<typeof startDevhome>[0] = {}): Promise<void> {
  const stack = await startE2eStack(opts);
  stacks.push(stack);
  ({ dh, existing, existingToken, bundle } = stack);
}

beforeAll(() => startStack(), 60_000);

afterAll(async () => {
  for (const c of clients) stopClient(c);
  for (const s of stacks) await s.close();
});

describe.each(["existing_scans", "new_scans"] as const)("sign in with QR (%s)", (direction) => {
  test("the new device ends up signed in, cross-signed (as a third party sees it) and with the backup", async () => {
    const run = await signIn(direction);
    expect(run.existingOutcome).toMatchObject({ outcome: "success" });
    expect(run.newOutcome).toMatchObject({ outcome: "success", userId: dh.demo!.userId, crossSigned: true, backup: true });
    const deviceId = (run.newOutcome as { deviceId: string }).deviceId;

    // A third party's /keys/query: the new device's keys carry a signature by the self-signing key.
    const userId = dh.demo!.userId;
    const q = await rawKeysQuery(existingToken, userId);
    const ssk = Object.keys(q.self_signing_keys[userId]!.keys)[0]!;
    const device = q.device_keys[userId]![deviceId];
    expect(device).toBeDefined();
    expect(Object.keys(device!.signatures[userId]!)).toContain(ssk);
    // The secrets the new device holds are the existing device's.
    const crypto = run.signedIn!.client.getCrypto()!;
    expect(await crypto.exportSecretsBundle!()).toEqual(expect.objectContaining({ cross_signing: bundle.cross_signing }));

    // Each secrets step was reported as matrix-js-sdk did it, in order, between "importing" and
    // "verified"; device_signed / keys_uploaded come from the /keys/upload seen on the wire.
    const importTail = run.events.new.filter((e) => e.type === "importing" || e.type === "secrets_step" || e.type === "verified");
    expect(importTail).toEqual([
      { type: "importing" },
      { type: "secrets_step", step: "cross_signing_keys", status: "done" },
      { type: "secrets_step", step: "backup_key", status: "done" },
      { type: "secrets_step", step: "device_signed", status: "done" },
      { type: "secrets_step", step: "keys_uploaded", status: "done" },
      { type: "secrets_step", step: "backup_connected", status: "done" },
      { type: "verified", crossSigned: true, backup: true },
    ]);

    // The rendezvous session is gone afterwards.
    const qr = (direction === "existing_scans" ? run.events.new : run.events.existing).find((e) => e.type === "qr") as Extract<FlowEvent, { type: "qr" }>;
    expect(await sessionGone(dh.baseUrl, qr.hex)).toBe(true);
    // No token or secret in any event.
    const all = JSON.stringify(run.events);
    expect(all).not.toContain(bundle.cross_signing.master_key);
    expect(all).not.toContain("access_token");
  }, 60_000);

  test("consent denied: both sides report the decline", async () => {
    const run = await signIn(direction, { decision: "abort" });
    expect(run.newOutcome).toEqual({ outcome: "declined", side: "local" });
    expect(run.existingOutcome).toEqual({ outcome: "declined", side: "peer" });
  }, 60_000);

  test("wrong check code: the generator refuses, the scanner sees the session end", async () => {
    const run = await signIn(direction, { wrongCode: true });
    const [generator, scanner] = direction === "existing_scans" ? [run.newOutcome, run.existingOutcome] : [run.existingOutcome, run.newOutcome];
    expect(generator).toEqual({ outcome: "check_code_mismatch" });
    expect(scanner).toEqual({ outcome: "closed" });
  }, 60_000);

  test("device already exists: refused before the browser opens", async () => {
    const run = await signIn(direction, { deviceId: "EXISTINGXX" });
    expect(run.existingOutcome).toMatchObject({ outcome: "failure", reason: "device_already_exists", side: "local" });
    expect(run.newOutcome).toMatchObject({ outcome: "failure", reason: "device_already_exists", side: "peer" });
    expect(run.events.existing.some((e) => e.type === "opening_browser")).toBe(false);
  }, 60_000);

  test("unsupported protocol: the existing device refuses and names its homeserver", async () => {
    const run = await signIn(direction, { tamperNew: (m) => (m["type"] === "m.login.protocol" ? { ...m, protocol: "magic_link" } : m) });
    expect(run.existingOutcome).toMatchObject({ outcome: "failure", reason: "unsupported_protocol", side: "local" });
    expect(run.newOutcome).toEqual({ outcome: "failure", reason: "unsupported_protocol", side: "peer", homeserver: "localhost" });
  }, 60_000);

  test("unexpected message: the existing device answers unexpected_message_received", async () => {
    const run = await signIn(direction, { tamperNew: (m) => (m["type"] === "m.login.success" ? { type: "m.login.protocols", protocols: [], base_url: "https://x/" } : m) });
    expect(run.existingOutcome).toMatchObject({ outcome: "failure", reason: "unexpected_message_received", side: "local" });
    expect(run.newOutcome).toMatchObject({ outcome: "failure", reason: "unexpected_message_received", side: "peer" });
  }, 60_000);

  test("the existing device cancels before opening the browser: the new device is told", async () => {
    const run = await signIn(direction, { cancelExistingAt: "checking_device" });
    expect(run.existingOutcome).toEqual({ outcome: "cancelled" });
    expect(run.newOutcome).toEqual({ outcome: "failure", reason: "user_cancelled", side: "peer" });
  }, 60_000);

  test("the existing device cancels while waiting for the outcome (not its turn to write): the new device sees the session end", async () => {
    const run = await signIn(direction, { decision: "none", cancelExistingAt: "waiting_for_outcome" });
    expect(run.existingOutcome).toEqual({ outcome: "cancelled" });
    expect(run.newOutcome).toEqual({ outcome: "closed" });
  }, 60_000);

  test("the new device cancels while waiting for consent: the existing device is told", async () => {
    const run = await signIn(direction, { cancelNewAt: "waiting_for_consent" });
    expect(run.newOutcome).toEqual({ outcome: "cancelled" });
    expect(run.existingOutcome).toEqual({ outcome: "failure", reason: "user_cancelled", side: "peer" });
  }, 60_000);
});

describe("device authorization grant expiry (3 s device code)", () => {
  beforeAll(() => startStack({ ttl: { deviceCode: 3 } }), 60_000);

  test.each(["existing_scans", "new_scans"] as const)("%s: nobody consents → authorization_expired on both sides", async (direction) => {
    const run = await signIn(direction, { decision: "none" });
    expect(run.newOutcome).toMatchObject({ outcome: "failure", reason: "authorization_expired", side: "local" });
    expect(run.existingOutcome).toMatchObject({ outcome: "failure", reason: "authorization_expired", side: "peer" });
  }, 60_000);
});

describe("rendezvous session expiry (3 s session on a separate rendezvous server)", () => {
  let rz: RunningRendezvousServer;
  beforeAll(async () => {
    // A stack with the default device-code lifetime: the previous block's 3 s grant would otherwise
    // race the 3 s rendezvous session, and whichever expires first decides the outcome.
    await startStack();
    rz = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", ttlMs: 3_000, logLevel: false });
  }, 60_000);
  afterAll(async () => {
    await rz?.close();
  });

  test("expiry while the user has not consented: both sides report expired; the new device may offer a fresh QR", async () => {
    const run = await signIn("existing_scans", { decision: "none", rendezvousUrl: rz.url });
    expect(run.newOutcome).toEqual({ outcome: "expired", retry: true });
    expect(run.existingOutcome).toEqual({ outcome: "expired", retry: false });
  }, 60_000);
});
