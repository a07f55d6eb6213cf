// Replays a race inside matrix-js-sdk that once failed CI: a background key-backup check (the SDK starts
// one whenever our own identity changes) asks GET /room_keys/version before the new backup exists and
// learns the answer only after resetKeyBackup() has enabled the new backup, so it disables it again.
// The proxy makes that timing certain: when the client POSTs the new backup version, a check is started,
// its 404 is computed by the server before the POST goes through and is delivered after the POST's answer.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import type { MatrixClient } from "matrix-js-sdk";
import { startDevhome, type RunningDevhome } from "../../server/devhome/index.js";
import { bootstrapCrossSigningAndBackup } from "../../main/devstack/identity.js";
import { createMatrixClient, startAndWaitForSync, stopClient } from "../../main/login/matrix/client.js";
import { startHookProxy, type HookProxy } from "../support/hook-proxy.js";

const VERSION_PATH = "/_matrix/client/v3/room_keys/version";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dh: RunningDevhome;
let proxy: HookProxy;
let client: MatrixClient;

/** What the proxy saw of the race, so the test knows it really happened. */
const race = { staleHeld: 0, staleDelivered: false };
let postAnswered: () => void = () => undefined;
const postAnsweredP = new Promise<void>((r) => (postAnswered = r));
let staleAnswered: () => void = () => undefined;
const staleAnsweredP = new Promise<void>((r) => (staleAnswered = r));
let postSeen = false;
let staleComputed: () => void = () => undefined;
const staleComputedP = new Promise<void>((r) => (staleComputed = r));

beforeAll(async () => {
  dh = await startDevhome({ port: 0, seed: true });
  proxy = await startHookProxy(dh.baseUrl, {
    async beforeForward(req) {
      if (req.method === "POST" && req.path === VERSION_PATH && !postSeen) {
        postSeen = true;
        // setupKeyBackup() has already waited for checks in flight; start one now, as the SDK's
        // identity-updated callback may, and let its GET reach the server before this POST does.
        void client.getCrypto()!.checkKeyBackupAndEnable();
        await staleComputedP;
      }
    },
    async beforeRespond(req, status) {
      if (req.method === "GET" && req.path === VERSION_PATH && postSeen && !race.staleDelivered && status === 404) {
        race.staleHeld++;
        staleComputed();
        await postAnsweredP;
        await sleep(300);
      }
    },
    responded(req, status) {
      if (req.method === "POST" && req.path === VERSION_PATH) postAnswered();
      if (req.method === "GET" && req.path === VERSION_PATH && race.staleHeld > 0 && status === 404 && !race.staleDelivered) {
        race.staleDelivered = true;
        staleAnswered();
      }
    },
  });
  const userId = dh.demo!.userId;
  const token = (await dh.auth.issueDeviceToken({ userId, deviceId: "RACEDEVICE", clientName: "race" })).access_token;
  client = await createMatrixClient({ homeserverUrl: proxy.url, userId, deviceId: "RACEDEVICE", accessToken: token });
  await startAndWaitForSync(client);
}, 60_000);

afterAll(async () => {
  stopClient(client);
  await proxy.close();
  await dh.close();
});

test("a key-backup check that read the server before the backup existed does not leave the new backup disabled", async () => {
  const { backupVersion } = await bootstrapCrossSigningAndBackup(client);
  expect(race.staleHeld).toBe(1);
  // Whatever bootstrap returned, the stale answer must have been delivered and acted on by now…
  await staleAnsweredP;
  await sleep(200);
  // …and the backup is still the active one.
  expect(await client.getCrypto()!.getActiveSessionBackupVersion()).toBe(backupVersion);
}, 60_000);
