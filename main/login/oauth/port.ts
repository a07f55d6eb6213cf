// The OAuthPort the sign-in flows depend on (ports.ts), implemented with oauth.ts over fetch.
// Errors are translated to the port's OAuthError kinds; the flows check their AbortSignal themselves.
import * as oauth from "./client.js";
import type { AuthMetadata as FullMetadata, ClientMetadata } from "./client.js";
import type { AuthMetadata, OAuthPort, OAuthTokens, PollResult } from "../flows/ports.js";
import { DEVICE_CODE_GRANT, OAuthError as PortError } from "../flows/ports.js";
import type { OAuthErrorKind } from "../flows/ports.js";

export interface OAuthPortOptions {
  /** What the new device registers as (client_name, client_uri, application_type, ...). Grant types are set here. */
  clientMetadata: ClientMetadata;
  fetch?: typeof fetch;
}

function kindOf(reason: oauth.OAuthErrorReason): OAuthErrorKind {
  switch (reason) {
    case "metadata_unavailable":
    case "metadata_invalid":
      return "oauth_unavailable";
    case "device_grant_unsupported":
    case "registration_unsupported":
    case "registration_failed":
      return reason;
    default:
      return "request_failed";
  }
}

async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof oauth.OAuthError) throw new PortError(kindOf(err.reason), err.message, { cause: err });
    throw err;
  }
}

export function createOAuthPort(opts: OAuthPortOptions): OAuthPort {
  const f = opts.fetch ? { fetch: opts.fetch } : {};
  const withSignal = (signal?: AbortSignal) => ({ ...f, ...(signal ? { signal } : {}) });
  return {
    discoverAuthMetadata: (homeserver, signal) => translated(() => oauth.discoverAuthMetadata(homeserver, withSignal(signal))),
    registerClient: (metadata, signal) =>
      translated(async () => {
        const client = await oauth.registerClient(metadata as FullMetadata, {
          ...opts.clientMetadata,
          // Only the device grant and refresh: the new device never opens a browser (MAS: no redirect_uris needed).
          grant_types: [DEVICE_CODE_GRANT, "refresh_token"],
          response_types: [],
          redirect_uris: [],
        }, withSignal(signal));
        return client.client_id;
      }),
    generateDeviceId: () => oauth.generateDeviceId(),
    requestDeviceAuthorization: ({ metadata, clientId, deviceId, scopes, signal }) =>
      translated(() => oauth.requestDeviceAuthorization(metadata as FullMetadata, clientId, oauth.matrixScopes(deviceId, scopes), withSignal(signal))),
    pollToken: ({ metadata, clientId, authorization, signal }) =>
      translated(async (): Promise<PollResult> => {
        const outcome = await oauth.pollDeviceToken(metadata as FullMetadata, clientId, { ...authorization, interval: authorization.interval ?? 5 }, withSignal(signal));
        if (outcome.kind === "tokens") return { kind: "tokens", tokens: outcome.tokens };
        return { kind: outcome.kind };
      }),
    revokeTokens: ({ metadata, clientId, tokens }: { metadata: AuthMetadata; clientId: string; tokens: OAuthTokens }) =>
      translated(async () => {
        const md = metadata as FullMetadata;
        // The refresh token first: revoking it also ends the access tokens of the same grant on most servers.
        if (tokens.refresh_token) await oauth.revokeToken(md, clientId, tokens.refresh_token, "refresh_token", f);
        await oauth.revokeToken(md, clientId, tokens.access_token, "access_token", f);
      }),
  };
}
