// The other side of a sign-in, written only with matrix-js-sdk's public rendezvous API as Element Web
// drives it (apps/web/src/components/views/auth/LoginWithQR.tsx): MSC4108SignInWithQR over
// MSC4108SecureChannel over MSC4108RendezvousSession, the QR bytes from crypto-wasm's QrCodeData,
// OAuth with the SDK's own helpers, and a real rust-crypto MatrixClient. Nothing here imports the
// project's code: this is the implementation nobody here wrote, as a test peer.
//
// Four roles: an existing device that shows a QR (linkNewDeviceByGeneratingQR's steps) or scans one
// (as Element X does), a new device that shows one (signInByGeneratingQR's steps) or scans one.
// Where Element asks the user something, the test answers through PeerUi; `cancelAt` plays the
// Cancel button (flow.cancel(user_cancelled), which DELETEs the session), `declineAt` the existing
// device's Decline (declineLoginOnExistingDevice, an m.login.failure user_cancelled).
import { initAsync, QrCodeData, QrCodeIntent } from "@matrix-org/matrix-sdk-crypto-wasm";
import { ClientEvent, createClient, OAuth2, SyncState, type MatrixClient, type ValidatedAuthMetadata } from "matrix-js-sdk";
import { logger as sdkLogger, type Logger } from "matrix-js-sdk/lib/logger.js";
import {
  MSC4108FailureReason,
  MSC4108RendezvousSession,
  MSC4108SecureChannel,
  MSC4108SignInWithQR,
  RendezvousError,
  type RendezvousFailureReason,
} from "matrix-js-sdk/lib/rendezvous/index.js";
import { randomBytes } from "node:crypto";
import type { CryptoApi } from "matrix-js-sdk/lib/crypto-api/index.js";

type SecretsBundle = Awaited<ReturnType<NonNullable<CryptoApi["exportSecretsBundle"]>>>;

(sdkLogger as unknown as { setLevel(level: string): void }).setLevel("warn");

const noop = (): void => undefined;
const quiet: Logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quiet };

/** Where the peer's flow is: the points at which Element waits for its user. */
export type PeerStep = "qr_shown" | "connected" | "check_code" | "consent" | "waiting_for_device" | "secrets";

export interface PeerUi {
  /** The peer shows a QR (its bytes). */
  onQr?: (qr: Uint8Array) => void;
  /** The peer scanned and shows this check code (the user types it on our device). */
  onCheckCode?: (code: string) => void;
  /** The peer showed the QR: the user types the code our device shows. */
  typeCheckCode?: () => Promise<string>;
  /** Existing device: the user's browser at the verification URI. */
  consent?: (verificationUri: string) => Promise<void>;
  /** The Cancel button, pressed at this step. */
  cancelAt?: PeerStep;
  /** Existing device: Decline instead of approving (at the check code step). */
  decline?: boolean;
}

export type PeerResult = (
  | { outcome: "success"; deviceId?: string; userId?: string; client?: MatrixClient; backupTrusted?: boolean; crossSigned?: boolean }
  /** `reason`: the RendezvousError code the SDK threw, or the first onFailure reason it reported. */
  | { outcome: "failed"; reason: string; failures: RendezvousFailureReason[]; error?: unknown }
) & {
  /**
   * Test clean-up only: Element never closes the session after a sign-in (the SDK's expiry timer
   * stays armed); this does (DELETE, which the test checks our side already did).
   */
  dispose: () => Promise<void>;
};

type Outcome = PeerResult extends infer R ? (R extends PeerResult ? Omit<R, "dispose"> : never) : never;

class Cancelled extends Error {}

interface Run {
  failures: RendezvousFailureReason[];
  onFailure: (reason: RendezvousFailureReason) => void;
  /** Resolves at the first onFailure: Element's screen switches to the error then, whatever the flow awaits. */
  failed: Promise<RendezvousFailureReason>;
  flow?: MSC4108SignInWithQR;
  /** The peer's user cancelled: the SDK's onFailure echo of that is not news. */
  cancelling?: boolean;
}

function newRun(): Run {
  const failures: RendezvousFailureReason[] = [];
  let report: (r: RendezvousFailureReason) => void = noop;
  const failed = new Promise<RendezvousFailureReason>((resolve) => (report = resolve));
  const run: Run = {
    failures,
    failed,
    onFailure: (r) => {
      failures.push(r);
      if (!run.cancelling) report(r);
    },
  };
  return run;
}

async function cancel(run: Run): Promise<void> {
  run.cancelling = true;
  await run.flow?.cancel(MSC4108FailureReason.UserCancelled);
}

async function step(run: Run, ui: PeerUi, at: PeerStep): Promise<void> {
  if (ui.cancelAt === at) {
    await cancel(run);
    throw new Cancelled(at);
  }
}

function failed(run: Run, err: unknown): Outcome {
  if (err instanceof Cancelled) return { outcome: "failed", reason: "cancelled_by_peer", failures: run.failures };
  const reason = err instanceof RendezvousError ? String(err.code) : run.failures[0] ?? (err instanceof Error ? err.message : String(err));
  return { outcome: "failed", reason, failures: run.failures, error: err };
}

/** Element compares the typed code with its own; a wrong one is "The numbers don't match" and the user cancels. */
async function confirmTyped(run: Run, ui: PeerUi): Promise<boolean> {
  const typed = await ui.typeCheckCode!();
  if (typed === run.flow!.checkCode) return true;
  await cancel(run);
  return false;
}

// ---- existing device ------------------------------------------------------------------------------

/**
 * Element Web's "Link new device" → "Show QR code": a reciprocate QR naming client.getDomain(). With
 * `fallbackRzServer`, the session is created there (Element's configured fallback) instead of on the
 * homeserver.
 */
async function existingDeviceShowsRun(run: Run, client: MatrixClient, ui: PeerUi, opts: { fallbackRzServer?: string } = {}): Promise<Outcome> {
  try {
    const session = opts.fallbackRzServer
      ? new MSC4108RendezvousSession({ fallbackRzServer: opts.fallbackRzServer, onFailure: run.onFailure })
      : new MSC4108RendezvousSession({ client, onFailure: run.onFailure });
    const channel = new MSC4108SecureChannel(session, undefined, run.onFailure);
    run.flow = new MSC4108SignInWithQR(channel, false, client, run.onFailure);
    await session.send("");
    await run.flow.generateCode();
    ui.onQr?.(run.flow.code!);
    await step(run, ui, "qr_shown");
    await run.flow.negotiateProtocols();
    await step(run, ui, "connected");
    const { verificationUri } = await run.flow.deviceAuthorizationGrant();
    await step(run, ui, "check_code");
    if (ui.decline) {
      await run.flow.declineLoginOnExistingDevice();
      return { outcome: "failed", reason: "declined_by_peer", failures: run.failures };
    }
    if (!(await confirmTyped(run, ui))) return { outcome: "failed", reason: "check_code_mismatch", failures: run.failures };
    await ui.consent?.(verificationUri!);
    await step(run, ui, "consent");
    await run.flow.shareSecrets();
    return { outcome: "success" };
  } catch (err) {
    return failed(run, err);
  }
}

/** The existing device scans a login QR (Element X's "Link new device" → "Desktop computer"). */
async function existingDeviceScansRun(run: Run, client: MatrixClient, qr: Uint8Array, ui: PeerUi): Promise<Outcome> {
  try {
    const data = QrCodeData.fromBytes(qr);
    if (data.mode !== QrCodeIntent.Login) return { outcome: "failed", reason: "other_device_already_signed_in", failures: [] };
    const session = new MSC4108RendezvousSession({ url: data.rendezvousUrl!, onFailure: run.onFailure });
    const channel = new MSC4108SecureChannel(session, data.publicKey, run.onFailure);
    run.flow = new MSC4108SignInWithQR(channel, true, client, run.onFailure);
    await run.flow.negotiateProtocols();
    ui.onCheckCode?.(run.flow.checkCode!);
    await step(run, ui, "check_code");
    const { verificationUri } = await run.flow.deviceAuthorizationGrant();
    if (ui.decline) {
      await run.flow.declineLoginOnExistingDevice();
      return { outcome: "failed", reason: "declined_by_peer", failures: run.failures };
    }
    await ui.consent?.(verificationUri!);
    await step(run, ui, "consent");
    await run.flow.shareSecrets();
    return { outcome: "success" };
  } catch (err) {
    return failed(run, err);
  }
}

// ---- new device -----------------------------------------------------------------------------------

export interface NewDeviceEnv {
  /** The homeserver the temporary client starts on (Element's new device picks one first). */
  homeserverUrl: string;
  /** Server name → base URL (Element: AutoDiscovery.findClientConfig; the test knows the dev stack's). */
  resolve: (serverName: string) => string;
  /** Create the session here instead of on the homeserver (Element's fallback rendezvous server). */
  fallbackRzServer?: string;
}

/** After the channel is up: OAuth device grant, tokens, secrets, and a rust-crypto client as Element sets it up. */
async function finishNewDevice(run: Run, ui: PeerUi, baseUrl: string): Promise<Outcome> {
  const flow = run.flow!;
  const metadata: ValidatedAuthMetadata = await createClient({ baseUrl, logger: quiet }).getAuthMetadata();
  const clientId = await OAuth2.registerClient(metadata, {
    client_name: "matrix-js-sdk test peer (new device)", client_uri: "https://example.org/", application_type: "native", redirect_uris: ["http://127.0.0.1:9/callback"],
  });
  const deviceId = randomBytes(8).toString("hex").toUpperCase();
  await flow.deviceAuthorizationGrant({ metadata, clientId, deviceId });
  await step(run, ui, "waiting_for_device");
  const tokens = await flow.completeLoginOnNewDevice({ clientId });
  if (!tokens) throw new Error("no tokens from the device authorization grant");
  const { secrets } = await flow.shareSecrets();
  await step(run, ui, "secrets");
  const who = await createClient({ baseUrl, accessToken: tokens.access_token, logger: quiet }).whoami();
  const client = createClient({ baseUrl, accessToken: tokens.access_token, userId: who.user_id, deviceId, logger: quiet });
  await client.initRustCrypto({ useIndexedDB: false });
  await startAndSync(client);
  const crypto = client.getCrypto()!;
  // Element relies on its device keys being on the server by the time it signs them; here the sync
  // may not have uploaded them yet, so wait until the server lists the device.
  await waitForOwnDevice(client, who.user_id, deviceId);
  if (secrets) {
    await crypto.importSecretsBundle!(secrets);
    // As Element Web does after sign in with QR.
    await crypto.crossSignDevice(deviceId);
  }
  const backup = await crypto.checkKeyBackupAndEnable();
  // What Element would show for this device, from a fresh /keys/query (the signature upload may land a moment later).
  let crossSigned = false;
  for (const deadline = Date.now() + 10_000; !crossSigned && Date.now() < deadline; ) {
    await crypto.userHasCrossSigningKeys(who.user_id, true);
    crossSigned = Boolean((await crypto.getDeviceVerificationStatus(who.user_id, deviceId))?.signedByOwner);
    if (!crossSigned) await new Promise((r) => setTimeout(r, 250));
  }
  return { outcome: "success", deviceId, userId: who.user_id, client, backupTrusted: Boolean(backup?.trustInfo.trusted), crossSigned };
}

/** Element Web's new device showing a login QR (signInByGeneratingQR's steps). */
async function newDeviceShowsRun(run: Run, env: NewDeviceEnv, ui: PeerUi): Promise<Outcome> {
  try {
    await initAsync();
    const tempClient = createClient({ baseUrl: env.homeserverUrl, logger: quiet });
    const session = env.fallbackRzServer
      ? new MSC4108RendezvousSession({ fallbackRzServer: env.fallbackRzServer, onFailure: run.onFailure })
      : new MSC4108RendezvousSession({ client: tempClient, onFailure: run.onFailure });
    const channel = new MSC4108SecureChannel(session, undefined, run.onFailure);
    run.flow = new MSC4108SignInWithQR(channel, false, undefined, run.onFailure);
    await session.send("");
    await run.flow.generateCode();
    ui.onQr?.(run.flow.code!);
    await step(run, ui, "qr_shown");
    const { serverName } = await run.flow.negotiateProtocols();
    await step(run, ui, "connected");
    if (!(await confirmTyped(run, ui))) return { outcome: "failed", reason: "check_code_mismatch", failures: run.failures };
    await step(run, ui, "check_code");
    return await finishNewDevice(run, ui, env.resolve(serverName!));
  } catch (err) {
    return failed(run, err);
  }
}

/** A new device scanning a reciprocate QR (its server name names the homeserver). */
async function newDeviceScansRun(run: Run, env: NewDeviceEnv, qr: Uint8Array, ui: PeerUi): Promise<Outcome> {
  try {
    await initAsync();
    const data = QrCodeData.fromBytes(qr);
    if (data.mode !== QrCodeIntent.Reciprocate) return { outcome: "failed", reason: "other_device_not_signed_in", failures: [] };
    const session = new MSC4108RendezvousSession({ url: data.rendezvousUrl!, onFailure: run.onFailure });
    const channel = new MSC4108SecureChannel(session, data.publicKey, run.onFailure);
    run.flow = new MSC4108SignInWithQR(channel, true, undefined, run.onFailure);
    await run.flow.negotiateProtocols();
    ui.onCheckCode?.(run.flow.checkCode!);
    await step(run, ui, "check_code");
    return await finishNewDevice(run, ui, env.resolve(data.serverName!));
  } catch (err) {
    return failed(run, err);
  }
}

async function waitForOwnDevice(client: MatrixClient, userId: string, deviceId: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const devices = await client.getCrypto()!.getUserDeviceInfo([userId], true);
    if (devices.get(userId)?.has(deviceId)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`device ${deviceId} did not show up in /keys/query`);
}

// ---- the existing device's own client ----------------------------------------------------------------

async function startAndSync(client: MatrixClient): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("first sync did not complete")), 15_000);
    const onSync = (state: SyncState): void => {
      if (state === SyncState.Prepared || state === SyncState.Syncing) {
        clearTimeout(timer);
        client.off(ClientEvent.Sync, onSync);
        resolve();
      }
    };
    client.on(ClientEvent.Sync, onSync);
    void client.startClient({ initialSyncLimit: 1, pollTimeout: 5_000 });
  });
}

/**
 * A signed-in existing device of the account: its own rust-crypto client, holding the account's
 * secrets as Element would after its own sign in with QR (importSecretsBundle + crossSignDevice).
 */
export async function existingDeviceClient(creds: { baseUrl: string; userId: string; deviceId: string; accessToken: string }, secrets: SecretsBundle): Promise<MatrixClient> {
  const client = createClient({ baseUrl: creds.baseUrl, userId: creds.userId, deviceId: creds.deviceId, accessToken: creds.accessToken, logger: quiet });
  await client.initRustCrypto({ useIndexedDB: false });
  await startAndSync(client);
  await waitForOwnDevice(client, creds.userId, creds.deviceId);
  const crypto = client.getCrypto()!;
  await crypto.importSecretsBundle!(secrets);
  await crypto.crossSignDevice(creds.deviceId);
  await crypto.checkKeyBackupAndEnable();
  return client;
}

/** The flow's own end, or the first onFailure (as Element's UI reacts to it), whichever comes first. */
async function settle(run: Run, work: Promise<Outcome>): Promise<PeerResult> {
  const outcome = await Promise.race([work, run.failed.then((reason): Outcome => ({ outcome: "failed", reason, failures: run.failures }))]);
  return { ...outcome, dispose: async () => { await run.flow?.close(); } } as PeerResult;
}

export async function existingDeviceShows(client: MatrixClient, ui: PeerUi, opts: { fallbackRzServer?: string } = {}): Promise<PeerResult> {
  const run = newRun();
  return settle(run, existingDeviceShowsRun(run, client, ui, opts));
}

export async function existingDeviceScans(client: MatrixClient, qr: Uint8Array, ui: PeerUi): Promise<PeerResult> {
  const run = newRun();
  return settle(run, existingDeviceScansRun(run, client, qr, ui));
}

export async function newDeviceShows(env: NewDeviceEnv, ui: PeerUi): Promise<PeerResult> {
  const run = newRun();
  return settle(run, newDeviceShowsRun(run, env, ui));
}

export async function newDeviceScans(env: NewDeviceEnv, qr: Uint8Array, ui: PeerUi): Promise<PeerResult> {
  const run = newRun();
  return settle(run, newDeviceScansRun(run, env, qr, ui));
}
