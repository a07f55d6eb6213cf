// The renderer's origin, and the one way main compares an origin with it. Electron hands origins over in
// more than one spelling: a permission check's `requestingOrigin` is the origin serialised as a URL,
// "app://qr-login/" with a trailing slash (Chromium's url::Origin::GetURL().spec(), see Electron's
// shell/browser/web_contents_permission_helper.cc), a request's `requestingUrl` and a frame's `url` are
// page URLs ("app://qr-login/index.html"). Comparing strings gets one of them wrong; parse them all.

export const APP_SCHEME = "app";
export const APP_HOST = "qr-login";
/** scheme://host of the renderer pages, without a trailing slash. */
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

/**
 * scheme://host[:port] of a URL or a serialised origin, lower case; null when it does not parse.
 * URL.origin is the string "null" for non-special schemes such as app://, so it is built by hand.
 */
export function originOf(value: string | null | undefined): string | null {
  if (typeof value !== "string" || value === "") return null;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return null;
  }
  if (u.host === "" || u.username !== "" || u.password !== "") return null;
  return `${u.protocol}//${u.host}`.toLowerCase();
}

/** Whether a URL or an origin is the renderer's own (app://qr-login, in any of its spellings). */
export function isAppOrigin(value: string | null | undefined, appOrigin: string = APP_ORIGIN): boolean {
  const o = originOf(value);
  return o !== null && o === originOf(appOrigin);
}
