// matrix-js-sdk clients in Node, with the Rust crypto stack and no IndexedDB (state lives in memory for
// the client's lifetime; what must survive is exported as a secrets bundle): made, started, stopped,
// and asked whether a device exists. A client made here also watches its first /keys/upload, so the
// secrets import (secrets.ts) can tell whether our device keys went up already cross-signed.
import * as sdk from "matrix-js-sdk";
import type { CryptoApi } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger as sdkLogger } from "matrix-js-sdk/lib/logger.js";
import type { Logger } from "matrix-js-sdk/lib/logger.js";

export interface MatrixCredentials {
  homeserverUrl: string;
  userId: string;
  deviceId: string;
  accessToken: string;
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
export interface DeviceKeysUpload {
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


/** When the client's device keys first went up, and with which signatures (undefined: not a client made here). */
export function deviceKeysUpload(client: sdk.MatrixClient): Promise<DeviceKeysUpload> | undefined {
  return deviceKeysUploads.get(client);
}

export function cryptoOf(client: sdk.MatrixClient): CryptoApi {
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

/** The client's homeserver base URL, with the trailing slash every base URL here has. */
export function homeserverUrlOf(client: sdk.MatrixClient): string {
  return client.baseUrl.endsWith("/") ? client.baseUrl : `${client.baseUrl}/`;
}

/** Stops syncing and frees the crypto stack. */
export function stopClient(client: sdk.MatrixClient): void {
  client.stopClient();
}
