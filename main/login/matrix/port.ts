// The Matrix ports over matrix-js-sdk: the new device's signed-in client (whoami, then the secrets
// import of secrets.ts) and the existing device's signed-in account (export the secrets, ask whether a
// device exists).
import type { MatrixClient } from "matrix-js-sdk";
import type { FetchLike } from "../../protocol/rendezvous-http.js";
import { serverNameOf } from "../flows/dialect.js";
import type { ExistingDeviceMatrixPort, NewDeviceMatrixPort, SignedInClient } from "../flows/ports.js";
import { createMatrixClient, deviceExists, homeserverUrlOf } from "./client.js";
import { exportSecrets, importSecretsAndVerify } from "./secrets.js";
import { whoami } from "./whoami.js";

/** The new device's signed-in client over matrix-js-sdk: what an app keeps to go on as that device. */
export interface SignedInMatrixClient extends SignedInClient {
  /** The signed-in matrix-js-sdk client (started once the secrets are imported). */
  readonly client: MatrixClient;
  /** Its homeserver's base URL (with the trailing slash). */
  readonly homeserverUrl: string;
  readonly userId: string;
  readonly deviceId: string;
  /** The OAuth client and refresh token, so an app that keeps this client can renew its access token. */
  readonly clientId: string;
  readonly refreshToken?: string;
}

export function createNewDeviceMatrixPort(opts: { fetch?: FetchLike; importTimeoutMs?: number } = {}): NewDeviceMatrixPort<SignedInMatrixClient> {
  return {
    async createClient({ baseUrl, deviceId, tokens, clientId }) {
      // whoami first: matrix-js-sdk needs the user id, and the flow asks the user to confirm it.
      const who = await whoami(baseUrl, tokens.access_token, opts.fetch ? { fetch: opts.fetch } : {});
      // A client that is NOT started: nothing may be uploaded before the secrets are imported.
      const client = await createMatrixClient({ homeserverUrl: baseUrl, userId: who.userId, deviceId, accessToken: tokens.access_token });
      return {
        client,
        homeserverUrl: homeserverUrlOf(client),
        userId: who.userId,
        deviceId,
        clientId,
        ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
        whoami: async () => who,
        importSecretsAndVerify: async (bundle, progress) => {
          const state = await importSecretsAndVerify(client, bundle, { timeoutMs: opts.importTimeoutMs ?? 10_000, ...(progress?.onStep ? { onStep: progress.onStep } : {}) });
          return { crossSigned: state.crossSigned, backup: state.backup };
        },
      };
    },
  };
}

/** The existing device's port over its signed-in, crypto-enabled client. */
export function createExistingDeviceMatrixPort(client: MatrixClient): ExistingDeviceMatrixPort {
  return {
    baseUrl: homeserverUrlOf(client),
    serverName: serverNameOf(client.getSafeUserId()),
    exportSecrets: () => exportSecrets(client),
    deviceExists: (deviceId) => deviceExists(client, deviceId),
  };
}
