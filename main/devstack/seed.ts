// Demo seeding for the development stack (`qr-login devstack --seed`): gives the demo user a signed-in
// "existing device" holding the private cross-signing keys and the key-backup key, made by a real
// matrix-js-sdk client (Rust crypto) against the development homeserver, and writes it as an account
// session (main/login/account/account-session.ts, mode 0600) that `qr-login existing-device --session
// FILE` loads.
//
// It is a *client* of the homeserver, so it lives in main/ and reuses the matrix-js-sdk glue
// (main/login/matrix/, devstack/identity.ts); the server side only issues the device's token (DevhomeAuth).
import { existsSync } from "node:fs";
import type { DevhomeAuth } from "../../server/devhome/types.js";
import { bootstrapCrossSigningAndBackup } from "./identity.js";
import { createMatrixClient, startAndWaitForSync, stopClient } from "../login/matrix/client.js";
import { publicKeyOfSeed } from "../login/matrix/secrets.js";
import { readAccountSessionFile, ACCOUNT_SESSION_FORMAT, writeAccountSessionFile, type AccountSession } from "../login/account/account-session.js";

export const EXISTING_DEVICE_FILE = "existing-device.json";
/** MSC2967 device id charset, ≥ 10 characters. */
export const DEMO_DEVICE_ID = "DEMOEXISTING";

export interface SeedOptions {
  auth: DevhomeAuth;
  /** The homeserver's base URL as clients reach it. */
  baseUrl: string;
  userId: string;
  /** Where to write the session (e.g. `<dataDir>/existing-device.json`). */
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
export async function seedDemoAccount(o: SeedOptions): Promise<AccountSession> {
  const deviceId = o.deviceId ?? DEMO_DEVICE_ID;
  const homeserverUrl = o.baseUrl.endsWith("/") ? o.baseUrl : `${o.baseUrl}/`;
  const tokens = await o.auth.issueDeviceToken({ userId: o.userId, deviceId, clientName: o.displayName ?? "qr-login demo (existing device)" });
  const write = (secrets: AccountSession["secrets"]): AccountSession => {
    const session: AccountSession = {
      format: ACCOUNT_SESSION_FORMAT,
      homeserverUrl,
      userId: o.userId,
      deviceId,
      accessToken: tokens.access_token,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      secrets,
      createdAt: new Date().toISOString(),
    };
    writeAccountSessionFile(o.outFile, session);
    return session;
  };

  const serverMaster = await serverMasterKey(homeserverUrl, o.userId, tokens.access_token);
  if (serverMaster && existsSync(o.outFile)) {
    try {
      const old = readAccountSessionFile(o.outFile);
      if (old.userId === o.userId && publicKeyOfSeed(old.secrets.cross_signing.master_key) === serverMaster) return write(old.secrets);
    } catch {
      // unreadable or foreign file: create a fresh identity below
    }
  }
  if (serverMaster) {
    if (!o.allowCrossSigningReset) throw new SeedError(`${o.userId} already has a cross-signing identity whose private keys are not in ${o.outFile}`);
    o.allowCrossSigningReset(o.userId);
  }

  const client = await createMatrixClient({ homeserverUrl, userId: o.userId, deviceId, accessToken: tokens.access_token });
  try {
    // Sync first: the crypto stack sends its queued requests (device keys, the own-user /keys/query) after each sync.
    await startAndWaitForSync(client);
    // Let the own-user /keys/query finish before replacing keys: a query answered after the upload would show
    // the old identity, and the crypto stack would then discard the new private keys as not matching it.
    await client.getCrypto()!.userHasCrossSigningKeys(o.userId, true);
    return write((await bootstrapCrossSigningAndBackup(client)).bundle);
  } catch (err) {
    throw err instanceof SeedError ? err : new SeedError("bootstrapping cross-signing and key backup failed", { cause: err });
  } finally {
    stopClient(client);
  }
}
