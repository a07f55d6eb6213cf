// Which URLs main may hand to shell.openExternal. Every call goes through guardedOpener(), i.e. the one
// URL policy (main/login/url-policy.ts: https, http only to this computer, no credentials). The
// verification URI of a running flow must moreover point at the account's own OAuth server: an origin
// taken from the homeserver's auth metadata (plain http only on loopback with the development stack).
// A malicious new device could otherwise make the existing device open any page it likes.

import { openRefusal, UnsafeUrlError } from "../login/url-policy.js";

export interface ExternalUrlPolicy {
  /** Origins (scheme://host:port) of the account provider, from its auth metadata. */
  origins: string[];
  /** Allow http:// to loopback hosts (development stack only). */
  allowLoopbackHttp: boolean;
}

function originOf(u: URL): string {
  return `${u.protocol}//${u.host}`;
}

/** Origins of every endpoint in the metadata that a user may be sent to. */
export function providerOrigins(metadata: Record<string, unknown>): string[] {
  const out = new Set<string>();
  for (const key of ["issuer", "authorization_endpoint", "device_authorization_endpoint", "account_management_uri"]) {
    const v = metadata[key];
    if (typeof v !== "string") continue;
    try {
      out.add(originOf(new URL(v)));
    } catch {
      /* not a URL: ignore */
    }
  }
  return [...out];
}

export function isAllowedExternalUrl(raw: string, policy: ExternalUrlPolicy): boolean {
  if (openRefusal(raw) !== null) return false;
  const u = new URL(raw);
  if (u.protocol === "http:" && !policy.allowLoopbackHttp) return false;
  return policy.origins.includes(originOf(u));
}

/**
 * shell.openExternal behind the one URL policy (main/login/url-policy.ts): main/app/index.ts builds
 * its only opener with this, so no path hands the OS a URL the policy refused.
 */
export function guardedOpener(openExternal: (url: string) => Promise<void>): (url: string, what?: string) => Promise<void> {
  return async (url, what = "to open a page") => {
    const reason = openRefusal(url);
    if (reason) throw new UnsafeUrlError(reason, url, what);
    await openExternal(url);
  };
}
