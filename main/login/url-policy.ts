// The one place that decides which URLs this program trusts, for the two ways a URL can hurt us:
// - talking to it (homeserver base URLs, OAuth endpoints): https, or plain http to this computer only
//   (RFC 8252 §8.3; the development stack and the tests run on http://127.0.0.1 / localhost). Anything
//   else would let a network attacker read tokens or the secrets bundle's transport;
// - handing it to the operating system (shell.openExternal, `open`, `xdg-open`, Windows' URL handler):
//   the same rule, no user:password@ part, and nothing the OS could read as a second argument or an
//   option (whitespace, control characters). A homeserver's metadata or a new device's verification
//   URI is chosen by someone else; without this an `smb://host/x.exe` "authorization endpoint" would be
//   opened by the file manager, a `file:` URL by whatever handles it.

/** localhost, 127.0.0.0/8 and [::1]: hosts that cannot be on the network. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Why a URL may not be used, for an error message; null when it may. */
export type UrlRefusal = "not_a_url" | "scheme" | "plain_http" | "credentials" | "unsafe_characters";

const REFUSAL_TEXT: Record<UrlRefusal, string> = {
  not_a_url: "is not a URL",
  scheme: "is not a web address (only https is allowed)",
  plain_http: "uses plain http to another computer (only https is allowed, http only to this computer)",
  credentials: "carries a user name or password",
  unsafe_characters: "contains spaces or control characters",
};

/** A URL this program refused to talk to or to open; `reason` says which rule it broke. */
export class UnsafeUrlError extends Error {
  override readonly name = "UnsafeUrlError";
  constructor(
    readonly reason: UrlRefusal,
    readonly url: string,
    what: string,
  ) {
    super(`refused ${what}: ${shorten(url)} ${REFUSAL_TEXT[reason]}`);
  }
}

function shorten(url: string): string {
  const clean = [...url].map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? "?" : c)).join("");
  return clean.length > 120 ? `${clean.slice(0, 117)}…` : clean;
}

function parse(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

/** https, or http to a loopback host; null when it is, else the reason it is not. */
export function transportRefusal(raw: string): UrlRefusal | null {
  const url = parse(raw);
  if (!url) return "not_a_url";
  if (url.protocol === "https:") return null;
  if (url.protocol !== "http:") return "scheme";
  return isLoopbackHost(url.hostname) ? null : "plain_http";
}

/** The URL as a URL when requests may go to it; throws UnsafeUrlError otherwise. `what` names it. */
export function requireSecureUrl(raw: string, what: string): URL {
  const reason = transportRefusal(raw);
  if (reason) throw new UnsafeUrlError(reason, raw, what);
  return new URL(raw);
}

/**
 * URLs of this program's own that are not web pages (a settings pane of the OS). Exact strings, fixed at
 * build time: nothing a server or a peer sends can be one of them.
 */
export const OWN_SYSTEM_URLS: ReadonlySet<string> = new Set(["x-apple.systempreferences:com.apple.preference.security?Privacy_ScreenCapture"]);

/** Why the OS must not be handed this URL; null when it may. */
export function openRefusal(raw: string): UrlRefusal | null {
  if (OWN_SYSTEM_URLS.has(raw)) return null;
  // new URL() drops leading/trailing spaces and tabs/newlines inside silently; the OS opener would not.
  if ([...raw].some((c) => /\s/.test(c) || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return "unsafe_characters";
  const transport = transportRefusal(raw);
  if (transport) return transport;
  const url = new URL(raw);
  return url.username !== "" || url.password !== "" ? "credentials" : null;
}

/**
 * The one gate before anything is handed to the OS to open: returns the URL unchanged when it may be
 * opened, throws UnsafeUrlError (reason and URL for the message on screen) when not.
 */
export function checkOpenableUrl(raw: string, what = "to open"): string {
  const reason = openRefusal(raw);
  if (reason) throw new UnsafeUrlError(reason, raw, what);
  return raw;
}

export function isOpenableUrl(raw: string): boolean {
  return openRefusal(raw) === null;
}
