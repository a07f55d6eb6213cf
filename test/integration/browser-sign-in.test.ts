// The existing device's own sign-in for real homeservers, against a listening development homeserver:
// authorization code + PKCE with a loopback redirect (the user's browser played by a cookie-jar HTTP
// client on the devhome's login and consent pages), then the secrets unlocked from secret storage with
// the recovery key. In process (signInWithBrowser) and through `qr-login existing-device --login`.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { MatrixClient } from "matrix-js-sdk";
import { startDevhome, type RunningDevhome } from "../../server/devhome/index.js";
import { bootstrapCrossSigningAndBackup } from "../../main/devstack/identity.js";
import { createMatrixClient, startAndWaitForSync, stopClient } from "../../main/login/matrix/client.js";
import type { SecretsBundle } from "../../main/login/flows/messages.js";
import { signInWithBrowser, BrowserSignInError } from "../../main/login/account/browser-sign-in.js";
import { ensureFreshAccountSession, parseAccountSession, readAccountSessionFile, restoreAccountClient, AccountSessionError, writeAccountSessionFile } from "../../main/login/account/account-session.js";
import { MiniBrowser } from "./mini-browser.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

let dh: RunningDevhome;
let tmp: string;
let recoveryKey: string;
let bundle: SecretsBundle;
let cliSessionFile: string | undefined;
const clients: MatrixClient[] = [];

/** The user's browser: sign in as the demo account, approve, and return the loopback redirect (unvisited). */
async function browserSignIn(url: string): Promise<string> {
  const browser = new MiniBrowser();
  const login = await browser.go(url, {}, dh.baseUrl);
  const consent = await browser.submit(login, { username: dh.demo!.localpart, password: dh.demo!.password }, { withField: "password" });
  const back = await browser.submit(consent, {}, { button: "approve", stayOn: dh.baseUrl });
  expect(back.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
  return back.url;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "qr-browser-sign-in-"));
  dh = await startDevhome({ port: 0, seed: true, deviceInterval: 1 });
  // Another client of the user set up cross-signing, key backup and secret storage with a recovery key.
  const userId = dh.demo!.userId;
  const token = (await dh.auth.issueDeviceToken({ userId, deviceId: "FIRSTDEVICE", clientName: "first device" })).access_token;
  const holder: { key?: Uint8Array<ArrayBuffer> } = {};
  const first = await createMatrixClient(
    { homeserverUrl: dh.baseUrl, userId, deviceId: "FIRSTDEVICE", accessToken: token },
    { getSecretStorageKey: (ids) => (holder.key && ids[0] ? [ids[0], holder.key] : null) },
  );
  clients.push(first);
  await startAndWaitForSync(first);
  const result = await bootstrapCrossSigningAndBackup(first, { withSecretStorage: true, recoveryKeyHolder: holder });
  recoveryKey = result.recoveryKey!;
  bundle = result.bundle;
  expect(recoveryKey).toBeDefined();
}, 60_000);

afterAll(async () => {
  for (const c of clients) stopClient(c);
  await dh?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("existing device: browser sign-in + recovery key", () => {
  test("loopback redirect with state check; the secrets come out of secret storage; 0600 file that restores", async () => {
    const wrongState: number[] = [];
    const session = await signInWithBrowser({
      homeserver: dh.baseUrl,
      openUri: async (url) => {
        const auth = new URL(url);
        expect(auth.searchParams.get("code_challenge_method")).toBe("S256");
        const redirectUri = auth.searchParams.get("redirect_uri")!;
        expect(redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
        void (async () => {
          const back = await browserSignIn(url);
          // A request with another state is refused and does not end the sign-in.
          const forged = new URL(back);
          forged.searchParams.set("state", "forged");
          wrongState.push((await fetch(forged)).status);
          const res = await fetch(back);
          expect(res.status).toBe(200);
        })();
      },
      recoveryKey: async () => recoveryKey,
    });
    expect(wrongState).toEqual([400]);
    expect(session.userId).toBe(dh.demo!.userId);
    expect(session.secrets.cross_signing).toEqual(bundle.cross_signing);
    expect(session.secrets.backup).toEqual(bundle.backup);
    expect(await dh.auth.verifyAccessToken(session.accessToken)).toEqual(expect.objectContaining({ deviceId: session.deviceId }));

    const file = path.join(tmp, "in-process", "session.json");
    writeAccountSessionFile(file, session);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readAccountSessionFile(file)).toEqual(session);
    // The stored session restores into a client that can export the secrets again.
    const restored = await restoreAccountClient(readAccountSessionFile(file));
    clients.push(restored);
    expect(await restored.getCrypto()!.exportSecretsBundle!()).toEqual(expect.objectContaining({ cross_signing: bundle.cross_signing }));

    // A valid token is kept as is; one the server no longer accepts is renewed with the refresh token.
    expect(await ensureFreshAccountSession(session)).toEqual({ session, refreshed: false });
    const stale = { ...session, accessToken: "expired-access-token" };
    const renewed = await ensureFreshAccountSession(stale);
    expect(renewed.refreshed).toBe(true);
    expect(renewed.session.accessToken).not.toBe(session.accessToken);
    expect(await dh.auth.verifyAccessToken(renewed.session.accessToken)).toEqual(expect.objectContaining({ userId: dh.demo!.userId, deviceId: session.deviceId }));
    const { refreshToken: _r, ...noRefresh } = stale;
    await expect(ensureFreshAccountSession(noRefresh)).rejects.toBeInstanceOf(AccountSessionError);
  }, 60_000);

  test("a wrong recovery key is refused with a typed error", async () => {
    const attempt = signInWithBrowser({
      homeserver: dh.baseUrl,
      openUri: async (url) => {
        void browserSignIn(url).then((back) => fetch(back));
      },
      // A well-formed recovery key for other key material.
      recoveryKey: async () => {
        const { encodeRecoveryKey } = await import("matrix-js-sdk/lib/crypto-api/index.js");
        return encodeRecoveryKey(new Uint8Array(32).fill(7))!;
      },
    });
    await expect(attempt).rejects.toBeInstanceOf(BrowserSignInError);
    await expect(attempt).rejects.toMatchObject({ reason: "invalid_recovery_key" });
  }, 60_000);

  test("qr-login existing-device --login writes the session file (0600) and prints the summary", async () => {
    const file = path.join(tmp, "cli", "session.json");
    const child = spawn(process.execPath, [path.join(ROOT, "bin/qr-login.js"), "existing-device", "--login", "--homeserver", dh.baseUrl, "--session", file], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
        const m = /^sign-in URL: (\S+)/m.exec(err);
        if (m) resolve(m[1]!);
      });
      child.on("exit", () => reject(new Error(`exited early:\n${err}`)));
    });
    const back = await browserSignIn(url);
    expect((await fetch(back)).status).toBe(200);
    child.stdin.write(`${recoveryKey}\n`);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    if (code !== 0) throw new Error(`exit ${code}:\n${err}\n${out}`);
    expect(JSON.parse(out.trim())).toMatchObject({ outcome: "success", userId: dh.demo!.userId, crossSigned: true, backup: true });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = parseAccountSession(readFileSync(file, "utf8"));
    expect(stored.secrets.cross_signing).toEqual(bundle.cross_signing);
    expect(stored.clientId).toBeDefined();
    cliSessionFile = file;
  }, 60_000);

  test("the session written by --login signs a new device in (existing-device --session FILE --generate)", async () => {
    expect(cliSessionFile).toBeDefined();
    const run = (args: string[]) => {
      const child = spawn(process.execPath, [path.join(ROOT, "bin/qr-login.js"), ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
      const io = { out: "", err: "" };
      child.stdout.on("data", (d: Buffer) => (io.out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (io.err += d.toString()));
      const waitFor = async (re: RegExp): Promise<string> => {
        for (let i = 0; i < 300; i++) {
          const m = re.exec(io.err);
          if (m) return m[1]!;
          if (child.exitCode !== null) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`no ${re}:\n${io.err}`);
      };
      const done = new Promise<number | null>((resolve) => child.on("close", resolve));
      return { child, io, waitFor, done };
    };
    const ed = run(["existing-device", "--session", cliSessionFile!, "--generate"]);
    const hex = await ed.waitFor(/^QR: ([0-9a-f]+)$/m);
    const nd = run(["new-device", "--scan", hex, "--yes"]);
    ed.child.stdin.write(`${await nd.waitFor(/^check code: (\d\d)/m)}\n`);
    const uri = await ed.waitFor(/^verification URI: (\S+)/m);
    const browser = new MiniBrowser();
    const entry = await browser.go(uri);
    const page = await browser.submit(entry, {});
    const next = await browser.submit(page, {}, { button: "confirm" });
    await browser.submit(next, { username: dh.demo!.localpart, password: dh.demo!.password }, { withField: "password" });
    const [nCode, eCode] = await Promise.all([nd.done, ed.done]);
    expect(JSON.parse(nd.io.out.trim())).toMatchObject({ outcome: "success", userId: dh.demo!.userId, crossSigned: true, backup: true });
    expect(JSON.parse(ed.io.out.trim())).toMatchObject({ outcome: "success", crossSigned: true, backup: true });
    expect([nCode, eCode]).toEqual([0, 0]);
  }, 80_000);
});
