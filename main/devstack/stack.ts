// The embedded development stack `npm start` runs: the development homeserver (OAuth + CS API +
// rendezvous on one origin) with the seeded demo account @alice, and alice's signed-in existing device
// (a matrix-js-sdk client with a cross-signing identity and a key backup) for the "Existing device"
// window. Everything listens on 127.0.0.1 only.
import type { MatrixClient } from "matrix-js-sdk";
import { startDevhome, type RunningDevhome } from "../../server/devhome/index.js";
import { createExistingDeviceMatrixPort } from "../login/matrix/port.js";
import { bootstrapCrossSigningAndBackup } from "./identity.js";
import { createMatrixClient, startAndWaitForSync, stopClient } from "../login/matrix/client.js";
import type { ExistingAccount } from "../login/flows/ports.js";

export interface DevStack {
  devhome: RunningDevhome;
  /** Homeserver and rendezvous base URL (same origin). */
  baseUrl: string;
  account: ExistingAccount;
  /** The demo password, for the consent page (printed by main/app/index.ts, never sent to a renderer). */
  password: string;
  close(): Promise<void>;
}

export interface DevStackOptions {
  port?: number;
  dataDir?: string;
  /** Rendezvous long-poll bound in ms (default: the server's, 20 s; 0 = plain polling only). */
  rendezvousLongPollMs?: number;
}

export async function startDevStack(opts: DevStackOptions = {}): Promise<DevStack> {
  const devhome = await startDevhome({
    port: opts.port ?? 0,
    seed: true,
    deviceInterval: 1,
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.rendezvousLongPollMs !== undefined ? { rendezvousLongPollMs: opts.rendezvousLongPollMs } : {}),
  });
  const clients: MatrixClient[] = [];
  try {
    const demo = devhome.demo;
    if (!demo) throw new Error("devhome did not seed the demo account");
    const deviceId = "EXISTINGDEV";
    const { access_token } = await devhome.auth.issueDeviceToken({ userId: demo.userId, deviceId, clientName: "qr-login existing device (dev stack)" });
    const client = await createMatrixClient({ homeserverUrl: devhome.baseUrl, userId: demo.userId, deviceId, accessToken: access_token });
    clients.push(client);
    await startAndWaitForSync(client);
    await bootstrapCrossSigningAndBackup(client);
    return {
      devhome,
      baseUrl: devhome.baseUrl,
      account: { userId: demo.userId, matrix: createExistingDeviceMatrixPort(client), accessToken: access_token },
      password: demo.password,
      close: async () => {
        for (const c of clients) stopClient(c);
        await devhome.close();
      },
    };
  } catch (err) {
    for (const c of clients) stopClient(c);
    await devhome.close();
    throw err;
  }
}
