// Which URLs main may hand to shell.openExternal. Only the verification URI of a running flow is ever
// opened, and only when it points at the account's own OAuth server: https on an origin taken from the
// homeserver's auth metadata, or plain http on a loopback host when the development stack runs. A
// malicious new device could otherwise make the existing device open any page it likes.

const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

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
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return false;
  }
  if (u.username !== "" || u.password !== "") return false;
  if (u.protocol === "http:") {
    if (!policy.allowLoopbackHttp || !LOOPBACK.test(u.hostname)) return false;
  } else if (u.protocol !== "https:") {
    return false;
  }
  return policy.origins.includes(originOf(u));
}
