// Access-token verifiers for `authenticated` mode. The remote one asks a homeserver's
// GET /_matrix/client/v3/account/whoami and caches answers briefly, so a burst of creates with one
// token costs one round trip. Tokens are cached by SHA-256 digest, never kept in clear.
import { createHash } from "node:crypto";

export type AccessTokenVerifier = (accessToken: string) => Promise<{ userId: string } | null>;

export interface RemoteVerifierOptions {
  /** Base URL of the homeserver, e.g. https://matrix.example.org */
  homeserver: string;
  /** Cache lifetime of a valid token (default 60 s) and of a rejected one (default 10 s). */
  validTtlMs?: number;
  invalidTtlMs?: number;
  /** Upper bound on cached entries (default 10,000); the oldest go first. */
  maxEntries?: number;
  timeoutMs?: number;
  now?: () => number;
  fetch?: typeof fetch;
}

export class VerifierUnavailableError extends Error {
  override readonly name = "VerifierUnavailableError";
}

export function remoteWhoamiVerifier(opts: RemoteVerifierOptions): AccessTokenVerifier {
  const url = new URL("_matrix/client/v3/account/whoami", opts.homeserver.endsWith("/") ? opts.homeserver : opts.homeserver + "/").href;
  const validTtl = opts.validTtlMs ?? 60_000;
  const invalidTtl = opts.invalidTtlMs ?? 10_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const now = opts.now ?? Date.now;
  const doFetch = opts.fetch ?? fetch;
  const cache = new Map<string, { until: number; result: { userId: string } | null }>();

  return async (accessToken) => {
    const key = createHash("sha256").update(accessToken).digest("base64url");
    const hit = cache.get(key);
    if (hit && hit.until > now()) return hit.result;
    let response: Response;
    try {
      response = await doFetch(url, {
        headers: { Authorization: `Bearer ${accessToken}`, Accept: "application/json" },
        signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
      });
    } catch (err) {
      throw new VerifierUnavailableError(`homeserver whoami unreachable: ${(err as Error).message}`);
    }
    let result: { userId: string } | null = null;
    if (response.status === 200) {
      const body = (await response.json().catch(() => null)) as { user_id?: unknown } | null;
      if (body && typeof body.user_id === "string") result = { userId: body.user_id };
      else throw new VerifierUnavailableError("homeserver whoami returned no user_id");
    } else if (response.status !== 401 && response.status !== 403) {
      throw new VerifierUnavailableError(`homeserver whoami answered ${response.status}`);
    }
    cache.delete(key);
    cache.set(key, { until: now() + (result ? validTtl : invalidTtl), result });
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    return result;
  };
}
