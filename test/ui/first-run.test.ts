// The installed app's first run, in Debian's Chromium behind the real IPC surface (electron mocked):
//  1. "Sign in to your account" for real, against a listening development homeserver whose account has
//     recovery set up by another client: the homeserver field, the authorization code + PKCE sign-in in
//     "the system browser" (a cookie-keeping HTTP client on the devhome's login and consent pages, which
//     then follows the loopback redirect), the recovery key typed (a wrong one first), the session kept
//     in the (fake) keychain — the same code path as `qr-login existing-device --login`
//     (main/login/account/browser-sign-in.ts) — and then that app, as the existing device, links a new device:
//     the `qr-login new-device` CLI scans the QR on screen and ends up signed in and verified;
//  2. with a scripted account: the other first-run choice ("Sign in with a QR code", which asks for a
//     homeserver to show a QR), the keychain warning where no keyring exists, and a failed sign-in.
// Every screen is saved under test-artifacts/screens/ and checked with axe-core (no finding at all).
import { jest, describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import type { MatrixClient } from "matrix-js-sdk";
import { encodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { electronMock, launchChromium, openWindow, serveDir, RENDERER_ORIGIN, type OpenedWindow, type StaticServer } from "../support/ui-bridge.js";
import { MiniBrowser } from "../integration/mini-browser.js";
import { startDevhome, type RunningDevhome } from "../../server/devhome/index.js";
import { bootstrapCrossSigningAndBackup } from "../../main/devstack/identity.js";
import { createMatrixClient, startAndWaitForSync, stopClient } from "../../main/login/matrix/client.js";
import type { SecretsBundle } from "../../main/login/flows/messages.js";
import { AccountController } from "../../main/app/account.js";
import { AccountSessionVault, type SafeStorageLike } from "../../main/app/credentials.js";
import { createLoginControllerFactory } from "../../main/app/flow-controller.js";
import { parseAccountSession } from "../../main/login/account/account-session.js";
import type { AccountPort, ControllerEvent, FlowController, IpcSurface as IpcSurfaceT } from "../../main/app/ipc.js";
import type { StorageStatus } from "../../contract/account.js";
import type { DeviceRole } from "../../contract/flow.js";
import type { AccountEvent, AppInfo, StartOptions } from "../../contract/schemas.js";

jest.unstable_mockModule("electron", electronMock);
const { IpcSurface } = await import("../../main/app/ipc.js");

jest.setTimeout(120_000);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SHOTS = path.join(root, "test-artifacts/screens");
const AXE = readFileSync(path.join(root, "node_modules/axe-core/axe.min.js"), "utf8");
const tmp = mkdtempSync(path.join(tmpdir(), "qr-login-first-run-"));

let dh: RunningDevhome;
let server: StaticServer;
let browser: Browser;
let surface: IpcSurfaceT;
let recoveryKey: string;
let bundle: SecretsBundle;
const clients: MatrixClient[] = [];
const axeFindings: Record<string, string[]> = {};

// A reversible stand-in for the OS keychain (the file must not hold the session in plain text).
const keychain: SafeStorageLike = {
  isAsyncEncryptionAvailable: async () => true,
  getSelectedStorageBackend: () => "gnome_libsecret",
  encryptStringAsync: async (s) => Buffer.from(Buffer.from(s, "utf8").map((b) => b ^ 0x6b)),
  decryptStringAsync: async (b) => ({ result: Buffer.from(b.map((x) => x ^ 0x6b)).toString("utf8"), shouldReEncrypt: false }),
};
const vaultFile = path.join(tmp, "userData", "session.bin");

/** "The system browser": the authorization URLs main asked to open, approved when the test says so. */
const browserRequests: string[] = [];
const verificationPages: string[] = [];
let realAccount: AccountController;

/** The account the IPC surface talks to: the real one, or a scripted one for part 2. */
let activeAccount: AccountPort & { storage(): StorageStatus; current(): { userId: string; homeserver: string } | null };
let scripted: ScriptedAccount | null = null;
const startedOptions: StartOptions[] = [];

class ScriptedAccount implements AccountPort {
  calls: [string, unknown][] = [];
  emit: ((e: AccountEvent) => void) | null = null;
  account: { userId: string; homeserver: string } | null = null;
  constructor(readonly status: StorageStatus) {}
  storage(): StorageStatus {
    return this.status;
  }
  current() {
    return this.account;
  }
  signIn(homeserver: string, emit: (e: AccountEvent) => void): void {
    this.calls.push(["signIn", homeserver]);
    this.emit = emit;
    emit({ type: "sign_in_state", state: "discovering" });
    if (homeserver === "nooauth.example.org") emit({ type: "sign_in_error", code: "homeserver_lacks_support", message: "This homeserver does not offer OAuth 2.0 sign-in." });
    else emit({ type: "recovery_key_prompt", retry: false, attemptsLeft: 3 });
  }
  submitRecoveryKey(key: string): void {
    this.calls.push(["submitRecoveryKey", key]);
    this.account = { userId: "@bob:example.org", homeserver: "https://matrix.example.org/" };
    this.emit?.({ type: "sign_in_state", state: "unlocking" });
    surface.broadcastAccountEvent({ type: "account", account: this.account, storage: this.status, saved: false });
  }
  async openSignInPage(): Promise<void> {}
  cancelSignIn(): void {}
  async signOut(): Promise<void> {}
}

/** A controller that only records (part 2 checks what reaches main; part 1 runs the real flows). */
class RecordingController implements FlowController {
  constructor(readonly role: DeviceRole) {}
  async start(options: StartOptions, emit: (e: ControllerEvent) => void): Promise<void> {
    startedOptions.push(options);
    emit({ type: "state", state: "starting" });
  }
  async submitQr(): Promise<void> {}
  async submitCheckCode(): Promise<void> {}
  async confirmAccount(): Promise<void> {}
  async openVerificationUri(): Promise<void> {}
  async cancel(): Promise<void> {}
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dh = await startDevhome({ port: 0, seed: true, deviceInterval: 1 });
  // Another client of the user set up cross-signing, key backup and recovery (secret storage + key).
  const userId = dh.demo!.userId;
  const token = (await dh.auth.issueDeviceToken({ userId, deviceId: "USERSPHONE1", clientName: "the user's phone" })).access_token;
  const holder: { key?: Uint8Array<ArrayBuffer> } = {};
  const phone = await createMatrixClient({ homeserverUrl: dh.baseUrl, userId, deviceId: "USERSPHONE1", accessToken: token }, { getSecretStorageKey: (ids) => (holder.key && ids[0] ? [ids[0], holder.key] : null) });
  clients.push(phone);
  await startAndWaitForSync(phone);
  const boot = await bootstrapCrossSigningAndBackup(phone, { withSecretStorage: true, recoveryKeyHolder: holder });
  recoveryKey = boot.recoveryKey!;
  bundle = boot.bundle;

  realAccount = new AccountController({
    store: new AccountSessionVault(vaultFile, keychain, "linux"),
    openBrowser: async (url) => {
      browserRequests.push(url);
    },
    browserTimeoutMs: 90_000,
  });
  await realAccount.init();
  activeAccount = realAccount;
  const real = createLoginControllerFactory({
    rendezvousUrl: null,
    clientMetadata: { client_name: "qr-login desktop (first-run test)", client_uri: "https://example.org/", application_type: "native" },
    existingAccount: () => realAccount.existingAccount(),
    openVerificationPage: async (uri) => {
      verificationPages.push(uri);
    },
    lingerMs: 200,
  });
  server = await serveDir(path.join(root, "dist/renderer"));
  browser = await launchChromium();
  surface = new IpcSurface({
    rendererOrigin: RENDERER_ORIGIN,
    createController: (role, id) => (scripted ? new RecordingController(role) : real(role, id)),
    appInfo: (): AppInfo => {
      const a = activeAccount.current();
      return { label: a ? `Signed in as ${a.userId}` : "qr-login", account: a, storage: activeAccount.storage(), homeserverHint: null, rendezvousConfigured: false, dev: null };
    },
    account: {
      signIn: (h, emit) => activeAccount.signIn(h, emit),
      submitRecoveryKey: (k) => activeAccount.submitRecoveryKey(k),
      openSignInPage: () => activeAccount.openSignInPage(),
      cancelSignIn: () => activeAccount.cancelSignIn(),
      signOut: () => activeAccount.signOut(),
    },
  });
  realAccount.onChange((e) => surface.broadcastAccountEvent(e));
  surface.register();
}, 90_000);

afterAll(async () => {
  realAccount?.close();
  for (const c of clients) stopClient(c);
  await browser?.close();
  await server?.close();
  surface?.unregister();
  await dh?.close();
  rmSync(tmp, { recursive: true, force: true });
  writeFileSync(path.join(SHOTS, "first-run-axe.json"), JSON.stringify(axeFindings, null, 2));
});

async function onScreen(page: Page, name: string, timeout = 20_000): Promise<void> {
  await page.waitForSelector(`body[data-screen="${name}"]`, { timeout });
}

/** Screenshot + axe-core: no violation of any impact. */
async function capture(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(60);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) await page.evaluate(AXE);
  const violations = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => v.id + ':' + v.impact))")) as string[];
  axeFindings[name] = violations;
  expect({ screen: name, violations }).toEqual({ screen: name, violations: [] });
}

async function until<T>(read: () => T | Promise<T>, ok: (v: T) => boolean, timeout = 20_000): Promise<T> {
  const end = Date.now() + timeout;
  let v = await read();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  expect(ok(v)).toBe(true);
  return v;
}

async function open(): Promise<OpenedWindow> {
  return openWindow(browser, server.url, (wc, fixed) => surface.attachWindow(wc as never, fixed), { role: null, side: null });
}

/** The user's browser on the devhome: sign in as the demo account, approve, and come back to the loopback redirect. */
async function approveInBrowser(url: string): Promise<void> {
  const b = new MiniBrowser();
  const login = await b.go(url, {}, dh.baseUrl);
  const consent = await b.submit(login, { username: dh.demo!.localpart, password: dh.demo!.password }, { withField: "password" });
  const back = await b.submit(consent, {}, { button: "approve", stayOn: dh.baseUrl });
  expect(back.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
  expect((await fetch(back.url)).status).toBe(200);
}

function run(args: string[]) {
  const child = spawn(process.execPath, [path.join(root, "bin/qr-login.js"), ...args], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  const io = { out: "", err: "" };
  child.stdout.on("data", (d: Buffer) => (io.out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (io.err += d.toString()));
  const done = new Promise<number | null>((resolve) => child.on("close", resolve));
  const waitFor = async (re: RegExp): Promise<string> => {
    for (let i = 0; i < 400; i++) {
      const m = re.exec(io.err);
      if (m) return m[1]!;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no ${re}:\n${io.err}`);
  };
  return { child, io, done, waitFor };
}

describe("Sign in to your account, for real, then link a new device", () => {
  let w: OpenedWindow;
  afterAll(async () => {
    w?.wc.destroy();
    await w?.page.context().close();
  });

  test("welcome: the two ways to sign in, keyboard first", async () => {
    w = await open();
    await onScreen(w.page, "welcome");
    await expect(w.page.locator("#window-label").textContent()).resolves.toBe("qr-login");
    await capture(w.page, "first-run-01-welcome");
    await w.page.keyboard.press("Tab");
    await expect(w.page.evaluate("document.activeElement?.textContent")).resolves.toMatch(/^Sign in with a QR code/);
    await w.page.keyboard.press("Tab");
    await expect(w.page.evaluate("document.activeElement?.textContent")).resolves.toMatch(/^Sign in to your account/);
    await w.page.keyboard.press("Enter");
    await onScreen(w.page, "homeserver");
    await expect(w.page.evaluate("document.activeElement?.id")).resolves.toBe("homeserver");
    await capture(w.page, "first-run-02-homeserver");
  });

  test("the homeserver field: an empty field and a wrong address are explained, in the field", async () => {
    await w.page.keyboard.press("Enter");
    await expect(w.page.locator("#homeserver-error").textContent()).resolves.toMatch(/Enter the address of your homeserver/);
    await w.page.getByLabel("Homeserver").fill("http://matrix.example.org");
    await w.page.keyboard.press("Enter");
    // main refuses it (plain http is only for this computer) and the screen says why
    await until(() => w.page.locator("#homeserver-error").textContent(), (t) => /Use https:\/\//.test(t ?? ""));
    await expect(w.page.getByLabel("Homeserver").getAttribute("aria-invalid")).resolves.toBe("true");
    await capture(w.page, "first-run-02b-homeserver-invalid");
  });

  test("continue in the browser: the authorization page opens, then the recovery key is asked for", async () => {
    await w.page.getByLabel("Homeserver").fill(dh.baseUrl);
    await w.page.keyboard.press("Enter");
    await onScreen(w.page, "sign_in_progress");
    const url = await until(() => browserRequests[0], (u) => typeof u === "string");
    const auth = new URL(url!);
    // authorization code + PKCE with a loopback redirect, as `existing-device --login`
    expect(auth.searchParams.get("response_type")).toBe("code");
    expect(auth.searchParams.get("code_challenge_method")).toBe("S256");
    expect(auth.searchParams.get("redirect_uri")).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    await capture(w.page, "first-run-03-browser");
    await w.page.getByText("The browser did not open?").click();
    await until(() => w.page.locator(".uri code").textContent(), (t) => t === url);
    await capture(w.page, "first-run-03b-browser-address");
    await w.page.getByRole("button", { name: "Open the browser again" }).click();
    await until(() => browserRequests.length, (n) => n === 2);
    expect(browserRequests[1]).toBe(url);
    await approveInBrowser(url!);
    await onScreen(w.page, "recovery_key", 30_000);
    await expect(w.page.evaluate("document.activeElement?.id")).resolves.toBe("recovery-key");
    await capture(w.page, "first-run-04-recovery-key");
  });

  test("the recovery key: a malformed one is refused here, a wrong one by the account, the right one unlocks", async () => {
    const field = w.page.getByLabel("Recovery key");
    await field.fill("not a key");
    await w.page.keyboard.press("Enter");
    await expect(w.page.locator("#recovery-key-error").textContent()).resolves.toMatch(/48 letters and digits/);
    // a well-formed key of other key material: the account's secret storage says no, and it may be typed again
    await field.fill(encodeRecoveryKey(new Uint8Array(32).fill(7))!);
    await w.page.keyboard.press("Enter");
    await until(() => w.page.locator("#recovery-key-error").textContent(), (t) => /does not unlock your account\. Check it and try again \(2 tries left\)/.test(t ?? ""));
    await capture(w.page, "first-run-05-recovery-key-retry");
    await w.page.getByLabel("Show the key").check();
    await expect(field.getAttribute("type")).resolves.toBe("text");
    await field.fill(recoveryKey);
    await w.page.keyboard.press("Enter");
    await onScreen(w.page, "signed_in", 60_000);
    await expect(w.page.locator("[data-field=user]").textContent()).resolves.toBe(dh.demo!.userId);
    await expect(w.page.locator("[data-storage]").textContent()).resolves.toMatch(/kept in your system's keychain/);
    await until(() => w.page.locator("#window-label").textContent(), (t) => t === `Signed in as ${dh.demo!.userId}`);
    await capture(w.page, "first-run-06-signed-in");
  });

  test("the session is in the keychain file (encrypted) with the secrets; none of it crossed IPC", async () => {
    const raw = readFileSync(vaultFile);
    const session = parseAccountSession(Buffer.from(raw.map((x) => x ^ 0x6b)).toString("utf8"));
    expect(session.userId).toBe(dh.demo!.userId);
    expect(session.secrets.cross_signing).toEqual(bundle.cross_signing);
    expect(raw.toString("latin1")).not.toContain(session.accessToken);
    const wire = JSON.stringify([w.wc.sent, w.results]);
    for (const s of [session.accessToken, session.refreshToken ?? "none", bundle.cross_signing.master_key, bundle.cross_signing.self_signing_key, bundle.cross_signing.user_signing_key, recoveryKey, recoveryKey.replace(/ /g, "")]) {
      expect(wire).not.toContain(s);
    }
  });

  test("this app, now the existing device, links a new device (the CLI scans its QR) that ends up verified", async () => {
    await w.page.getByRole("button", { name: "Link a new device" }).click();
    await onScreen(w.page, "choose_side");
    await w.page.getByRole("button", { name: /^Mobile device/ }).click();
    await onScreen(w.page, "show_qr", 30_000);
    const qr = w.wc.sent.map((m) => m.data as { type?: string; payload?: Uint8Array }).find((e) => e.type === "qr")!;
    const hex = Buffer.from(qr.payload!).toString("hex");
    const nd = run(["new-device", "--scan", hex, "--yes"]);
    try {
      const code = await nd.waitFor(/^check code: (\d\d)/m);
      await onScreen(w.page, "check_code_entry", 30_000);
      await w.page.getByLabel("2-digit code").fill(code);
      await w.page.keyboard.press("Enter");
      const uri = await until(() => verificationPages[0], (u) => typeof u === "string", 30_000);
      // the new device's consent, in the user's browser, as the signed-in user
      const b = new MiniBrowser();
      const entry = await b.go(uri!);
      const page = await b.submit(entry, {});
      const next = await b.submit(page, {}, { button: "confirm" });
      await b.submit(next, { username: dh.demo!.localpart, password: dh.demo!.password }, { withField: "password" });
      expect(await nd.done).toBe(0);
      expect(JSON.parse(nd.io.out.trim())).toMatchObject({ outcome: "success", userId: dh.demo!.userId, crossSigned: true, backup: true });
      await onScreen(w.page, "success", 30_000);
      await capture(w.page, "first-run-07-linked");
    } finally {
      nd.child.kill();
    }
  });
});

describe("the other choices, with a scripted account", () => {
  let w: OpenedWindow;
  beforeAll(async () => {
    scripted = new ScriptedAccount("no_keyring");
    activeAccount = scripted;
    w = await open();
  });
  afterAll(async () => {
    w?.wc.destroy();
    await w?.page.context().close();
  });

  test("no keyring on this computer: the welcome screen says the sign-in will not be saved", async () => {
    await onScreen(w.page, "welcome");
    await expect(w.page.locator(".warning[role=note]").textContent()).resolves.toMatch(/Not saved on this computer\..*no keyring/);
    await capture(w.page, "first-run-08-welcome-no-keyring");
  });

  test("Sign in with a QR code: this is the new device; showing a QR asks which homeserver carries it", async () => {
    await w.page.getByRole("button", { name: /^Sign in with a QR code/ }).click();
    await onScreen(w.page, "choose_side");
    await capture(w.page, "first-run-09-qr-choose");
    await w.page.getByRole("button", { name: /^Show a QR code/ }).click();
    await onScreen(w.page, "homeserver");
    await expect(w.page.locator("h1").textContent()).resolves.toBe("Which homeserver is your account on?");
    await capture(w.page, "first-run-10-qr-homeserver");
    await w.page.getByLabel("Homeserver").fill("matrix.example.org");
    await w.page.keyboard.press("Enter");
    await until(() => startedOptions.length, (n) => n === 1);
    expect(startedOptions[0]).toEqual({ role: "new", side: "show", homeserver: "matrix.example.org" });
    await w.page.getByRole("button", { name: "Cancel" }).click();
    await onScreen(w.page, "welcome");
  });

  test("a sign-in that fails says why, and Try again goes back to the field", async () => {
    await w.page.getByRole("button", { name: /^Sign in to your account/ }).click();
    await w.page.getByLabel("Homeserver").fill("nooauth.example.org");
    await w.page.keyboard.press("Enter");
    await onScreen(w.page, "sign_in_error");
    await expect(w.page.locator("h1").textContent()).resolves.toBe("This homeserver can't be used");
    await capture(w.page, "first-run-11-sign-in-error");
    await w.page.getByRole("button", { name: "Try again" }).click();
    await onScreen(w.page, "homeserver");
  });

  test("signed in where no keyring exists: the signed-in screen warns that the session is not saved", async () => {
    await w.page.getByLabel("Homeserver").fill("matrix.example.org");
    await w.page.keyboard.press("Enter");
    await onScreen(w.page, "recovery_key");
    await w.page.getByLabel("Recovery key").fill(encodeRecoveryKey(new Uint8Array(32).fill(3))!);
    await w.page.keyboard.press("Enter");
    await onScreen(w.page, "signed_in");
    await expect(w.page.locator(".warning[role=note]").textContent()).resolves.toMatch(/forgets it when you quit/);
    await capture(w.page, "first-run-12-signed-in-not-saved");
    await w.page.getByRole("button", { name: "Done" }).click();
    await onScreen(w.page, "home");
    await expect(w.page.locator(".warning[role=note]").count()).resolves.toBe(1);
    await capture(w.page, "first-run-13-home-not-saved");
    expect(existsSync(vaultFile)).toBe(true); // the real account's file, untouched by the scripted one
  });
});
