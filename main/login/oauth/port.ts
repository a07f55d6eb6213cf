// The OAuthPort the sign-in flows depend on (flows/ports.ts), over the OAuth client (client.ts,
// poll.ts). The client already speaks the port's types and throws its OAuthError, so this only fixes
// what the new device registers as and which requests it makes; the flows check their AbortSignal
// themselves.
import { DEVICE_CODE_GRANT, matrixScopes } from "../../../contract/oauth.js";
import type { OAuthPort } from "../flows/ports.js";
import { discoverAuthMetadata, generateDeviceId, registerClient, requestDeviceAuthorization, revokeToken, type ClientMetadata } from "./client.js";
import { pollDeviceToken } from "./poll.js";

export interface OAuthPortOptions {
  /** What the new device registers as (client_name, client_uri, application_type, ...). Grant types are set here. */
  clientMetadata: ClientMetadata;
  fetch?: typeof fetch;
}

export function createOAuthPort(opts: OAuthPortOptions): OAuthPort {
  const f = opts.fetch ? { fetch: opts.fetch } : {};
  const withSignal = (signal?: AbortSignal) => ({ ...f, ...(signal ? { signal } : {}) });
  return {
    discoverAuthMetadata: (homeserver, signal) => discoverAuthMetadata(homeserver, withSignal(signal)),
    registerClient: async (metadata, signal) => {
      const client = await registerClient(metadata, {
        ...opts.clientMetadata,
        // Only the device grant and refresh: the new device never opens a browser (MAS: no redirect_uris needed).
        grant_types: [DEVICE_CODE_GRANT, "refresh_token"],
        response_types: [],
        redirect_uris: [],
      }, withSignal(signal));
      return client.client_id;
    },
    generateDeviceId: () => generateDeviceId(),
    requestDeviceAuthorization: ({ metadata, clientId, deviceId, scopes, signal }) =>
      requestDeviceAuthorization(metadata, clientId, matrixScopes(deviceId, scopes), withSignal(signal)),
    pollToken: ({ metadata, clientId, authorization, signal }) => pollDeviceToken(metadata, clientId, authorization, withSignal(signal)),
    revokeTokens: async ({ metadata, clientId, tokens }) => {
      // The refresh token first: revoking it also ends the access tokens of the same grant on most servers.
      if (tokens.refresh_token) await revokeToken(metadata, clientId, tokens.refresh_token, "refresh_token", f);
      await revokeToken(metadata, clientId, tokens.access_token, "access_token", f);
    },
  };
}
