// The secrets of MSC4108 in matrix-js-sdk's crypto stack:
//  - existing device: exportSecrets() — the m.login.secrets payload comes from exportSecretsBundle;
//  - new device: importSecretsAndVerify() — checks the bundle against the account's published
//    cross-signing keys, imports it BEFORE the first /keys/upload, so the device keys go up already
//    signed by the self-signing key in one request (MSC4108's single-request rule, docs/architecture.md
//    "The secrets step"), then connects to the key backup and reports what a third party would see.
import { setTimeout as sleep } from "node:timers/promises";
import type * as sdk from "matrix-js-sdk";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { CryptoApi } from "matrix-js-sdk/lib/crypto-api/index.js";
import { parseSecretsBundle, type SecretsBundle } from "../flows/messages.js";
import type { SecretsStepListener } from "../flows/ports.js";
import { cryptoOf, deviceKeysUpload, MatrixGlueError, startAndWaitForSync } from "./client.js";

const noop = (): void => {};

export interface VerifiedState {
  /** Our device is signed by our self-signing key, checked by the crypto stack against a fresh /keys/query. */
  crossSigned: boolean;
  /** A server-side key backup exists, is trusted, matches our decryption key, and is enabled. */
  backup: boolean;
  backupVersion: string | null;
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

/**
 * New device: import the bundle into a client that has NOT been started (so nothing was uploaded yet), start
 * it — the first /keys/upload then carries the self-signing signature — and wait until the crypto stack,
 * from a fresh /keys/query, sees our device cross-signed and the backup trusted and enabled.
 * `onStep` hears each step as its work completes, in the order of the contract's SECRETS_STEPS.
 */
export async function importSecretsAndVerify(
  client: sdk.MatrixClient,
  received: SecretsBundle,
  opts: { timeoutMs?: number; start?: boolean; onStep?: SecretsStepListener } = {},
): Promise<VerifiedState> {
  const crypto = cryptoOf(client);
  const onStep = opts.onStep ?? noop;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  if (!crypto.importSecretsBundle) throw new MatrixGlueError("no_crypto", "this crypto stack cannot import a secrets bundle");
  let bundle: SecretsBundle;
  try {
    bundle = parseSecretsBundle(received, "secrets bundle");
  } catch (err) {
    throw new MatrixGlueError("import_failed", `malformed secrets bundle: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
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

  const upload = deviceKeysUpload(client);
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
export function publicKeyOfSeed(seedBase64: string): string | null {
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
    const pub = publicKeyOfSeed(bundle.cross_signing[name]);
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
  return publicKeyOfSeed(bundle.cross_signing.self_signing_key) ?? "";
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
