// What the end-to-end sign-in tests share: a development homeserver with the seeded demo account and
// its cross-signed existing device (a real matrix-js-sdk client with a key backup), the user's browser
// on the consent pages, and a third party's view of the account's devices (/keys/query).
import { expect } from "@jest/globals";
import type { MatrixClient } from "matrix-js-sdk";
import { startDevhome, type RunningDevhome } from "../../server/devhome/index.js";
import { bootstrapCrossSigningAndBackup } from "../../main/devstack/identity.js";
import { createMatrixClient, startAndWaitForSync, stopClient } from "../../main/login/matrix/client.js";
import type { SecretsBundle } from "../../main/login/flows/messages.js";
import { MiniBrowser } from "./mini-browser.js";

export interface E2eStack {
  dh: RunningDevhome;
  /** The seeded account's existing device (cross-signing identity and backup made by it). */
  existing: MatrixClient;
  existingToken: string;
  bundle: SecretsBundle;
  /** Clients to stop at the end (add the ones a test creates). */
  clients: MatrixClient[];
  close(): Promise<void>;
}

export async function startE2eStack(opts: Parameters<typeof startDevhome>[0] = {}, existingDeviceId = "EXISTINGXX"): Promise<E2eStack> {
  const dh = await startDevhome({ port: 0, seed: true, deviceInterval: 1, ...opts });
  const clients: MatrixClient[] = [];
  const userId = dh.demo!.userId;
  const existingToken = (await dh.auth.issueDeviceToken({ userId, deviceId: existingDeviceId, clientName: "existing device" })).access_token;
  const existing = await createMatrixClient({ homeserverUrl: dh.baseUrl, userId, deviceId: existingDeviceId, accessToken: existingToken });
  clients.push(existing);
  await startAndWaitForSync(existing);
  const bundle = (await bootstrapCrossSigningAndBackup(existing)).bundle;
  return {
    dh, existing, existingToken, bundle, clients,
    close: async () => {
      for (const c of clients) stopClient(c);
      await dh.close();
    },
  };
}

/** The user in the browser at the verification URI: approve as the demo account, deny, or walk away. */
export async function consent(uri: string, password: string, decision: "confirm" | "abort" | "none"): Promise<void> {
  if (decision === "none") return;
  const browser = new MiniBrowser();
  const entry = await browser.go(uri);
  const page = await browser.submit(entry, {});
  const next = await browser.submit(page, {}, { button: decision });
  if (decision === "confirm") await browser.submit(next, { username: "alice", password }, { withField: "password" });
}

export interface KeysQuery {
  self_signing_keys: Record<string, { keys: Record<string, string> }>;
  device_keys: Record<string, Record<string, { signatures: Record<string, Record<string, string>> } | undefined>>;
}

export async function rawKeysQuery(baseUrl: string, token: string, userId: string): Promise<KeysQuery> {
  const r = await fetch(new URL("_matrix/client/v3/keys/query", baseUrl), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ device_keys: { [userId]: [] } }),
  });
  expect(r.status).toBe(200);
  return (await r.json()) as KeysQuery;
}

/** A third party's /keys/query: the device's keys carry a signature by the account's self-signing key. */
export async function crossSignedAsOthersSeeIt(stack: E2eStack, deviceId: string): Promise<boolean> {
  const userId = stack.dh.demo!.userId;
  const q = await rawKeysQuery(stack.dh.baseUrl, stack.existingToken, userId);
  const ssk = Object.keys(q.self_signing_keys[userId]?.keys ?? {})[0];
  const device = q.device_keys[userId]?.[deviceId];
  return Boolean(ssk && device && Object.keys(device.signatures[userId] ?? {}).includes(ssk));
}
