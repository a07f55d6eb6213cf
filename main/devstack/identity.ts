// A cross-signing identity and a key backup for a development account: what `devstack --seed`, the
// demo and the tests give @alice so that her device can act as an existing device. Never part of a
// sign-in: the QR flow never creates identities.
import { setTimeout as sleep } from "node:timers/promises";
import type * as sdk from "matrix-js-sdk";
import type { CryptoApi } from "matrix-js-sdk/lib/crypto-api/index.js";
import { cryptoOf, MatrixGlueError } from "../login/matrix/client.js";
import { exportSecrets } from "../login/matrix/secrets.js";
import type { SecretsBundle } from "../login/flows/messages.js";

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
 * it, and then disables it ("no key backup present on server") and caches that there is none, which
 * getKeyBackupInfo() returns without asking again; a check whose request failed caches nothing either.
 * That failed CI on a loaded machine (test/integration/key-backup-race.test.ts replays the first case).
 * So each round forces a check — it joins the one in flight, if any, or asks the server anew — and
 * takes the version from its answer; once a check has finished with that version active, any later
 * check started after the version existed, so nothing can disable it.
 * @internal exported for its unit test
 */
export async function settleKeyBackup(
  crypto: Pick<CryptoApi, "getActiveSessionBackupVersion" | "checkKeyBackupAndEnable">,
  rounds = 5,
): Promise<string> {
  let onServer: string | undefined;
  let active: string | null = null;
  for (let round = 0; round < rounds; round++) {
    const check = await crypto.checkKeyBackupAndEnable();
    onServer = check?.backupInfo.version ?? onServer;
    active = await crypto.getActiveSessionBackupVersion();
    if (onServer !== undefined && active === onServer) return active;
    // A check that saw nothing may have met a passing failure (a proxy's 502): give the server a moment.
    if (check === null) await sleep(100 * (round + 1));
  }
  if (onServer === undefined) throw new MatrixGlueError("no_secrets", "the new key backup is not on the server");
  throw new MatrixGlueError("no_secrets", `key backup ${onServer} was not enabled after creating it (active: ${active ?? "none"})`);
}
