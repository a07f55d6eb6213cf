// matrix-js-sdk glue for the sign-in flow, in Node with the Rust crypto stack (no IndexedDB: state lives
// in memory for the client's lifetime; what must survive is exported as a secrets bundle).
//  - existing device: exportSecrets() — the MSC4108 m.login.secrets payload comes from exportSecretsBundle.
//  - new device: importSecretsAndVerify() — imports the bundle BEFORE the first /keys/upload, so the device
//    keys go up already signed by the self-signing key in one request (MSC4108's single-request rule,
//    docs/architecture.md "The secrets step"), then connects to the key backup and reports what a
//    third party would see.
//  - fixtures: bootstrapCrossSigningAndBackup() creates an identity and a backup (seeding only; the QR flow
//    never creates identities).
import { setTimeout as sleep } from "node:timers/promises";
import * as sdk from "matrix-js-sdk";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { CryptoApi } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger as sdkLogger } from "matrix-js-sdk/lib/logger.js";
import type { Logger } from "matrix-js-sdk/lib/logger.js";
import type { SecretsBundle } from "./messages.js";
import type { SecretsStepListener } from "./ports.js";

export type { SecretsBundle } from "./messages.js";

export interface MatrixCredentials {
  homeserverUrl: string;
  userId: string;
  deviceId: string;
  accessToken: string;
}

export interface VerifiedState {
  /** Our device is signed by our self-signing key, checked by the crypto stack against a fresh /keys/query. */
  crossSigned: boolean;
  /** A server-side key backup exists, is trusted, matches our decryption key, and is enabled. */
  backup: boolean;
  backupVersion: string | null;
}

export class MatrixGlueError extends Error {
  constructor(
    readonly reason: "no_crypto" | "no_secrets" | "import_failed" | "timeout" | "http",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "MatrixGlueError";
  }
}

const UNREF_MARK = Symbol.for("qr-login.unref-matrix-request-timers");

/**
 * matrix-js-sdk arms a 50–85 s timer per HTTP request (its AbortSignal.timeout ponyfill, http-api/utils
 * `timeoutSignal`) and never clears it, so a process that used a client stays alive that long after the
 * client stopped (Ctrl-C on a CLI hangs ~85 s). Those timers only abort requests; they must not keep the
 * process alive. Installed once: any timer of 30 s or more created from matrix-js-sdk code is unref'd.
 * Shorter timers (retries, sleeps a flow awaits) are left alone.
 */
function unrefMatrixRequestTimers(): void {
  const g = globalThis as typeof globalThis & { [UNREF_MARK]?: true };
  if (g[UNREF_MARK]) return;
  g[UNREF_MARK] = true;
  const original = g.setTimeout;
  const patched = ((handler: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const t = original(handler, ms, ...args);
    if (typeof ms === "number" && ms >= 30_000 && new Error().stack?.includes("matrix-js-sdk")) t.unref();
    return t;
  }) as typeof setTimeout;
  g.setTimeout = Object.assign(patched, original);
}

const noop = (): void => {};
/** A logger that drops matrix-js-sdk's chatter unless QR_LOGIN_MATRIX_DEBUG is set. */
export function quietLogger(): Logger {
  if (process.env.QR_LOGIN_MATRIX_DEBUG) return sdkLogger;
  const l: Logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => l };
  return l;
}

export interface CreateClientOptions {
  /** Called when the crypto stack needs a secret-storage key (only for bootstrapping with a recovery key). */
  getSecretStorageKey?: (keyIds: string[]) => [string, Uint8Array<ArrayBuffer>] | null;
  logger?: Logger;
}

/** The first successful /keys/upload that carried our device keys, as it went over the wire. */
interface DeviceKeysUpload {
  /** Key ids of the signatures by our user on our device keys (`ed25519:<device>`, `ed25519:<ssk>`). */
  signatureKeyIds: string[];
}

/** Per client: resolves when its device keys went up (see watchDeviceKeysUpload). */
const deviceKeysUploads = new WeakMap<sdk.MatrixClient, Promise<DeviceKeysUpload>>();

/**
 * A fetch that reports the first successful /keys/upload carrying `device_keys`. The crypto stack
 * uploads the device keys once; watching the request itself is the only way to tell whether the
 * self-signing signature travelled in that same request (MSC4108's single-request rule) rather than
 * in a later /keys/signatures/upload.
 */
function watchDeviceKeysUpload(userId: string): { fetchFn: typeof globalThis.fetch; uploaded: Promise<DeviceKeysUpload> } {
  let report: (u: DeviceKeysUpload) => void = noop;
  const uploaded = new Promise<DeviceKeysUpload>((resolve) => (report = resolve));
  let seen = false;
  const fetchFn: typeof globalThis.fetch = async (input, init) => {
    // Looked up per call, so a fetch replaced later (tests) is still the one used.
    const res = await globalThis.fetch(input, init);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!seen && res.ok && init?.method === "POST" && /\/keys\/upload(\?|$)/.test(url) && typeof init.body === "string") {
      const signatures = deviceKeySignatures(init.body, userId);
      if (signatures) {
        seen = true;
        report({ signatureKeyIds: signatures });
      }
    }
    return res;
  };
  return { fetchFn, uploaded };
}

function deviceKeySignatures(body: string, userId: string): string[] | null {
  try {
    const parsed = JSON.parse(body) as { device_keys?: { signatures?: Record<string, Record<string, unknown>> } };
    if (!parsed.device_keys) return null;
    return Object.keys(parsed.device_keys.signatures?.[userId] ?? {});
  } catch {
    return null;
  }
}

/** A client with Rust crypto initialised but not started: nothing has been uploaded yet. */
export async function createMatrixClient(creds: MatrixCredentials, opts: CreateClientOptions = {}): Promise<sdk.MatrixClient> {
  const getKey = opts.getSecretStorageKey;
  unrefMatrixRequestTimers();
  const watch = watchDeviceKeysUpload(creds.userId);
  const client = sdk.createClient({
    fetchFn: watch.fetchFn,
    baseUrl: creds.homeserverUrl.replace(/\/+$/, ""),
    userId: creds.userId,
    deviceId: creds.deviceId,
    accessToken: creds.accessToken,
    logger: opts.logger ?? quietLogger(),
    ...(getKey
      ? { cryptoCallbacks: { getSecretStorageKey: async ({ keys }: { keys: Record<string, unknown> }) => getKey(Object.keys(keys)) } }
      : {}),
  });
  await client.initRustCrypto({ useIndexedDB: false });
  deviceKeysUploads.set(client, watch.uploaded);
  return client;
}

function cryptoOf(client: sdk.MatrixClient): CryptoApi {
  const crypto = client.getCrypto();
  if (!crypto) throw new MatrixGlueError("no_crypto", "the client has no crypto stack (call initRustCrypto first)");
  return crypto;
}

/** Starts syncing and resolves after the first successful sync (the crypto stack then sends its requests). */
export async function startAndWaitForSync(client: sdk.MatrixClient, timeoutMs = 15_000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(sdk.ClientEvent.Sync, onSync);
      reject(new MatrixGlueError("timeout", "first sync did not complete"));
    }, timeoutMs);
    const onSync = (state: sdk.SyncState): void => {
      if (state === sdk.SyncState.Prepared || state === sdk.SyncState.Syncing) {
        clearTimeout(timer);
        client.off(sdk.ClientEvent.Sync, onSync);
        resolve();
      }
    };
    client.on(sdk.ClientEvent.Sync, onSync);
    // Short long-polls keep shutdown quick; the flow never waits on room traffic.
    void client.startClient({ initialSyncLimit: 1, pollTimeout: 5_000 }).catch((err: unknown) => {
      clearTimeout(timer);
      reject(new MatrixGlueError("http", "startClient failed", { cause: err }));
    });
  });
}

export interface BootstrapResult {
  bundle: SecretsBundle;
  backupVersion: string;
  /** Base58 recovery key when secret storage was set up (`withSecretStorage`). */
  recoveryKey?: string;
}

/**
 * Fixture only (call it on a started client: see startAndWaitForSync — otherwise resetKeyBackup waits 5 s for a
 * device-list query that only the sync loop sends): creates a new cross-signing identity (no UIA: the user has none yet) and a new key backup,
 * keeping the private keys in the client's crypto store so exportSecrets() works. With `withSecretStorage`
 * the keys are also stored in secret storage (account data) under a fresh recovery key.
 */
export async function bootstrapCrossSigningAndBackup(
  client: sdk.MatrixClient,
  opts: { withSecretStorage?: boolean; recoveryKeyHolder?: { key?: Uint8Array<ArrayBuffer>; keyId?: string } } = {},
): Promise<BootstrapResult> {
  const crypto = cryptoOf(client);
  await crypto.bootstrapCrossSigning({
    setupNewCrossSigning: true,
    // Only a first identity is created here; the server accepts that without UIA, so no auth dict.
    authUploadDeviceSigningKeys: async (makeRequest: (authDict: null) => Promise<unknown>) => {
      await makeRequest(null);
    },
  });
  let recoveryKey: string | undefined;
  if (opts.withSecretStorage) {
    const holder = opts.recoveryKeyHolder;
    if (!holder) throw new MatrixGlueError("no_secrets", "withSecretStorage needs a recoveryKeyHolder shared with getSecretStorageKey");
    await crypto.bootstrapSecretStorage({
      setupNewSecretStorage: true,
      setupNewKeyBackup: true,
      createSecretStorageKey: async () => {
        const k = await crypto.createRecoveryKeyFromPassphrase();
        holder.key = k.privateKey as Uint8Array<ArrayBuffer>;
        recoveryKey = k.encodedPrivateKey;
        return k;
      },
    });
  } else {
    await crypto.resetKeyBackup();
  }
  const backupVersion = await settleKeyBackup(crypto);
  const bundle = await exportSecrets(client);
  if (!bundle.backup) throw new MatrixGlueError("no_secrets", "the new backup key is missing from the secrets bundle");
  return { bundle, backupVersion, ...(recoveryKey ? { recoveryKey } : {}) };
}

/**
 * Waits until the backup just created is the active one, with no older check left to undo it.
 * matrix-js-sdk re-checks the backup in the background whenever our own identity changes; a check that
 * read GET /room_keys/version before the new version existed can finish after resetKeyBackup() enabled
 * it, and then disables it ("no key backup present on server"). That once failed CI on a loaded machine
 * (test/integration/key-backup-race.test.ts replays it). A forced check joins the one in flight, if any,
 * or starts a fresh one; once a check has finished with the new version active, any later check started
 * after the version existed, so nothing can disable it.
 */
async function settleKeyBackup(
  crypto: Pick<CryptoApi, "getKeyBackupInfo" | "getActiveSessionBackupVersion" | "checkKeyBackupAndEnable">,
  rounds = 5,
): Promise<string> {
  const onServer = (await crypto.getKeyBackupInfo())?.version;
  if (!onServer) throw new MatrixGlueError("no_secrets", "the new key backup is not on the server");
  let active: string | null = null;
  for (let round = 0; round < rounds; round++) {
    await crypto.checkKeyBackupAndEnable();
    active = await crypto.getActiveSessionBackupVersion();
    if (active === onServer) return active;
  }
  throw new MatrixGlueError("no_secrets", `key backup ${onServer} was not enabled after creating it (active: ${active ?? "none"})`);
}

/** The secrets bundle (private cross-signing keys, and the backup key with its version when cached). */
export async function exportSecrets(client: sdk.MatrixClient): Promise<SecretsBundle> {
  const crypto = cryptoOf(client);
  if (!crypto.exportSecretsBundle) throw new MatrixGlueError("no_crypto", "this crypto stack cannot export a secrets bundle");
  try {
    return (await crypto.exportSecretsBundle()) as SecretsBundle;
  } catch (err) {
    // rust: "The store doesn't contain any cross-signing keys" (or only some of them).
    throw new MatrixGlueError("no_secrets", "the private cross-signing keys are not available on this device", { cause: err });
  }
}

/** Structural check of a received bundle, before handing it to the crypto stack. */
export function isSecretsBundle(v: unknown): v is SecretsBundle {
  if (typeof v !== "object" || v === null) return false;
  const b = v as Record<string, unknown>;
  const cs = b.cross_signing as Record<string, unknown> | undefined;
  if (typeof cs !== "object" || cs === null) return false;
  if (!["master_key", "self_signing_key", "user_signing_key"].every((k) => typeof cs[k] === "string")) return false;
  if (b.backup === undefined) return true;
  const bk = b.backup as Record<string, unknown> | null;
  return typeof bk === "object" && bk !== null && typeof bk.algorithm === "string" && typeof bk.key === "string" && typeof bk.backup_version === "string";
}

/**
 * New device: import the bundle into a client that has NOT been started (so nothing was uploaded yet), start
 * it — the first /keys/upload then carries the self-signing signature — and wait until the crypto stack,
 * from a fresh /keys/query, sees our device cross-signed and the backup trusted and enabled.
 * `onStep` hears each step as its work completes, in the order of ports.ts SECRETS_STEP_NAMES.
 */
export async function importSecretsAndVerify(
  client: sdk.MatrixClient,
  bundle: SecretsBundle,
  opts: { timeoutMs?: number; start?: boolean; onStep?: SecretsStepListener } = {},
): Promise<VerifiedState> {
  const crypto = cryptoOf(client);
  const onStep = opts.onStep ?? noop;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  if (!crypto.importSecretsBundle) throw new MatrixGlueError("no_crypto", "this crypto stack cannot import a secrets bundle");
  if (!isSecretsBundle(bundle)) throw new MatrixGlueError("import_failed", "malformed secrets bundle");
  // Check before importing: an import marks the keys as ours and trusted, so a bundle whose keys are
  // not the account's published ones (a peer that lies, or a stale bundle) must never get that far.
  const mismatched = await mismatchedCrossSigningKeys(client, bundle);
  if (mismatched.length > 0) {
    onStep("cross_signing_keys", "failed");
    throw new MatrixGlueError("import_failed", `${mismatched.join(", ")} ${mismatched.length === 1 ? "does" : "do"} not match the account's published cross-signing keys: no secret was imported`);
  }
  try {
    await crypto.importSecretsBundle(bundle);
  } catch (err) {
    throw new MatrixGlueError("import_failed", "the crypto stack rejected the secrets bundle", { cause: err });
  }
  // Read the keys back from the crypto store, not through getCrossSigningStatus(): that first asks
  // crypto-wasm for our own identity (OlmMachine.getIdentity), which waits up to 1 s for the pending
  // /keys/query of our user — and a client that is not started yet never sends it, so every import
  // paid the full second. The export is a store read, and it checks more: the very keys we were sent.
  const held = await heldSecrets(crypto);
  onStep("cross_signing_keys", held && sameCrossSigningKeys(held, bundle) ? "done" : "failed");
  onStep("backup_key", held && sameBackupKey(held, bundle) ? "done" : "failed");

  const upload = deviceKeysUploads.get(client);
  if (opts.start ?? true) await startAndWaitForSync(client);
  const sent = upload ? await beforeDeadline(upload, deadline) : null;
  let state: VerifiedState;
  if (sent) {
    // Signed = the device keys went up carrying the signature of the bundle's self-signing key.
    const signed = sent.signatureKeyIds.includes(`ed25519:${selfSigningPublicKey(bundle)}`);
    onStep("device_signed", signed ? "done" : "failed");
    onStep("keys_uploaded", signed ? "done" : "failed");
    state = await waitForVerifiedState(client, Math.max(0, deadline - Date.now()));
  } else {
    // Not seen on the wire (a client made elsewhere, or no upload in time): what the server shows.
    state = await waitForVerifiedState(client, Math.max(0, deadline - Date.now()));
    onStep("device_signed", state.crossSigned ? "done" : "failed");
    onStep("keys_uploaded", state.crossSigned ? "done" : "failed");
  }
  onStep("backup_connected", state.backup ? "done" : "failed");
  return state;
}

const CROSS_SIGNING_KEYS = [
  ["master_key", "master_keys"],
  ["self_signing_key", "self_signing_keys"],
  ["user_signing_key", "user_signing_keys"],
] as const;

/** The public half of an Ed25519 cross-signing key given as the base64 of its 32-byte seed (unpadded base64). */
export function crossSigningPublicKey(seedBase64: string): string | null {
  const seed = Buffer.from(seedBase64, "base64");
  if (seed.length !== 32) return null;
  return Buffer.from(ed25519.getPublicKey(seed)).toString("base64").replace(/=+$/, "");
}

/** The account's published cross-signing public keys, from a /keys/query of our own user. */
async function publishedCrossSigningKeys(client: sdk.MatrixClient): Promise<Record<(typeof CROSS_SIGNING_KEYS)[number][0], string[]>> {
  const userId = client.getSafeUserId();
  let answer: Record<string, unknown>;
  try {
    answer = (await client.downloadKeysForUsers([userId])) as unknown as Record<string, unknown>;
  } catch (err) {
    throw new MatrixGlueError("http", "POST /keys/query failed: the received secrets cannot be checked", { cause: err });
  }
  const keysOf = (field: string): string[] => {
    const entry = (answer[field] as Record<string, { keys?: Record<string, unknown> }> | undefined)?.[userId];
    return Object.entries(entry?.keys ?? {}).filter(([id, v]) => id.startsWith("ed25519:") && typeof v === "string").map(([, v]) => v as string);
  };
  return { master_key: keysOf("master_keys"), self_signing_key: keysOf("self_signing_keys"), user_signing_key: keysOf("user_signing_keys") };
}

/** The bundle's cross-signing keys whose public half is not the one the account publishes (none: all match). */
export async function mismatchedCrossSigningKeys(client: sdk.MatrixClient, bundle: SecretsBundle): Promise<string[]> {
  const published = await publishedCrossSigningKeys(client);
  return CROSS_SIGNING_KEYS.filter(([name]) => {
    const pub = crossSigningPublicKey(bundle.cross_signing[name]);
    return pub === null || !published[name].includes(pub);
  }).map(([name]) => name);
}

/** What the crypto store holds now, as a bundle; null when it lacks a private cross-signing key. */
async function heldSecrets(crypto: CryptoApi): Promise<SecretsBundle | null> {
  try {
    const exported = await crypto.exportSecretsBundle?.();
    return exported ? (exported as SecretsBundle) : null;
  } catch {
    return null; // rust: "The store doesn't contain any cross-signing keys" (or only some)
  }
}

/** Same key bytes (a sender may pad its base64 differently from ours). */
function sameKeyBytes(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const x = Buffer.from(a, "base64");
  return x.length > 0 && x.equals(Buffer.from(b, "base64"));
}

function sameCrossSigningKeys(held: SecretsBundle, sent: SecretsBundle): boolean {
  return (["master_key", "self_signing_key", "user_signing_key"] as const).every((k) => sameKeyBytes(held.cross_signing[k], sent.cross_signing[k]));
}

function sameBackupKey(held: SecretsBundle, sent: SecretsBundle): boolean {
  if (!sent.backup || !held.backup) return false;
  return held.backup.backup_version === sent.backup.backup_version && sameKeyBytes(held.backup.key, sent.backup.key);
}

/** The public half of the bundle's self-signing key (unpadded base64 of the Ed25519 seed's public key). */
function selfSigningPublicKey(bundle: SecretsBundle): string {
  return crossSigningPublicKey(bundle.cross_signing.self_signing_key) ?? "";
}

async function beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T | null> {
  const timer = new AbortController();
  try {
    return await Promise.race([p, sleep(Math.max(0, deadline - Date.now()), null, { signal: timer.signal })]);
  } finally {
    timer.abort(); // the sleep's rejection is the race's, and ignored there
  }
}

/** Polls the crypto stack until our device is cross-signed and the backup enabled, or the time is up. */
export async function waitForVerifiedState(client: sdk.MatrixClient, timeoutMs: number): Promise<VerifiedState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await verifiedState(client);
    if ((state.crossSigned && state.backup) || Date.now() >= deadline) return state;
    await sleep(250);
  }
}

export async function verifiedState(client: sdk.MatrixClient): Promise<VerifiedState> {
  const crypto = cryptoOf(client);
  const userId = client.getSafeUserId();
  const deviceId = client.getDeviceId();
  // Force a /keys/query so the answer reflects what the server holds, not only local state.
  await crypto.userHasCrossSigningKeys(userId, true);
  const status = deviceId ? await crypto.getDeviceVerificationStatus(userId, deviceId) : null;
  let backupVersion = await crypto.getActiveSessionBackupVersion();
  let backup = false;
  if (backupVersion === null) {
    const check = await crypto.checkKeyBackupAndEnable();
    backup = Boolean(check?.trustInfo.trusted && check.trustInfo.matchesDecryptionKey);
    backupVersion = backup ? (await crypto.getActiveSessionBackupVersion()) : null;
    backup = backup && backupVersion !== null;
  } else {
    const info = await crypto.getKeyBackupInfo();
    const trust = info ? await crypto.isKeyBackupTrusted(info) : null;
    backup = Boolean(trust?.trusted && trust.matchesDecryptionKey);
  }
  return { crossSigned: Boolean(status?.signedByOwner), backup, backupVersion };
}

/** `GET /_matrix/client/v3/devices/{deviceId}`: true on 200, false on 404, throws otherwise. */
export async function deviceExists(client: sdk.MatrixClient, deviceId: string): Promise<boolean> {
  try {
    await client.getDevice(deviceId);
    return true;
  } catch (err) {
    if (err instanceof sdk.MatrixError && err.httpStatus === 404) return false;
    throw new MatrixGlueError("http", `GET /devices/${deviceId} failed`, { cause: err });
  }
}

/** Stops syncing and frees the crypto stack. */
export function stopClient(client: sdk.MatrixClient): void {
  client.stopClient();
}
