// Seeding against the full development homeserver (OAuth half + CS API): the demo user's existing device
// gets a cross-signing identity and a key backup from a real matrix-js-sdk client; the written file restores
// that device in a fresh client (exportSecretsBundle works) and a third client sees it cross-signed.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import type { MatrixClient } from "matrix-js-sdk";
import { createMatrixClient, startAndWaitForSync, stopClient } from "../../main/login/matrix/client.js";
import { exportSecrets, importSecretsAndVerify } from "../../main/login/matrix/secrets.js";
import { startDevhome } from "../../server/devhome/index.js";
import type { RunningDevhome } from "../../server/devhome/index.js";
import { seedDemoAccount, SeedError } from "../../main/devstack/seed.js";
import { readAccountSessionFile } from "../../main/login/account/account-session.js";

let dh: RunningDevhome;
let dir: string;
const clients: MatrixClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "qr-seed-"));
  dh = await startDevhome({ port: 0, seed: true });
});
afterAll(async () => {
  for (const c of clients) stopClient(c);
  await dh.close();
  rmSync(dir, { recursive: true, force: true });
});

test("seed, restore in a fresh client, re-seed reuses the identity, reset only when approved", async () => {
  const userId = dh.demo!.userId;
  const outFile = path.join(dir, "existing-device.json");
  const seeded = await seedDemoAccount({ auth: dh.auth, baseUrl: dh.baseUrl, userId, outFile });
  expect(statSync(outFile).mode & 0o777).toBe(0o600);
  const file = readAccountSessionFile(outFile);
  expect(file).toEqual(seeded);
  expect(file.secrets.backup?.backup_version).toBe("1");

  // The existing-device role's restore: fresh client, import before the first upload, start.
  const restored = await createMatrixClient({ homeserverUrl: file.homeserverUrl, userId, deviceId: file.deviceId, accessToken: file.accessToken });
  clients.push(restored);
  expect(await importSecretsAndVerify(restored, file.secrets)).toEqual({ crossSigned: true, backup: true, backupVersion: "1" });
  expect(await exportSecrets(restored)).toEqual(file.secrets);

  // A third client of the same user sees the restored device signed by the self-signing key.
  const other = await dh.auth.issueDeviceToken({ userId, deviceId: "OTHERDEVICE1" });
  const observer = await createMatrixClient({ homeserverUrl: dh.baseUrl, userId, deviceId: "OTHERDEVICE1", accessToken: other.access_token });
  clients.push(observer);
  await startAndWaitForSync(observer);
  await observer.getCrypto()!.getUserDeviceInfo([userId], true);
  expect((await observer.getCrypto()!.getDeviceVerificationStatus(userId, file.deviceId))?.signedByOwner).toBe(true);

  // Re-seeding with the file present keeps the identity (new token, same secrets).
  const again = await seedDemoAccount({ auth: dh.auth, baseUrl: dh.baseUrl, userId, outFile });
  expect(again.secrets).toEqual(file.secrets);
  expect(again.accessToken).not.toBe(file.accessToken);

  // Without the file, the server's identity cannot be reused: refused unless a reset is approved.
  writeFileSync(outFile, "{}");
  await expect(seedDemoAccount({ auth: dh.auth, baseUrl: dh.baseUrl, userId, outFile })).rejects.toBeInstanceOf(SeedError);
  const reset = await seedDemoAccount({
    auth: dh.auth,
    baseUrl: dh.baseUrl,
    userId,
    outFile,
    allowCrossSigningReset: (u) => dh.cs.allowCrossSigningReset(u),
  });
  expect(reset.secrets.cross_signing.master_key).not.toBe(file.secrets.cross_signing.master_key);
  expect(reset.secrets.backup?.backup_version).toBe("2");
});
