// The Matrix ports over matrix-js-sdk: the new device's signed-in client (whoami, then the secrets
// import of secrets.ts) and the existing device's signed-in account (export the secrets, ask whether a
// device exists).
import type { MatrixClient } from "matrix-js-sdk";
import type { FetchLike } from "../../protocol/rendezvous.js";
import { createMatrixClient, deviceExists } from "./client.js";
import { exportSecrets, importSecretsAndVerify } from "./secrets.js";
import type { ExistingDeviceMatrixPort, NewDeviceMatrixPort, NewDeviceSession } from "../flows/ports.js";

export interface NewDeviceClientSession extends NewDeviceSession {
  /** The signed-in matrix-js-sdk client (started once the secrets are imported). */
  readonly client: MatrixClient;
  readonly userId: string;
  readonly deviceId: string;
  /** The OAuth client and refresh token, so an app that keeps this session can renew its access token. */
  readonly clientId: string;
  readonly refreshToken?: string;
}

async function whoami(baseUrl: string, accessToken: string, fetchImpl: FetchLike, signal?: AbortSignal): Promise<{ userId: string; deviceId?: string }> {
  const url = new URL("_matrix/client/v3/account/whoami", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  const res = await fetchImpl(url.href, { headers: { authorization: `Bearer ${accessToken}`, accept: "application/json" }, ...(signal ? { signal } : {}) });
  if (!res.ok) throw new Error(`whoami: HTTP ${res.status}`);
  const body = (await res.json()) as { user_id?: unknown; device_id?: unknown };
  if (typeof body.user_id !== "string") throw new Error("whoami: no user_id");
  return typeof body.device_id === "string" ? { userId: body.user_id, deviceId: body.device_id } : { userId: body.user_id };
}

export function createNewDeviceMatrixPort(opts: { fetch?: FetchLike; importTimeoutMs?: number } = {}): NewDeviceMatrixPort<NewDeviceClientSession> {
  const fetchImpl: FetchLike = opts.fetch ?? ((input, init) => fetch(input, init));
  return {
    async createSession({ baseUrl, deviceId, tokens, clientId }) {
      // whoami first: matrix-js-sdk needs the user id, and the flow asks the user to confirm it.
      const who = await whoami(baseUrl, tokens.access_token, fetchImpl);
      // A client that is NOT started: nothing may be uploaded before the secrets are imported.
      const client = await createMatrixClient({ homeserverUrl: baseUrl, userId: who.userId, deviceId, accessToken: tokens.access_token });
      return {
        client,
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
  const userId = client.getSafeUserId();
  return {
    baseUrl: client.baseUrl.endsWith("/") ? client.baseUrl : `${client.baseUrl}/`,
    serverName: userId.slice(userId.indexOf(":") + 1),
    exportSecrets: () => exportSecrets(client),
    deviceExists: (deviceId) => deviceExists(client, deviceId),
  };
}
