// The MSC4108 2024 version end to end against matrix-js-sdk's own implementation: in each of the four
// combinations one side is ours (the flows of main/login over main/protocol-2024) and the other is
// test/support/jssdk-peer.ts (MSC4108SignInWithQR / MSC4108SecureChannel / MSC4108RendezvousSession as
// Element Web drives them, with its own rust-crypto MatrixClient), on the development stack, whose
// server name `localhost` .well-known cannot resolve: our new device is pinned to the stack's URL, the
// peer's new device maps the name as an app's server discovery would.
// Each sign-in ends with the new device cross-signed as a third client's /keys/query shows it and the
// key backup trusted; then decline, expiry, a wrong check code and a cancel on each side.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import type { MatrixClient } from "matrix-js-sdk";
import { runNewDevice } from "../../main/login/flows/new-device.js";
import { runExistingDevice } from "../../main/login/flows/existing-device.js";
import { createExistingDeviceMatrixPort, createNewDeviceMatrixPort, type SignedInMatrixClient } from "../../main/login/matrix/port.js";
import { createSecureChannelPort } from "../../main/login/channel/port.js";
import { createHomeserverPort } from "../../main/login/matrix/homeserver.js";
import { createOAuthPort } from "../../main/login/oauth/port.js";
import type { FlowEvent, FlowOutcome, FlowStage, ProtocolChoice } from "../../main/login/flows/ports.js";
import { decodeQr2024 } from "../../main/protocol-2024/qr.js";
import { createUrlFor } from "../../main/protocol-2024/secure-session.js";
import type { FetchLike } from "../../main/protocol/rendezvous-http.js";
import { startRendezvousServer, type RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { startLossyProxy, type LossyProxy } from "../support/lossy-proxy.js";
import { existingDeviceClient, existingDeviceScans, existingDeviceShows, newDeviceScans, newDeviceShows, type NewDeviceEnv, type PeerResult, type PeerUi } from "../support/jssdk-peer.js";
import { consent, crossSignedAsOthersSeeIt, startE2eStack, type E2eStack } from "./e2e-stack.js";

const CLIENT = { client_name: "qr-login e2e 2024", client_uri: "https://example.org/", application_type: "native" as const };

let stack: E2eStack;
/** Their existing device: a second device of the account, holding its secrets. */
let theirExisting: MatrixClient;
/** A 2024 rendezvous server with 4 s sessions (the expiry tests create their sessions there). */
let shortLived: RunningRendezvousServer;
/** In front of the stack: loses every fifth rendezvous answer (after the server acted on it). Only our side's requests go through it. */
let lossy: LossyProxy;
let answers = 0;

beforeAll(async () => {
  stack = await startE2eStack({}, "OURSEXISTING");
  const userId = stack.dh.demo!.userId;
  const token = (await stack.dh.auth.issueDeviceToken({ userId, deviceId: "JSEXISTING", clientName: "matrix-js-sdk existing device" })).access_token;
  theirExisting = await existingDeviceClient({ baseUrl: stack.dh.baseUrl, userId, deviceId: "JSEXISTING", accessToken: token }, stack.bundle);
  stack.clients.push(theirExisting);
  shortLived = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", ttlMs: 60_000, ttl2024Ms: 4_000, logLevel: false });
  lossy = await startLossyProxy(stack.dh.baseUrl, 0.2, () => (++answers % 5 === 0 ? 0 : 1), { lossy: (req) => /\/rendezvous(\/|$)/.test(req.path) });
}, 90_000);

/** The peers' sessions, closed after each test (Element leaves them to expire). */
const peers: PeerResult[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) await p.dispose();
});

afterAll(async () => {
  await lossy?.close();
  await shortLived?.close();
  await stack?.close();
});

class Deferred<T> {
  resolve!: (v: T) => void;
  readonly promise = new Promise<T>((r) => (this.resolve = r));
}

/** Our side's events, with a wait for the first of a type. */
class Events {
  readonly all: FlowEvent[] = [];
  private waiters: Array<() => void> = [];
  push = (e: FlowEvent): void => {
    this.all.push(e);
    for (const w of this.waiters.splice(0)) w();
  };
  async first<T extends FlowEvent["type"]>(type: T): Promise<Extract<FlowEvent, { type: T }>> {
    for (;;) {
      const found = this.all.find((e) => e.type === type);
      if (found) return found as Extract<FlowEvent, { type: T }>;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

const hexBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"));
const wrong = (code: string): string => (code === "00" ? "01" : "00");

interface OursOptions {
  protocol?: ProtocolChoice;
  /** Our user types this instead of what the other device shows. */
  wrongCode?: boolean;
  /** Cancel our side when it reaches this state. */
  cancelAt?: FlowStage;
  /** The user's decision in the browser (our existing device opens it). */
  decision?: "confirm" | "abort" | "none";
  /** Where our existing device opened the browser (with decision "none": for a late consent). */
  opened?: Deferred<string>;
  /** Our side's rendezvous requests (faults on our side only). */
  fetch?: FetchLike;
}

function cancelling(events: Events, at: FlowStage | undefined): AbortController {
  const controller = new AbortController();
  if (at) {
    const push = events.push;
    events.push = (e) => {
      push(e);
      if (e.type === "state" && e.state === at) controller.abort();
    };
  }
  return controller;
}

/** Our new device; `theirCode` is what the other device shows (typed here when we show the QR). */
function ourNewDevice(mode: { kind: "generate"; rendezvousUrl: string } | { kind: "scan"; qr: Uint8Array }, theirCode: Promise<string>, o: OursOptions, events: Events): Promise<{ outcome: FlowOutcome; signedIn?: SignedInMatrixClient }> {
  const controller = cancelling(events, o.cancelAt);
  return runNewDevice(
    {
      channel: createSecureChannelPort(o.fetch ? { fetch: o.fetch } : {}),
      homeserver: createHomeserverPort({ pinned: stack.dh.baseUrl }),
      oauth: createOAuthPort({ clientMetadata: CLIENT }),
      matrix: createNewDeviceMatrixPort(),
      ui: {
        enterCheckCode: async () => {
          const code = await theirCode;
          return o.wrongCode ? wrong(code) : code;
        },
        confirmAccount: async (userId) => userId === stack.dh.demo!.userId,
      },
    },
    { mode, lingerMs: 1500, ...(o.protocol ? { protocol: o.protocol } : {}) },
    { onEvent: (e) => events.push(e), signal: controller.signal },
  ).then((r) => {
    if (r.signedIn) stack.clients.push(r.signedIn.client);
    return r;
  });
}

/** Our existing device (the stack's seeded one). */
function ourExistingDevice(mode: { kind: "scan"; qr: Uint8Array } | { kind: "generate"; rendezvousUrl?: string }, theirCode: Promise<string>, o: OursOptions, events: Events): Promise<FlowOutcome> {
  const controller = cancelling(events, o.cancelAt);
  return runExistingDevice(
    {
      channel: createSecureChannelPort(o.fetch ? { fetch: o.fetch } : {}),
      oauth: createOAuthPort({ clientMetadata: CLIENT }),
      matrix: createExistingDeviceMatrixPort(stack.existing),
      ui: {
        enterCheckCode: async () => {
          const code = await theirCode;
          return o.wrongCode ? wrong(code) : code;
        },
        openUri: async (uri) => {
          o.opened?.resolve(uri);
          void consent(uri, stack.dh.demo!.password, o.decision ?? "confirm");
          return "opened";
        },
      },
    },
    // matrix-js-sdk's new device polls once a second and never deletes the session: 2 s to read the secrets.
    { mode, lingerMs: 1500, secretsReadMs: 2_000, ...(o.protocol ? { protocol: o.protocol } : {}) },
    { onEvent: (e) => events.push(e), signal: controller.signal },
  );
}

/** The peer's new device: the dev stack's server name resolves to the stack (an app's server discovery). */
function peerEnv(fallbackRzServer?: string): NewDeviceEnv {
  return {
    homeserverUrl: stack.dh.baseUrl,
    resolve: (serverName) => {
      expect(serverName).toBe(stack.dh.serverName);
      return stack.dh.baseUrl;
    },
    ...(fallbackRzServer ? { fallbackRzServer } : {}),
  };
}

const peerConsent = (decision: "confirm" | "abort" | "none") => (uri: string): Promise<void> => consent(uri, stack.dh.demo!.password, decision);

async function sessionGone(qrHex: string): Promise<boolean> {
  return (await fetch(decodeQr2024(hexBytes(qrHex)).rendezvousUrl)).status === 404;
}

interface Pair {
  ours: FlowOutcome;
  theirs: PeerResult;
  events: Events;
  qrHex: string;
  signedIn?: SignedInMatrixClient;
}

interface Variation {
  ours?: OursOptions;
  peer?: Omit<PeerUi, "onQr" | "onCheckCode" | "typeCheckCode" | "consent"> & { wrongCode?: boolean; decision?: "confirm" | "abort" | "none" };
  /** Sessions on the 4 s rendezvous server. */
  shortLived?: boolean;
  /** Our side's events (to follow them while the sign-in runs). */
  events?: Events;
}

type Combination = "our_new_shows" | "our_existing_scans" | "our_existing_shows" | "our_new_scans";

async function signIn(combination: Combination, v: Variation = {}): Promise<Pair> {
  const pair = await signInOnce(combination, v);
  peers.push(pair.theirs);
  return pair;
}

async function signInOnce(combination: Combination, v: Variation): Promise<Pair> {
  const events = v.events ?? new Events();
  const theirCode = new Deferred<string>();
  const ours = v.ours ?? {};
  const peerUi = (extra: PeerUi): PeerUi => ({ ...v.peer, ...extra });
  const peerTyped = async (): Promise<string> => {
    const code = (await events.first("check_code")).code;
    return v.peer?.wrongCode ? wrong(code) : code;
  };
  const rz = v.shortLived ? shortLived.url : stack.dh.baseUrl;
  switch (combination) {
    case "our_new_shows": {
      // Our new device shows a 2024 QR (forced: the stack offers both versions), their existing device scans it.
      const oursRun = ourNewDevice({ kind: "generate", rendezvousUrl: rz }, theirCode.promise, { protocol: "2024", ...ours }, events);
      const qr = await events.first("qr");
      const theirs = await existingDeviceScans(theirExisting, hexBytes(qr.hex), peerUi({ onCheckCode: (c) => theirCode.resolve(c), consent: peerConsent(v.peer?.decision ?? "confirm") }));
      const n = await oursRun;
      return { ours: n.outcome, theirs, events, qrHex: qr.hex, ...(n.signedIn ? { signedIn: n.signedIn } : {}) };
    }
    case "our_existing_scans": {
      // The headline: Element Web's new device shows its QR, our existing device scans it (auto: the QR says 2024).
      const qr = new Deferred<Uint8Array>();
      const theirsRun = newDeviceShows(peerEnv(v.shortLived ? createUrlFor(shortLived.url) : undefined), peerUi({ onQr: (q) => qr.resolve(q), typeCheckCode: peerTyped }));
      const bytes = await Promise.race([qr.promise, theirsRun.then(() => undefined)]);
      if (!bytes) throw new Error(`the peer did not show a QR: ${JSON.stringify(await theirsRun)}`);
      const e = await ourExistingDevice({ kind: "scan", qr: bytes }, theirCode.promise, ours, events);
      return { ours: e, theirs: await theirsRun, events, qrHex: Buffer.from(bytes).toString("hex") };
    }
    case "our_existing_shows": {
      const oursRun = ourExistingDevice({ kind: "generate", ...(v.shortLived ? { rendezvousUrl: rz } : {}) }, theirCode.promise, { protocol: "2024", ...ours }, events);
      const qr = await events.first("qr");
      const theirs = await newDeviceScans(peerEnv(), hexBytes(qr.hex), peerUi({ onCheckCode: (c) => theirCode.resolve(c) }));
      return { ours: await oursRun, theirs, events, qrHex: qr.hex };
    }
    case "our_new_scans": {
      const qr = new Deferred<Uint8Array>();
      const theirsRun = existingDeviceShows(theirExisting, peerUi({ onQr: (q) => qr.resolve(q), typeCheckCode: peerTyped, consent: peerConsent(v.peer?.decision ?? "confirm") }), v.shortLived ? { fallbackRzServer: createUrlFor(shortLived.url) } : {});
      const bytes = await Promise.race([qr.promise, theirsRun.then(() => undefined)]);
      if (!bytes) throw new Error(`the peer did not show a QR: ${JSON.stringify(await theirsRun)}`);
      const n = await ourNewDevice({ kind: "scan", qr: bytes }, theirCode.promise, ours, events);
      return { ours: n.outcome, theirs: await theirsRun, events, qrHex: Buffer.from(bytes).toString("hex"), ...(n.signedIn ? { signedIn: n.signedIn } : {}) };
    }
  }
}

const OUR_NEW: Combination[] = ["our_new_shows", "our_new_scans"];

describe.each<Combination>(["our_new_shows", "our_existing_scans", "our_existing_shows", "our_new_scans"])("MSC4108 2024 against matrix-js-sdk (%s)", (combination) => {
  const oursIsNew = OUR_NEW.includes(combination);

  test("signs in: the new device cross-signed as a third client sees it, the backup trusted; the session deleted", async () => {
    const r = await signIn(combination);
    expect(r.events.all.find((e) => e.type === "protocol")).toEqual({ type: "protocol", version: "2024" });
    expect(r.theirs).toMatchObject({ outcome: "success" });
    let deviceId: string;
    if (oursIsNew) {
      expect(r.ours).toMatchObject({ outcome: "success", userId: stack.dh.demo!.userId, crossSigned: true, backup: true });
      deviceId = (r.ours as { deviceId: string }).deviceId;
      // The secrets our new device holds are the account's.
      expect(await r.signedIn!.client.getCrypto()!.exportSecretsBundle!()).toEqual(expect.objectContaining({ cross_signing: stack.bundle.cross_signing }));
    } else {
      expect(r.ours).toMatchObject({ outcome: "success" });
      const theirs = r.theirs as Extract<PeerResult, { outcome: "success" }>;
      stack.clients.push(theirs.client!);
      expect(theirs).toMatchObject({ userId: stack.dh.demo!.userId, crossSigned: true, backupTrusted: true });
      deviceId = theirs.deviceId!;
      expect((r.ours as { deviceId: string }).deviceId).toBe(deviceId);
    }
    expect(await crossSignedAsOthersSeeIt(stack, deviceId)).toBe(true);
    expect(await sessionGone(r.qrHex)).toBe(true);
  }, 60_000);

  test("consent declined in the browser", async () => {
    const r = await signIn(combination, oursIsNew ? { peer: { decision: "abort" } } : { ours: { decision: "abort" } });
    if (oursIsNew) {
      // Ours says m.login.declined (matrix-js-sdk's own new device would say user_cancelled).
      expect(r.ours).toEqual({ outcome: "declined", side: "local" });
      expect(r.theirs).toMatchObject({ outcome: "failed", reason: "user_declined" });
    } else {
      // matrix-js-sdk's new device reports an access_denied as m.login.failure user_cancelled.
      expect(r.ours).toEqual({ outcome: "failure", reason: "user_cancelled", side: "peer" });
      expect(r.theirs).toMatchObject({ outcome: "failed", reason: "user_cancelled" });
    }
  }, 60_000);

  test("wrong check code typed on the QR-showing device", async () => {
    const ourShows = combination === "our_new_shows" || combination === "our_existing_shows";
    const r = await signIn(combination, ourShows ? { ours: { wrongCode: true } } : { peer: { wrongCode: true } });
    if (ourShows) {
      expect(r.ours).toEqual({ outcome: "check_code_mismatch" });
      // The session is gone: matrix-js-sdk's 404 report.
      expect(r.theirs).toMatchObject({ outcome: "failed", reason: "unknown" });
    } else {
      // Element: "The numbers don't match", and the user cancels (the session is deleted).
      expect(r.theirs).toMatchObject({ outcome: "failed", reason: "check_code_mismatch" });
      expect(r.ours).toEqual({ outcome: "closed" });
    }
    expect(await sessionGone(r.qrHex)).toBe(true);
  }, 60_000);

  test("the rendezvous session expires while the user has not consented", async () => {
    if (oursIsNew) {
      const r = await signIn(combination, { shortLived: true, peer: { decision: "none" } });
      expect(r.ours).toEqual({ outcome: "expired", retry: combination === "our_new_shows" });
      // Their QR-showing existing device's own expiry timer; their scanner only sees the 404.
      expect(r.theirs).toMatchObject({ outcome: "failed", reason: combination === "our_new_scans" ? "expired" : "unknown" });
      return;
    }
    // matrix-js-sdk's new device polls the token endpoint meanwhile, not the rendezvous: it learns
    // that the session is gone when the user consents late and it sends m.login.success.
    const opened = new Deferred<string>();
    const events = new Events();
    const run = signIn(combination, { shortLived: true, events, ours: { decision: "none", opened } });
    const uri = await opened.promise;
    expect((await events.first("outcome")).result).toEqual({ outcome: "expired", retry: false });
    await consent(uri, stack.dh.demo!.password, "confirm");
    const r = await run;
    expect(r.theirs).toMatchObject({ outcome: "failed", reason: combination === "our_existing_scans" ? "expired" : "unknown" });
  }, 60_000);

  test("we cancel: the other device is told, or sees the session end", async () => {
    const at: FlowStage = oursIsNew ? "waiting_for_consent" : "checking_device";
    const r = await signIn(combination, oursIsNew ? { ours: { cancelAt: at }, peer: { decision: "none" } } : { ours: { cancelAt: at } });
    expect(r.ours).toEqual({ outcome: "cancelled" });
    expect(r.theirs).toMatchObject({ outcome: "failed", reason: "user_cancelled" });
    expect(await sessionGone(r.qrHex)).toBe(true);
  }, 60_000);

  test("our side loses every fifth rendezvous answer: it retries, settles its lost writes, and both sign in", async () => {
    const origin = new URL(stack.dh.baseUrl).origin;
    const throughLossy: FetchLike = (input, init) => fetch(input.replace(origin, lossy.url), init);
    const before = lossy.stats.dropped;
    const r = await signIn(combination, { ours: { fetch: throughLossy } });
    expect(r.theirs).toMatchObject({ outcome: "success" });
    if (oursIsNew) {
      expect(r.ours).toMatchObject({ outcome: "success", crossSigned: true, backup: true });
    } else {
      expect(r.ours).toMatchObject({ outcome: "success" });
      stack.clients.push((r.theirs as Extract<PeerResult, { outcome: "success" }>).client!);
    }
    expect(lossy.stats.dropped - before).toBeGreaterThan(0);
  }, 60_000);

  test("they cancel (Element's Cancel button): our side sees the session end", async () => {
    const r = await signIn(combination, { peer: oursIsNew ? { cancelAt: "check_code" } : { cancelAt: "waiting_for_device" }, ours: { decision: "none" } });
    expect(r.theirs).toMatchObject({ outcome: "failed", reason: "cancelled_by_peer" });
    expect(r.ours).toEqual({ outcome: "closed" });
  }, 60_000);
});
