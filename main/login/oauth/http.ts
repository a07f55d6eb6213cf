// The HTTP side of the OAuth client (client.ts, poll.ts): discovery's own GET (never following a
// redirect), and the options and error translation every oauth4webapi call shares. Every failure is
// the port's OAuthError (flows/ports.ts), with its reason.
import * as o from "oauth4webapi";
import { OAuthError, type AuthMetadata, type OAuthErrorReason, type OAuthTokens } from "../flows/ports.js";
import { transportRefusal } from "../url-policy.js";

export interface FetchOptions {
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** A request that never follows a redirect (a 3xx is the answer); failing to get an answer is an OAuthError. */
export async function send(url: string, init: RequestInit, opts: FetchOptions): Promise<Response> {
  try {
    return await (opts.fetch ?? fetch)(url, { ...init, redirect: "manual", ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (opts.signal?.aborted) throw new OAuthError("aborted", "aborted");
    throw new OAuthError("network", `${init.method ?? "GET"} ${url} failed: ${(err as Error).message}`);
  }
}

/** The options every oauth4webapi call gets: our fetch, the signal, and plain http only for loopback. */
export function libOptions(endpoint: string | undefined, opts: FetchOptions): { [o.customFetch]?: typeof fetch; [o.allowInsecureRequests]?: boolean; signal?: AbortSignal } {
  return {
    ...(opts.fetch ? { [o.customFetch]: opts.fetch } : {}),
    // Every endpoint passed endpointProblems() at discovery: http here is http to this computer.
    ...(endpoint !== undefined && transportRefusal(endpoint) === null && endpoint.startsWith("http:") ? { [o.allowInsecureRequests]: true } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

/**
 * Runs an oauth4webapi request and its processing; their errors become OAuthErrors with `reason`, the
 * HTTP status and the server's OAuth error, when there was one.
 */
export async function viaLibrary<T>(reason: OAuthErrorReason, what: string, opts: FetchOptions, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    if (opts.signal?.aborted) throw new OAuthError("aborted", "aborted");
    if (err instanceof o.ResponseBodyError) {
      const details = { status: err.status, error: err.error, ...(err.error_description ? { errorDescription: err.error_description } : {}) };
      throw new OAuthError(reason, `${what} failed: HTTP ${err.status} ${err.error}${err.error_description ? ` ${err.error_description}` : ""}`, details);
    }
    if (err instanceof o.WWWAuthenticateChallengeError) throw new OAuthError(reason, `${what} failed: HTTP ${err.status} (authentication challenge)`, { status: err.status });
    if (err instanceof o.OperationProcessingError) {
      const status = err.cause instanceof Response ? err.cause.status : undefined;
      if (status !== undefined && status >= 300 && status < 400) {
        throw new OAuthError(reason, `${what} failed: HTTP ${status}: the server redirects, and credentials are never sent on`, { status });
      }
      const invalid = err.code === o.INVALID_RESPONSE || err.code === o.PARSE_ERROR || err.code === o.RESPONSE_IS_NOT_JSON;
      throw new OAuthError(status !== undefined && !invalid ? reason : "invalid_response", `${what} failed: ${status !== undefined ? `HTTP ${status}: ` : ""}${err.message}`,
        status !== undefined ? { status } : {});
    }
    if (err instanceof o.UnsupportedOperationError) throw new OAuthError("invalid_response", `${what} failed: ${err.message}`);
    // fetch rejects with a TypeError when the connection fails; oauth4webapi's argument checks throw
    // TypeErrors with a code, which are bugs here and stay what they are.
    if (isNetworkError(err)) throw new OAuthError("network", `${what} failed: ${(err as Error).message}`);
    throw err;
  }
}

/** fetch's "could not connect" (a TypeError without oauth4webapi's `code`). */
export function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError && (err as { code?: unknown }).code === undefined;
}

export function asServer(md: AuthMetadata): o.AuthorizationServer {
  return md as unknown as o.AuthorizationServer;
}

export async function jsonBody(response: Response): Promise<Record<string, unknown> | null> {
  const text = await response.text();
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A token endpoint's answer, once it is a bearer token. */
export function tokensOf(json: o.TokenEndpointResponse): OAuthTokens {
  if (json.token_type !== "bearer" || !json.access_token) throw new OAuthError("invalid_response", "malformed token response");
  return json as unknown as OAuthTokens;
}
