// OAuth 2.0 client side of "Sign in with QR". The requests go through oauth4webapi (by the author of
// the oidc-provider our development homeserver runs), which never follows a redirect and talks only
// https unless told otherwise for one request; what stays here is Matrix's part:
// - Matrix auth metadata discovery (spec v1.15 `GET /_matrix/client/v1/auth_metadata`, MSC2965 unstable
//   fallback) validated like matrix-js-sdk's `isValidAuthMetadata`, and every endpoint in it held to
//   the URL policy (url-policy.ts: https, http only to this computer for the development stack);
// - dynamic client registration (RFC 7591) as a public client;
// - the device authorization grant (RFC 8628 / MSC4341) and its polling loop (poll.ts);
// - client-generated device ids (the Matrix scopes are the contract's, contract/oauth.ts);
// - authorization code + PKCE (S256) for signing in the existing device in a browser;
// - refresh and revocation.
// A redirect is never followed: a 307 from a token endpoint would otherwise re-send the refresh token
// (or the device code) to wherever it points.
import * as o from "oauth4webapi";
import { sha256 } from "@noble/hashes/sha2.js";
import { supportsDeviceGrant } from "../../../contract/oauth.js";
import { OAuthError, type AuthMetadata, type DeviceAuthorization, type OAuthTokens } from "../flows/ports.js";
import { transportRefusal } from "../url-policy.js";
import { asServer, jsonBody, libOptions, send, tokensOf, viaLibrary, type FetchOptions } from "./http.js";

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/** The checks matrix-js-sdk applies (`isValidAuthMetadata`); returns the reasons a document fails them. */
export function authMetadataProblems(md: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const key of ["issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint", "registration_endpoint"]) {
    if (typeof md[key] !== "string" || !md[key]) problems.push(`${key} missing`);
  }
  const has = (key: string, values: string[]) => {
    const list = md[key];
    if (!isStringArray(list)) problems.push(`${key} missing`);
    else for (const v of values) if (!list.includes(v)) problems.push(`${key} lacks ${v}`);
  };
  has("response_modes_supported", ["query", "fragment"]);
  has("response_types_supported", ["code"]);
  has("grant_types_supported", ["authorization_code", "refresh_token"]);
  has("code_challenge_methods_supported", ["S256"]);
  if (md.device_authorization_endpoint !== undefined && typeof md.device_authorization_endpoint !== "string") {
    problems.push("device_authorization_endpoint is not a string");
  }
  return problems;
}

const ENDPOINT_KEYS = ["issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint", "registration_endpoint", "device_authorization_endpoint", "account_management_uri"];

/** Endpoints this client would talk to or open that are not https (or http to this computer). */
export function endpointProblems(md: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const key of ENDPOINT_KEYS) {
    const value = md[key];
    if (typeof value !== "string") continue;
    const refusal = transportRefusal(value);
    if (refusal) problems.push(`${key} ${refusal === "not_a_url" ? "is not a URL" : "is not https"}`);
  }
  return problems;
}

function joinUrl(base: string, path: string): string {
  return new URL(path, base.endsWith("/") ? base : `${base}/`).href;
}

/** Fetches and validates the homeserver's OAuth 2.0 server metadata: stable path first, then MSC2965's. */
export async function discoverAuthMetadata(homeserverUrl: string, opts: FetchOptions = {}): Promise<AuthMetadata> {
  const refusal = transportRefusal(homeserverUrl);
  if (refusal) throw new OAuthError("insecure_url", `refusing to discover OAuth 2.0 at ${homeserverUrl}: ${refusal === "not_a_url" ? "not a URL" : "only https (http only to this computer) is used"}`);
  const paths = ["_matrix/client/v1/auth_metadata", "_matrix/client/unstable/org.matrix.msc2965/auth_metadata"];
  let last = "";
  for (const path of paths) {
    const response = await send(joinUrl(homeserverUrl, path), { headers: { Accept: "application/json" } }, opts);
    const body = await jsonBody(response);
    if (response.status === 200 && body) {
      const problems = [...authMetadataProblems(body), ...endpointProblems(body)];
      if (problems.length) throw new OAuthError("metadata_invalid", `auth metadata at ${path} is invalid: ${problems.join(", ")}`);
      return body as AuthMetadata;
    }
    last = `${path}: HTTP ${response.status}${typeof body?.errcode === "string" ? ` ${body.errcode}` : ""}`;
    // Only "not here" falls through to the unstable path; a server error (or a redirect, never
    // followed) is an answer.
    if (response.status !== 404 && !(response.status === 400 && body?.errcode === "M_UNRECOGNIZED")) break;
  }
  throw new OAuthError("metadata_unavailable", `the homeserver offers no OAuth 2.0 metadata (${last})`);
}

export interface ClientMetadata {
  client_name?: string;
  client_uri?: string;
  logo_uri?: string;
  tos_uri?: string;
  policy_uri?: string;
  application_type?: "native" | "web";
  redirect_uris?: string[];
  grant_types?: string[];
  response_types?: string[];
  token_endpoint_auth_method?: string;
  [field: string]: unknown;
}

export interface RegisteredClient {
  client_id: string;
  [field: string]: unknown;
}

/** Dynamic client registration as a public client. Requested grant types must be advertised. */
export async function registerClient(md: AuthMetadata, clientMetadata: ClientMetadata, opts: FetchOptions = {}): Promise<RegisteredClient> {
  const grantTypes = clientMetadata.grant_types ?? ["authorization_code", "refresh_token"];
  const unsupported = grantTypes.filter((g) => !md.grant_types_supported.includes(g));
  if (unsupported.length) throw new OAuthError("registration_unsupported", `the server does not support ${unsupported.join(", ")}`);
  const body: ClientMetadata = {
    token_endpoint_auth_method: "none",
    response_types: grantTypes.includes("authorization_code") ? ["code"] : [],
    redirect_uris: [],
    ...clientMetadata,
    grant_types: grantTypes,
  };
  return viaLibrary("registration_failed", "client registration", opts, async () => {
    const response = await o.dynamicClientRegistrationRequest(asServer(md), body as Partial<o.Client>, libOptions(md.registration_endpoint, opts));
    return (await o.processDynamicClientRegistrationResponse(response)) as RegisteredClient;
  });
}

// --- Device ids ---

/** 10 characters of [A-Z] from a CSPRNG: a valid MSC2967 device id, safe in scopes and URLs. */
export function generateDeviceId(length = 10): string {
  const out: string[] = [];
  const buf = new Uint8Array(length * 2);
  while (out.length < length) {
    crypto.getRandomValues(buf);
    // 26 * 9 = 234: bytes at or above are rejected so every letter is equally likely.
    for (const b of buf) if (b < 234 && out.length < length) out.push(String.fromCharCode(65 + (b % 26)));
  }
  return out.join("");
}

// --- Device authorization grant (RFC 8628) ---

export async function requestDeviceAuthorization(
  md: AuthMetadata,
  clientId: string,
  scopes: string | string[],
  opts: FetchOptions = {},
): Promise<DeviceAuthorization> {
  if (!supportsDeviceGrant(md)) throw new OAuthError("device_grant_unsupported", "the server does not offer the device authorization grant");
  const endpoint = md.device_authorization_endpoint!;
  const { json } = await viaLibrary("device_authorization_failed", "device authorization", opts, async () => {
    const params = { scope: Array.isArray(scopes) ? scopes.join(" ") : scopes };
    const response = await o.deviceAuthorizationRequest(asServer(md), { client_id: clientId }, o.None(), params, libOptions(endpoint, opts));
    // oauth4webapi refuses `interval: 0`; RFC 8628 leaves a floor to the client (poll.ts), so a
    // 200 is read here and anything else is left to the library's error handling.
    if (response.status !== 200) await o.processDeviceAuthorizationResponse(asServer(md), { client_id: clientId }, response);
    return { json: await jsonBody(response) };
  });
  const str = (k: string) => (typeof json?.[k] === "string" && json[k] !== "" ? (json[k] as string) : undefined);
  const expiresIn = json?.expires_in;
  const interval = json?.interval;
  if (!str("device_code") || !str("user_code") || !str("verification_uri") || typeof expiresIn !== "number" || expiresIn <= 0
    || (interval !== undefined && (typeof interval !== "number" || interval < 0))
    || (json?.verification_uri_complete !== undefined && !str("verification_uri_complete"))) {
    throw new OAuthError("invalid_response", "malformed device authorization response");
  }
  return {
    device_code: str("device_code")!,
    user_code: str("user_code")!,
    verification_uri: str("verification_uri")!,
    ...(str("verification_uri_complete") ? { verification_uri_complete: str("verification_uri_complete")! } : {}),
    expires_in: expiresIn,
    interval: typeof interval === "number" ? interval : 5,
  };
}

// --- Authorization code + PKCE (RFC 7636), for the existing device signing in with a browser ---

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export interface Pkce {
  verifier: string;
  challenge: string;
  method: "S256";
}

/** A 43-character verifier (32 random bytes) and its S256 challenge. */
export function createPkce(): Pkce {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  return { verifier, challenge: pkceChallenge(verifier), method: "S256" };
}

export function pkceChallenge(verifier: string): string {
  return base64url(sha256(new TextEncoder().encode(verifier)));
}

export function randomState(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(16)));
}

export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  scope: string | string[];
  state: string;
  codeChallenge: string;
  responseMode?: "query" | "fragment";
  prompt?: string;
  loginHint?: string;
}

export function buildAuthorizationUrl(md: AuthMetadata, req: AuthorizationRequest): string {
  const url = new URL(md.authorization_endpoint);
  const params: Record<string, string> = {
    response_type: "code",
    client_id: req.clientId,
    redirect_uri: req.redirectUri,
    scope: Array.isArray(req.scope) ? req.scope.join(" ") : req.scope,
    state: req.state,
    code_challenge: req.codeChallenge,
    code_challenge_method: "S256",
    response_mode: req.responseMode ?? "query",
  };
  if (req.prompt) params.prompt = req.prompt;
  if (req.loginHint) params.login_hint = req.loginHint;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

/** Reads the redirect back: the code, after checking state (and `iss`, RFC 9207, when present). */
export function parseAuthorizationResponse(redirectedTo: string, expectedState: string, md?: AuthMetadata): string {
  const url = new URL(redirectedTo);
  const params = url.searchParams.has("state") || url.searchParams.has("error") ? url.searchParams : new URLSearchParams(url.hash.slice(1));
  if (params.get("state") !== expectedState) throw new OAuthError("state_mismatch", "the authorization response's state does not match");
  // RFC 9207: a server that says it sends `iss` must send its own (a mix-up attack otherwise).
  if (md && (params.has("iss") || md.authorization_response_iss_parameter_supported === true) && params.get("iss") !== md.issuer) {
    throw new OAuthError("authorization_failed", "the authorization response comes from another issuer");
  }
  const error = params.get("error");
  if (error) {
    const description = params.get("error_description");
    throw new OAuthError("authorization_failed", `authorization failed: ${error}${description ? ` (${description})` : ""}`,
      { error, ...(description ? { errorDescription: description } : {}) });
  }
  const code = params.get("code");
  if (!code) throw new OAuthError("invalid_response", "the authorization response has no code");
  return code;
}

export function exchangeAuthorizationCode(
  md: AuthMetadata,
  c: { clientId: string; code: string; redirectUri: string; codeVerifier: string },
  opts: FetchOptions = {},
): Promise<OAuthTokens> {
  const client = { client_id: c.clientId };
  return viaLibrary("token_request_failed", "token request", opts, async () => {
    // state and iss were checked by parseAuthorizationResponse, which gave us the code alone.
    const callback = o.validateAuthResponse({ ...asServer(md), authorization_response_iss_parameter_supported: false }, client, new URLSearchParams({ code: c.code }), o.skipStateCheck);
    const response = await o.authorizationCodeGrantRequest(asServer(md), client, o.None(), callback, c.redirectUri, c.codeVerifier, libOptions(md.token_endpoint, opts));
    return tokensOf(await o.processAuthorizationCodeResponse(asServer(md), client, response));
  });
}

export function refreshAccessToken(md: AuthMetadata, clientId: string, refreshToken: string, opts: FetchOptions = {}): Promise<OAuthTokens> {
  const client = { client_id: clientId };
  return viaLibrary("token_request_failed", "token refresh", opts, async () => {
    const response = await o.refreshTokenGrantRequest(asServer(md), client, o.None(), refreshToken, libOptions(md.token_endpoint, opts));
    return tokensOf(await o.processRefreshTokenResponse(asServer(md), client, response));
  });
}

/** RFC 7009 revocation; the server answers 200 even for unknown tokens. */
export async function revokeToken(
  md: AuthMetadata,
  clientId: string,
  token: string,
  hint?: "access_token" | "refresh_token",
  opts: FetchOptions = {},
): Promise<void> {
  await viaLibrary("token_request_failed", "revocation", opts, async () => {
    const response = await o.revocationRequest(asServer(md), { client_id: clientId }, o.None(), token, {
      ...libOptions(md.revocation_endpoint, opts),
      ...(hint ? { additionalParameters: { token_type_hint: hint } } : {}),
    });
    await o.processRevocationResponse(response);
  });
}
