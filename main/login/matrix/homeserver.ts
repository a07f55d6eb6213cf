// The new device's one "which homeserver" step, for both versions (HomeserverPort):
// - a base URL (2025 m.login.protocols / reciprocate QR) is taken as is;
// - a server name (2024) is resolved as the Matrix spec's client discovery says: GET
//   https://<server name>/.well-known/matrix/client → m.homeserver.base_url, validated by a
//   /_matrix/client/versions answer; without a .well-known (404) the server name itself is tried as
//   https://<server name>/ (a homeserver serving the Client-Server API at its own name);
// - a pinned homeserver (`--homeserver`, the app's configured one) is the one the user expects: the
//   peer's naming must agree with it. A base URL must be the same; a server name must resolve to it
//   when it resolves at all, and when it does not (the development stack's `localhost`), the flow
//   checks after whoami that the account is on that server name. A mismatch is an error, never a
//   silent switch to another homeserver.
import type { FetchLike } from "../../protocol/rendezvous-http.js";
import { HomeserverError, type HomeserverPort, type HomeserverRef, type ResolvedHomeserver } from "../flows/ports.js";
import { requireSecureUrl, UnsafeUrlError } from "../url-policy.js";

export interface HomeserverPortOptions {
  /** The homeserver the user expects (base URL). */
  pinned?: string;
  fetch?: FetchLike;
  timeoutMs?: number;
}

/**
 * `https://h` → `https://h/`; paths keep their form with one trailing slash. Throws on anything but
 * https, or http to this computer (url-policy.ts): a peer or a .well-known naming a plain-http
 * homeserver would otherwise have the new device send its tokens over the network in clear.
 */
export function normaliseBaseUrl(text: string): string {
  const url = requireSecureUrl(text, "the homeserver URL");
  url.search = "";
  url.hash = "";
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

const MAX_REDIRECTS = 5;

/**
 * A GET without credentials. Redirects are followed (a .well-known often moves to www.) but only to
 * URLs the policy allows: fetch itself would follow https → http.
 */
async function getJson(url: string, fetchImpl: FetchLike, timeoutMs: number, signal?: AbortSignal): Promise<{ status: number; body: unknown }> {
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  for (let hops = 0; ; hops++) {
    response = await fetchImpl(url, { method: "GET", headers: { accept: "application/json" }, redirect: "manual", signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || location === null) break;
    await response.body?.cancel();
    if (hops >= MAX_REDIRECTS) throw new Error(`${url}: too many redirects`);
    url = requireSecureUrl(new URL(location, url).href, `the redirect from ${url}`).href;
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

async function servesClientApi(baseUrl: string, fetchImpl: FetchLike, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const r = await getJson(new URL("_matrix/client/versions", baseUrl).href, fetchImpl, timeoutMs, signal);
  return r.status === 200 && typeof r.body === "object" && r.body !== null && Array.isArray((r.body as { versions?: unknown }).versions);
}

/** The base URL a server name's client discovery gives, or a reason it gives none. */
export async function discoverHomeserver(serverName: string, opts: { fetch?: FetchLike; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ baseUrl: string } | { reason: string }> {
  const fetchImpl: FetchLike = opts.fetch ?? ((input, init) => fetch(input, init));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const origin = `https://${serverName}/`;
  let wellKnown: { status: number; body: unknown };
  try {
    wellKnown = await getJson(`${origin}.well-known/matrix/client`, fetchImpl, timeoutMs, opts.signal);
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    return { reason: `${origin}.well-known/matrix/client is unreachable (${err instanceof Error ? err.message : String(err)})` };
  }
  let candidate: string;
  if (wellKnown.status === 200) {
    const hs = (wellKnown.body as { "m.homeserver"?: { base_url?: unknown } } | undefined)?.["m.homeserver"];
    if (typeof hs?.base_url !== "string") return { reason: `${origin}.well-known/matrix/client has no m.homeserver.base_url` };
    try {
      candidate = normaliseBaseUrl(hs.base_url);
    } catch (err) {
      return { reason: `${origin}.well-known/matrix/client names ${err instanceof UnsafeUrlError ? "a base URL that is not https" : "an invalid base URL"}` };
    }
  } else if (wellKnown.status === 404) {
    candidate = origin;
  } else {
    return { reason: `${origin}.well-known/matrix/client answered HTTP ${wellKnown.status}` };
  }
  try {
    if (await servesClientApi(candidate, fetchImpl, timeoutMs, opts.signal)) return { baseUrl: candidate };
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    return { reason: `${candidate} is unreachable (${err instanceof Error ? err.message : String(err)})` };
  }
  return { reason: `${candidate} does not serve the Matrix Client-Server API` };
}

export function createHomeserverPort(opts: HomeserverPortOptions = {}): HomeserverPort {
  const pinned = opts.pinned !== undefined ? normaliseBaseUrl(opts.pinned) : undefined;
  return {
    async resolve(named: HomeserverRef, signal?: AbortSignal): Promise<ResolvedHomeserver> {
      if ("baseUrl" in named) {
        let baseUrl: string;
        try {
          baseUrl = normaliseBaseUrl(named.baseUrl);
        } catch (cause) {
          if (cause instanceof UnsafeUrlError) throw new HomeserverError("unresolved", `the other device names a homeserver that is not https: ${cause.message}`, { cause });
          throw new HomeserverError("unresolved", `the other device names an invalid homeserver URL`, { cause });
        }
        if (pinned !== undefined && baseUrl !== pinned) {
          throw new HomeserverError("mismatch", `the other device is signed in on ${baseUrl}, not on ${pinned} (the homeserver this device is set to)`);
        }
        return { baseUrl };
      }
      const { serverName } = named;
      const found = await discoverHomeserver(serverName, { ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}), ...(signal ? { signal } : {}) });
      if (pinned !== undefined) {
        if ("baseUrl" in found && found.baseUrl !== pinned) {
          throw new HomeserverError("mismatch", `the other device's homeserver ${serverName} is ${found.baseUrl}, not ${pinned} (the homeserver this device is set to)`);
        }
        // Resolved to the pin, or not resolvable: the account's server name is checked after sign-in.
        return { baseUrl: pinned, serverName };
      }
      if ("reason" in found) {
        throw new HomeserverError("unresolved", `cannot find the homeserver of ${serverName}: ${found.reason}. Give its URL (--homeserver) to sign in there.`);
      }
      return { baseUrl: found.baseUrl, serverName };
    },
  };
}
