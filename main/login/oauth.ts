// OAuth 2.0 client side of "Sign in with QR", with nothing but fetch:
// - Matrix auth metadata discovery (spec v1.15 `GET /_matrix/client/v1/auth_metadata`, MSC2965 unstable fallback)
//   validated like matrix-js-sdk's `isValidAuthMetadata`;
// - dynamic client registration (RFC 7591);
// - the device authorization grant (RFC 8628 / MSC4341), polling with `interval`, `slow_down` (+5 s),
//   `authorization_pending`, and MAS's 403 variants of the pending/denied/expired errors;
// - Matrix scopes (stable and unstable MSC2967 forms) and client-generated device ids;
// - authorization code + PKCE (S256) for signing in the existing device in a browser;
// - refresh and revocation.
import { sha256 } from "@noble/hashes/sha2.js";

export const DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code";
export const STABLE_SCOPE_PREFIX = "urn:matrix:client:";
export const UNSTABLE_SCOPE_PREFIX = "urn:matrix:org.matrix.msc2967.client:";

export type OAuthErrorReason =
  | "network"
  | "metadata_unavailable"
  | "metadata_invalid"
  | "registration_unsupported"
  | "registration_failed"
  | "device_grant_unsupported"
  | "device_authorization_failed"
  | "token_request_failed"
  | "authorization_failed"
  | "state_mismatch"
  | "invalid_response"
  | "aborted";

/** Every failure of this module, with a machine-readable reason and, when the server said so, its OAuth error. */
export class OAuthError extends Error {
  override readonly name = "OAuthError";
  constructor(
    readonly reason: OAuthErrorReason,
    message: string,
    readonly details: { status?: number; error?: string; errorDescription?: string } = {},
  ) {
    super(message);
  }
}

export interface AuthMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  revocation_endpoint: string;
  registration_endpoint: string;
  device_authorization_endpoint?: string;
  response_types_supported: string[];
  response_modes_supported: string[];
  grant_types_supported: string[];
  code_challenge_methods_supported: string[];
  [field: string]: unknown;
}

export interface FetchOptions {
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

const JSON_HEADERS = { Accept: "application/json" };

async function send(url: string, init: RequestInit, opts: FetchOptions): Promise<Response> {
  try {
    return await (opts.fetch ?? fetch)(url, { ...init, ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (opts.signal?.aborted) throw new OAuthError("aborted", "aborted");
    throw new OAuthError("network", `${init.method ?? "GET"} ${url} failed: ${(err as Error).message}`);
  }
}

async function jsonBody(response: Response): Promise<Record<string, unknown> | null> {
  const text = await response.text();
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function oauthErrorOf(body: Record<string, unknown> | null): { error?: string; errorDescription?: string } {
  return {
    ...(typeof body?.error === "string" ? { error: body.error } : {}),
    ...(typeof body?.error_description === "string" ? { errorDescription: body.error_description } : {}),
  };
}

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

/** True when the server advertises the device authorization grant (MSC4341). */
export function supportsDeviceGrant(md: AuthMetadata): boolean {
  return md.grant_types_supported.includes(DEVICE_CODE_GRANT_TYPE) && typeof md.device_authorization_endpoint === "string";
}

function joinUrl(base: string, path: string): string {
  return new URL(path, base.endsWith("/") ? base : `${base}/`).href;
}

/** Fetches and validates the homeserver's OAuth 2.0 server metadata: stable path first, then MSC2965's. */
export async function discoverAuthMetadata(homeserverUrl: string, opts: FetchOptions = {}): Promise<AuthMetadata> {
  const paths = ["_matrix/client/v1/auth_metadata", "_matrix/client/unstable/org.matrix.msc2965/auth_metadata"];
  let last = "";
  for (const path of paths) {
    const response = await send(joinUrl(homeserverUrl, path), { headers: JSON_HEADERS }, opts);
    const body = await jsonBody(response);
    if (response.status === 200 && body) {
      const problems = authMetadataProblems(body);
      if (problems.length) throw new OAuthError("metadata_invalid", `auth metadata at ${path} is invalid: ${problems.join(", ")}`);
      return body as AuthMetadata;
    }
    last = `${path}: HTTP ${response.status}${typeof body?.errcode === "string" ? ` ${body.errcode}` : ""}`;
    // Only "not here" falls through to the unstable path; a server error is an answer.
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
  const response = await send(md.registration_endpoint, {
    method: "POST",
    headers: { ...JSON_HEADERS, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  }, opts);
  const json = await jsonBody(response);
  if (response.status >= 400) {
    throw new OAuthError("registration_failed", `client registration failed: HTTP ${response.status} ${json?.error ?? ""} ${json?.error_description ?? ""}`.trim(),
      { status: response.status, ...oauthErrorOf(json) });
  }
  if (!json || typeof json.client_id !== "string" || !json.client_id) throw new OAuthError("invalid_response", "registration response has no client_id");
  return json as RegisteredClient;
}

// --- Matrix scopes and device ids ---

export type ScopeFlavour = "stable" | "unstable";

/** `urn:matrix:client:api:* urn:matrix:client:device:<id>` (or the unstable MSC2967 form), plus extra scopes. */
export function matrixScopes(deviceId: string, flavour: ScopeFlavour = "stable", extra: string[] = []): string[] {
  const prefix = flavour === "stable" ? STABLE_SCOPE_PREFIX : UNSTABLE_SCOPE_PREFIX;
  return [...extra, `${prefix}api:*`, `${prefix}device:${deviceId}`];
}

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

export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  /** Seconds between polls; RFC 8628's default 5 when the server omits it. */
  interval: number;
}

export async function requestDeviceAuthorization(
  md: AuthMetadata,
  clientId: string,
  scopes: string | string[],
  opts: FetchOptions = {},
): Promise<DeviceAuthorization> {
  if (!supportsDeviceGrant(md)) throw new OAuthError("device_grant_unsupported", "the server does not offer the device authorization grant");
  const response = await send(md.device_authorization_endpoint!, {
    method: "POST",
    headers: { ...JSON_HEADERS, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: clientId, scope: Array.isArray(scopes) ? scopes.join(" ") : scopes }).toString(),
  }, opts);
  const json = await jsonBody(response);
  if (response.status !== 200) {
    throw new OAuthError("device_authorization_failed", `device authorization failed: HTTP ${response.status} ${json?.error ?? ""}`.trim(),
      { status: response.status, ...oauthErrorOf(json) });
  }
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

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  scope?: string;
  id_token?: string;
  [field: string]: unknown;
}

export type DeviceTokenOutcome =
  | { kind: "tokens"; tokens: TokenResponse }
  | { kind: "denied"; description?: string }
  | { kind: "expired" };

export interface PollOptions extends FetchOptions {
  /** Called on every authorization_pending / slow_down, with the interval now in force (seconds). */
  onPending?: (info: { slowDown: boolean; intervalSeconds: number }) => void;
  /** Injected for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new OAuthError("aborted", "aborted"));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new OAuthError("aborted", "aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function parseTokenResponse(json: Record<string, unknown> | null): TokenResponse {
  if (!json || typeof json.access_token !== "string" || !json.access_token || typeof json.token_type !== "string"
    || json.token_type.toLowerCase() !== "bearer"
    || (json.expires_in !== undefined && typeof json.expires_in !== "number")
    || (json.refresh_token !== undefined && typeof json.refresh_token !== "string")
    || (json.scope !== undefined && typeof json.scope !== "string")) {
    throw new OAuthError("invalid_response", "malformed token response");
  }
  return json as TokenResponse;
}

/**
 * Polls the token endpoint (RFC 8628 §3.4–3.5) until the user approves, denies, or the code expires.
 * The first request goes out at once; then one every `interval` seconds, +5 s after each `slow_down`.
 * MAS answers pending/denied/expired with 403 instead of 400: both are accepted. Transient failures
 * (network, 5xx) are retried at the interval until the code's lifetime ends.
 */
export async function pollDeviceToken(
  md: AuthMetadata,
  clientId: string,
  authorization: DeviceAuthorization,
  opts: PollOptions = {},
): Promise<DeviceTokenOutcome> {
  const sleep = opts.sleep ?? abortableSleep;
  const now = opts.now ?? Date.now;
  const deadline = now() + authorization.expires_in * 1000;
  let intervalSeconds = authorization.interval;
  const body = new URLSearchParams({ grant_type: DEVICE_CODE_GRANT_TYPE, device_code: authorization.device_code, client_id: clientId }).toString();
  for (let first = true; ; first = false) {
    if (!first) await sleep(intervalSeconds * 1000, opts.signal);
    if (opts.signal?.aborted) throw new OAuthError("aborted", "aborted");
    if (now() >= deadline) return { kind: "expired" };
    let response: Response;
    try {
      response = await send(md.token_endpoint, {
        method: "POST",
        headers: { ...JSON_HEADERS, "Content-Type": "application/x-www-form-urlencoded" },
        body,
      }, opts);
    } catch (err) {
      if (err instanceof OAuthError && err.reason === "network") continue;
      throw err;
    }
    const json = await jsonBody(response);
    if (response.status === 200) return { kind: "tokens", tokens: parseTokenResponse(json) };
    if (response.status >= 500) continue;
    const { error, errorDescription } = oauthErrorOf(json);
    switch (error) {
      case "authorization_pending":
        opts.onPending?.({ slowDown: false, intervalSeconds });
        continue;
      case "slow_down":
        intervalSeconds += 5;
        opts.onPending?.({ slowDown: true, intervalSeconds });
        continue;
      case "access_denied":
        return errorDescription ? { kind: "denied", description: errorDescription } : { kind: "denied" };
      case "expired_token":
        return { kind: "expired" };
      default:
        throw new OAuthError("token_request_failed", `token request failed: HTTP ${response.status} ${error ?? ""} ${errorDescription ?? ""}`.trim(),
          { status: response.status, ...(error ? { error } : {}), ...(errorDescription ? { errorDescription } : {}) });
    }
  }
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
  if (md && params.has("iss") && params.get("iss") !== md.issuer) throw new OAuthError("authorization_failed", "the authorization response comes from another issuer");
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

async function tokenRequest(md: AuthMetadata, form: Record<string, string>, opts: FetchOptions): Promise<TokenResponse> {
  const response = await send(md.token_endpoint, {
    method: "POST",
    headers: { ...JSON_HEADERS, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  }, opts);
  const json = await jsonBody(response);
  if (response.status !== 200) {
    const { error, errorDescription } = oauthErrorOf(json);
    throw new OAuthError("token_request_failed", `token request failed: HTTP ${response.status} ${error ?? ""}`.trim(),
      { status: response.status, ...(error ? { error } : {}), ...(errorDescription ? { errorDescription } : {}) });
  }
  return parseTokenResponse(json);
}

export function exchangeAuthorizationCode(
  md: AuthMetadata,
  o: { clientId: string; code: string; redirectUri: string; codeVerifier: string },
  opts: FetchOptions = {},
): Promise<TokenResponse> {
  return tokenRequest(md, {
    grant_type: "authorization_code", code: o.code, redirect_uri: o.redirectUri, client_id: o.clientId, code_verifier: o.codeVerifier,
  }, opts);
}

export function refreshAccessToken(md: AuthMetadata, clientId: string, refreshToken: string, opts: FetchOptions = {}): Promise<TokenResponse> {
  return tokenRequest(md, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId }, opts);
}

/** RFC 7009 revocation; the server answers 200 even for unknown tokens. */
export async function revokeToken(
  md: AuthMetadata,
  clientId: string,
  token: string,
  hint?: "access_token" | "refresh_token",
  opts: FetchOptions = {},
): Promise<void> {
  const response = await send(md.revocation_endpoint, {
    method: "POST",
    headers: { ...JSON_HEADERS, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, client_id: clientId, ...(hint ? { token_type_hint: hint } : {}) }).toString(),
  }, opts);
  if (response.status !== 200) {
    const json = await jsonBody(response);
    throw new OAuthError("token_request_failed", `revocation failed: HTTP ${response.status}`, { status: response.status, ...oauthErrorOf(json) });
  }
}
