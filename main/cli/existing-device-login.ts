// `qr-login existing-device --login --homeserver URL [--session FILE] [--open]`: signs this device in to a
// real homeserver (authorization code + PKCE in the browser, loopback redirect), unlocks the secrets with
// the recovery key typed on stdin, and writes the session file (mode 0600) that `existing-device
// --session FILE` then uses. stdout: one JSON summary; stderr: the URL to open and progress.
import { LineQueue, openInBrowser, printSummary, say } from "./role-io.js";

export async function runLogin(o: { homeserver: string; sessionFile: string; open: boolean }): Promise<number> {
  const [{ signInWithBrowser, BrowserSignInError }, { writeAccountSessionFile }] = await Promise.all([import("../login/account/browser-sign-in.js"), import("../login/account/account-session.js")]);
  const stdin = new LineQueue(process.stdin);
  let code = 1;
  try {
    const session = await signInWithBrowser({
      homeserver: o.homeserver,
      onProgress: (step) => say(`… ${step}`),
      openUri: async (url) => {
        if (o.open) await openInBrowser(url);
        else say(`sign-in URL: ${url}  (open it in a browser on this machine)`);
      },
      recoveryKey: async () => {
        say("enter your recovery key:");
        const line = await stdin.next();
        if (line === undefined) throw new BrowserSignInError("invalid_recovery_key", "stdin closed before the recovery key");
        return line;
      },
    });
    writeAccountSessionFile(o.sessionFile, session);
    say(`session written to ${o.sessionFile}`);
    printSummary({ outcome: "success", userId: session.userId, deviceId: session.deviceId, crossSigned: true, backup: session.secrets.backup !== undefined });
    code = 0;
  } catch (err) {
    const reason = err instanceof BrowserSignInError ? err.reason : ((err as { reason?: string }).reason ?? "error");
    say(`sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
    printSummary({ outcome: "error", reason, crossSigned: false, backup: false });
  }
  const exit = code;
  setImmediate(() => process.exit(exit));
  return exit;
}
