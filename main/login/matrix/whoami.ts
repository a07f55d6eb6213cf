// `GET /_matrix/client/v3/account/whoami`: who an access token signs in as. The one request of it, for
// the new device (its fresh tokens), the existing device's browser sign-in, and a stored account
// (is its access token still good?).
import type { FetchLike } from "../../protocol/rendezvous-http.js";

export interface Whoami {
  userId: string;
  /** Absent from older homeservers' answers. */
  deviceId?: string;
}

/** The homeserver answered, but not with a user: `status` 401 means the token is no longer accepted. */
export class WhoamiError extends Error {
  override readonly name = "WhoamiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Throws WhoamiError on any answer that names no user; a failure to reach the homeserver is fetch's own error. */
export async function whoami(baseUrl: string, accessToken: string, opts: { fetch?: FetchLike; signal?: AbortSignal } = {}): Promise<Whoami> {
  const url = new URL("_matrix/client/v3/account/whoami", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  const res = await (opts.fetch ?? fetch)(url.href, { headers: { authorization: `Bearer ${accessToken}`, accept: "application/json" }, ...(opts.signal ? { signal: opts.signal } : {}) });
  const body = (await res.json().catch(() => null)) as { user_id?: unknown; device_id?: unknown } | null;
  if (!res.ok) throw new WhoamiError(res.status, `whoami: HTTP ${res.status}`);
  if (typeof body?.user_id !== "string") throw new WhoamiError(res.status, "whoami: no user_id");
  return typeof body.device_id === "string" ? { userId: body.user_id, deviceId: body.device_id } : { userId: body.user_id };
}
