// Development stack only: plays the user's browser on the development homeserver's consent pages
// (device-code entry → approve/deny → sign in as the demo account), so that `qr-login demo` and the
// flow benchmark run without a human. Never pointed at a real server: it posts a password into
// whatever form it finds.

import { MiniBrowser } from "./mini-browser.js";

/**
 * Open the verification URI and approve (or deny) the device as `username`. Resolves when the
 * homeserver has recorded the decision.
 */
export async function driveDevConsent(uri: string, account: { username: string; password: string }, decision: "approve" | "deny" = "approve"): Promise<void> {
  const browser = new MiniBrowser();
  const entry = await browser.go(uri);
  // verification_uri_complete pre-fills the code; the entry page only needs submitting.
  const consent = await browser.submit(entry, {});
  const next = await browser.submit(consent, {}, { button: decision === "approve" ? "confirm" : "abort" });
  if (decision === "approve") {
    const done = await browser.submit(next, { username: account.username, password: account.password }, { withField: "password" });
    if (!/approved/i.test(done.html)) throw new Error(`consent: the device was not approved (${done.url})`);
  }
}
