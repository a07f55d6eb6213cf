// Demo seeding: gives the demo user a signed-in "existing device" that holds the private cross-signing keys
// and the key backup key, created by a real matrix-js-sdk client (Rust crypto) against this homeserver, and
// writes what the app's existing-device role needs to act as that device.
//
// File format (`existing-device.json`, mode 0600; it holds an access token and private keys):
//   {
//     "format": "qr-login.existing-device.v1",
//     "homeserverUrl": "http://127.0.0.1:8008/",   // base URL of the homeserver
//     "userId": "@alice:localhost",
//     "deviceId": "DEMOEXISTING",
//     "accessToken": "…",                          // device-scoped (urn:matrix:client:api:* + device scope)
//     "refreshToken": "…",                         // optional; use it with the OAuth token endpoint when the access token expires
//     "secrets": {                                 // matrix-js-sdk exportSecretsBundle() output (rust SecretsBundle JSON)
//       "cross_signing": { "master_key": "…", "self_signing_key": "…", "user_signing_key": "…" },  // unpadded base64 private keys
//       "backup": { "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "key": "…", "backup_version": "1" }
//     },
//     "createdAt": "2026-…Z"
//   }
// To restore the device for the existing-device role (main/login/session.ts restoreSessionClient): create a
// matrix-js-sdk client with these credentials, initRustCrypto({useIndexedDB:false}) and importSecretsBundle(secrets)
// WITHOUT starting it: the role only needs exportSecretsBundle, /devices and /keys/query, and a started client would
// upload a fresh (unpersisted) Olm account under the stored device id. If a client is started anyway, this server
// accepts the fresh device keys from the device's own token and drops the old one-time keys.
//
// server/ may not import main/ code (ARCHITECTURE.md), so the few matrix-js-sdk calls are made here directly.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import * as sdk from "matrix-js-sdk";
import type { Logger } from "matrix-js-sdk/lib/logger.js";
import type { SecretsBundle } from "../../main/login/messages.js";
import type { DevhomeAuth } from "./types.js";

export const EXISTING_DEVICE_FORMAT = "qr-login.existing-device.v1";
export const EXISTING_DEVICE_FILE = "existing-device.json";
/** MSC2967 device id charset, ≥ 10 characters. */
export const DEMO_DEVICE_ID = "DEMOEXISTING";

export interface ExistingDeviceFile {
  format: typeof EXISTING_DEVICE_FORMAT;
  homeserverUrl: string;
  userId: string;
  deviceId: string;
  accessToken: string;
  refreshToken?: string;
  secrets: SecretsBundle;
  createdAt: string;
}

export interface SeedOptions {
  auth: DevhomeAuth;
  /** The homeserver's base URL as clients reach it. */
  baseUrl: string;
  userId: string;
  /** Where to write the file (e.g. `<dataDir>/existing-device.json`). */
  outFile: string;
  deviceId?: string;
  displayName?: string;
  /** When the user already has a cross-signing identity whose keys we do not hold, approve replacing it. */
  allowCrossSigningReset?: (userId: string) => void;
}

export class SeedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SeedError";
  }
}

// Same symbol as main/login/matrix.ts, so the patch is installed once per process whichever module runs first
// (server/ may not import main/ code, hence the copy).
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
const quiet: Logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quiet };

const b64 = (u: Uint8Array): string => Buffer.from(u).toString("base64").replace(/=+$/, "");

/** Public key of an unpadded-base64 ed25519 private key (a cross-signing seed). */
function publicKeyOf(privateB64: string): string | undefined {
  const seed = Buffer.from(privateB64, "base64");
  return seed.length === 32 ? b64(ed25519.getPublicKey(new Uint8Array(seed))) : undefined;
}

async function serverMasterKey(baseUrl: string, userId: string, token: string): Promise<string | undefined> {
  const r = await fetch(new URL("_matrix/client/v3/keys/query", baseUrl), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ device_keys: { [userId]: [] } }),
  });
  if (!r.ok) throw new SeedError(`keys/query failed: HTTP ${r.status}`);
  const j = (await r.json()) as { master_keys?: Record<string, { keys?: Record<string, string> }> };
  const keys = j.master_keys?.[userId]?.keys;
  return keys ? Object.values(keys)[0] : undefined;
}

/**
 * Creates (or refreshes) the demo user's existing device and writes `outFile`. Re-seeding a kept data directory
 * reuses the identity in an existing file when it still matches the server's; otherwise a new identity and
 * backup are created (replacing an old one needs `allowCrossSigningReset`).
 */
export async function seedDemoAccount(o: SeedOptions): Promise<ExistingDeviceFile> {
  const deviceId = o.deviceId ?? DEMO_DEVICE_ID;
  const homeserverUrl = o.baseUrl.endsWith("/") ? o.baseUrl : `${o.baseUrl}/`;
  const tokens = await o.auth.issueDeviceToken({ userId: o.userId, deviceId, clientName: o.displayName ?? "qr-login demo (existing device)" });
  const write = (secrets: SecretsBundle): ExistingDeviceFile => {
    const file: ExistingDeviceFile = {
      format: EXISTING_DEVICE_FORMAT,
      homeserverUrl,
      userId: o.userId,
      deviceId,
      accessToken: tokens.access_token,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      secrets,
      createdAt: new Date().toISOString(),
    };
    writeExistingDeviceFile(o.outFile, file);
    return file;
  };

  const serverMaster = await serverMasterKey(homeserverUrl, o.userId, tokens.access_token);
  if (serverMaster && existsSync(o.outFile)) {
    try {
      const old = readExistingDeviceFile(o.outFile);
      if (old.userId === o.userId && publicKeyOf(old.secrets.cross_signing.master_key) === serverMaster) return write(old.secrets);
    } catch {
      // unreadable or foreign file: create a fresh identity below
    }
  }
  if (serverMaster) {
    if (!o.allowCrossSigningReset) throw new SeedError(`${o.userId} already has a cross-signing identity whose private keys are not in ${o.outFile}`);
    o.allowCrossSigningReset(o.userId);
  }

  unrefMatrixRequestTimers();
  const client = sdk.createClient({ baseUrl: homeserverUrl.replace(/\/$/, ""), userId: o.userId, deviceId, accessToken: tokens.access_token, logger: quiet });
  try {
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto()!;
    // Sync first: the crypto stack sends its queued requests (device keys, the own-user /keys/query) after each
    // sync. Without them, resetKeyBackup's "share the backup key with my verified devices" step waits 5 s for
    // a device-list query that never goes out.
    await firstSync(client);
    // Let the own-user /keys/query finish before replacing keys: a query answered after the upload would show
    // the old identity, and the crypto stack would then discard the new private keys as not matching it.
    await crypto.userHasCrossSigningKeys(o.userId, true);
    // Uploads the device keys, the three cross-signing keys (no UIA for a first identity, or after the
    // approval above) and the device's signature on the master key.
    await crypto.bootstrapCrossSigning({
      setupNewCrossSigning: true,
      authUploadDeviceSigningKeys: async (makeRequest: (auth: null) => Promise<unknown>) => {
        await makeRequest(null);
      },
    });
    await crypto.resetKeyBackup();
    const secrets = (await crypto.exportSecretsBundle!()) as SecretsBundle;
    if (!secrets.backup) throw new SeedError("the new key backup's key is missing from the secrets bundle");
    return write(secrets);
  } catch (err) {
    throw err instanceof SeedError ? err : new SeedError("bootstrapping cross-signing and key backup failed", { cause: err });
  } finally {
    client.stopClient();
  }
}

async function firstSync(client: sdk.MatrixClient, timeoutMs = 15_000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(sdk.ClientEvent.Sync, onSync);
      reject(new SeedError("the seeding client's first sync did not complete"));
    }, timeoutMs);
    const onSync = (state: sdk.SyncState): void => {
      if (state !== sdk.SyncState.Prepared && state !== sdk.SyncState.Syncing) return;
      clearTimeout(timer);
      client.off(sdk.ClientEvent.Sync, onSync);
      resolve();
    };
    client.on(sdk.ClientEvent.Sync, onSync);
    client.startClient({ initialSyncLimit: 1, pollTimeout: 5_000 }).catch((err: unknown) => {
      clearTimeout(timer);
      reject(new SeedError("the seeding client could not start", { cause: err }));
    });
  });
}

/** Writes atomically with mode 0600 (a rename replaces an older file whatever its mode was). */
export function writeExistingDeviceFile(file: string, content: ExistingDeviceFile): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Reads and checks the file's shape (not whether the token is still valid). */
export function readExistingDeviceFile(file: string): ExistingDeviceFile {
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new SeedError(`cannot read ${file}`, { cause: err });
  }
  const f = j as Partial<ExistingDeviceFile> | null;
  const cs = f?.secrets?.cross_signing;
  if (
    !f ||
    f.format !== EXISTING_DEVICE_FORMAT ||
    typeof f.homeserverUrl !== "string" ||
    typeof f.userId !== "string" ||
    typeof f.deviceId !== "string" ||
    typeof f.accessToken !== "string" ||
    !cs ||
    typeof cs.master_key !== "string" ||
    typeof cs.self_signing_key !== "string" ||
    typeof cs.user_signing_key !== "string"
  ) {
    throw new SeedError(`${file} is not a ${EXISTING_DEVICE_FORMAT} file`);
  }
  return f as ExistingDeviceFile;
}
