// A full sign-in driven through both windows' UIs, with the REAL main-process side: main/app/ipc.ts (electron
// mocked) → main/app/flow-controller.ts → the MSC4108 flows (main/login) → the secure channel, rendezvous,
// OAuth and matrix-js-sdk, against a listening development homeserver with the seeded @alice. The
// existing window "scans" the new window's QR by loading a screenshot of it as an image file; the
// consent happens in Chromium on the devhome's pages (what shell.openExternal would open). Every IPC
// message of the run is recorded and searched for tokens and secrets.
import { jest, describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import jsQR from "jsqr";
import type { Browser, Page } from "playwright-core";
import type { MatrixClient } from "matrix-js-sdk";
import { appInfoFor, electronMock, launchChromium, openWindow, serveDir, RENDERER_ORIGIN, type OpenedWindow, type StaticServer } from "../support/ui-bridge.js";
import type { IpcSurface as IpcSurfaceT } from "../../main/app/ipc.js";
import type { ProgressEvent } from "../../contract/schemas.js";
import { stopClient } from "../../main/login/matrix/client.js";
import type { SecretsBundle } from "../../main/login/flows/messages.js";
import { createLoginControllerFactory } from "../../main/app/flow-controller.js";
import { startDevStack, type DevStack } from "../../main/devstack/stack.js";

jest.unstable_mockModule("electron", electronMock);
const { IpcSurface } = await import("../../main/app/ipc.js");

jest.setTimeout(120_000);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SHOTS = path.join(root, "test-artifacts/screens");

let dev: DevStack;
let server: StaticServer;
let browser: Browser;
let surface: IpcSurfaceT;
let existingToken: string;
let bundle: SecretsBundle;
const clients: MatrixClient[] = [];
const newDeviceTokens: string[] = [];
const consentPages: Promise<void>[] = [];
const opened: string[] = [];

async function consent(uri: string): Promise<void> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(uri);
    await page.getByRole("button", { name: "Continue" }).click(); // the code is pre-filled
    await page.getByRole("button", { name: "Approve" }).click();
    await page.getByLabel("Username").fill("alice");
    await page.getByLabel("Password").fill(dev.password);
    await page.keyboard.press("Enter");
    await page.waitForSelector("text=Device approved");
    await page.screenshot({ path: path.join(SHOTS, "real-05-browser-consent-done.png") });
  } finally {
    await context.close();
  }
}

async function onScreen(page: Page, name: string, timeout = 20_000): Promise<void> {
  await page.waitForSelector(`body[data-screen="${name}"]`, { timeout });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(50);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // The same embedded stack `npm start` runs: devhome with @alice and her cross-signed existing device.
  dev = await startDevStack();
  existingToken = dev.account.accessToken!;
  bundle = await dev.account.matrix.exportSecrets();
  server = await serveDir(path.join(root, "dist/renderer"));
  browser = await launchChromium();
  surface = new IpcSurface({
    rendererOrigin: RENDERER_ORIGIN,
    createController: createLoginControllerFactory({
      rendezvousUrl: dev.baseUrl,
      clientMetadata: { client_name: "qr-login desktop (UI test)", client_uri: "https://example.org/", application_type: "native" },
      existingAccount: async () => dev.account,
      openVerificationPage: async (uri) => {
        opened.push(uri);
        if (opened.length === 1) consentPages.push(consent(uri));
      },
      onSignedIn: async (session) => {
        clients.push(session.client);
        const t = session.client.getAccessToken();
        if (t) newDeviceTokens.push(t);
      },
      lingerMs: 200,
    }),
    // What main/app/index.ts tells each window in development mode: the banner shows where to approve.
    appInfo: () => appInfoFor({ label: "Development pair", account: { userId: dev.account.userId, homeserver: dev.baseUrl }, storage: "unavailable", dev: { homeserver: dev.baseUrl, username: "alice", password: dev.password } }),
  });
  surface.register();
}, 90_000);

afterAll(async () => {
  for (const c of clients) stopClient(c);
  await browser?.close();
  await server?.close();
  surface?.unregister();
  await dev?.close();
});

describe("full sign-in through both windows (existing device scans the new device)", () => {
  let newWin: OpenedWindow;
  let oldWin: OpenedWindow;

  afterAll(async () => {
    for (const w of [newWin, oldWin]) {
      if (!w) continue;
      w.wc.destroy();
      await w.page.context().close();
    }
  });

  test("the new device ends up signed in and verified; nothing secret crossed IPC", async () => {
    newWin = await openWindow(browser, server.url, (wc, fixed) => surface.attachWindow(wc as never, fixed), { role: "new", side: "show" });
    oldWin = await openWindow(browser, server.url, (wc, fixed) => surface.attachWindow(wc as never, fixed), { role: "existing", side: "scan" });

    // Both windows show where to approve the sign-in, as whom, and the password (a desktop launch has no console).
    for (const w of [newWin, oldWin]) {
      await w.page.waitForSelector("#dev-banner:not([hidden])");
      await expect(w.page.locator("#dev-banner").textContent()).resolves.toBe(`Development stack. Approve sign-ins on ${dev.baseUrl} as alice with the password ${dev.password}.`);
    }

    // New device: a real rendezvous session and its QR.
    await onScreen(newWin.page, "show_qr");
    await newWin.page.waitForFunction(() => {
      const img = (globalThis as unknown as { document: { querySelector(s: string): { complete: boolean; naturalWidth: number } | null } }).document.querySelector("img.qr");
      return img !== null && img.complete && img.naturalWidth > 0;
    });
    await shot(newWin.page, "real-01-new-show-qr");
    const qrEvent = newWin.wc.sent.map((s) => s.data as ProgressEvent).find((e) => e.type === "qr") as Extract<ProgressEvent, { type: "qr" }>;
    expect(qrEvent).toBeDefined();
    const qrPng = await newWin.page.locator(".qr-frame").screenshot();
    const png = PNG.sync.read(qrPng);
    const hit = jsQR.default(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
    expect(hit).not.toBeNull();
    // The code on screen is the session's payload, byte for byte, and it is an MSC4388 login code.
    expect(Buffer.from(hit!.binaryData).toString("hex")).toBe(Buffer.from(qrEvent.payload).toString("hex"));
    const { decodeQr } = await import("../../main/protocol/qr.js");
    expect(decodeQr(qrEvent.payload)).toMatchObject({ intent: "login" });

    // Existing device: warning → scan screen → "scan" the new window's QR (a screenshot loaded as an image).
    await onScreen(oldWin.page, "prescan_warning");
    await oldWin.page.getByRole("button", { name: "Ready to scan" }).click();
    await onScreen(oldWin.page, "scan");
    await oldWin.page.locator("#scan-file").setInputFiles({ name: "new-device-window.png", mimeType: "image/png", buffer: await newWin.page.screenshot() });

    // The scanner shows the check code; the user types it on the new device.
    await onScreen(oldWin.page, "check_code");
    const code = await oldWin.page.locator(".check-code").getAttribute("data-code");
    expect(code).toMatch(/^[1-9][0-9]$/);
    await shot(oldWin.page, "real-02-existing-check-code");
    await onScreen(newWin.page, "check_code_entry");
    await shot(newWin.page, "real-03-new-check-code-entry");
    await newWin.page.getByLabel("2-digit code").fill(code!);
    await newWin.page.keyboard.press("Enter");

    // New device: its user code; existing device: the browser opened for consent.
    await onScreen(newWin.page, "user_code");
    await shot(newWin.page, "real-04-new-user-code");
    await onScreen(oldWin.page, "open_browser");
    await shot(oldWin.page, "real-04-existing-open-browser");
    await poll(() => consentPages.length === 1);
    await consentPages[0];

    // New device: confirm the account, then the secrets are imported and the device verified.
    await onScreen(newWin.page, "confirm_account", 30_000);
    await expect(newWin.page.locator("dd").first().textContent()).resolves.toBe(dev.account.userId);
    await shot(newWin.page, "real-06-new-confirm-account");
    await newWin.page.getByRole("button", { name: "Yes, continue" }).click();

    await onScreen(newWin.page, "success", 60_000);
    await shot(newWin.page, "real-07-new-success");
    await expect(newWin.page.locator("[data-field=user]").textContent()).resolves.toBe(dev.account.userId);
    await expect(newWin.page.locator("[data-field=verified]").textContent()).resolves.toBe("Verified");
    const deviceId = await newWin.page.locator("[data-field=device]").textContent();
    expect(deviceId).toMatch(/^[A-Za-z0-9]+$/);
    expect(deviceId).not.toBe("EXISTINGUI");
    await onScreen(oldWin.page, "success", 30_000);
    await shot(oldWin.page, "real-08-existing-success");
    await expect(oldWin.page.locator("[data-field=device]").textContent()).resolves.toBe(deviceId);

    // All five steps done on the new device.
    const steps = newWin.wc.sent.map((s) => s.data as ProgressEvent).filter((e): e is Extract<ProgressEvent, { type: "secrets" }> => e.type === "secrets");
    expect(new Set(steps.filter((s) => s.status === "done").map((s) => s.step)).size).toBe(5);

    // Nothing secret crossed IPC, in either direction, in either window.
    expect(newDeviceTokens).toHaveLength(1);
    const wire = JSON.stringify([newWin.wc.sent, newWin.results, oldWin.wc.sent, oldWin.results], (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
    const secrets = [existingToken, newDeviceTokens[0]!, bundle.cross_signing.master_key, bundle.cross_signing.self_signing_key, bundle.cross_signing.user_signing_key];
    if (bundle.backup) secrets.push(bundle.backup.key);
    for (const s of secrets) expect(wire).not.toContain(s);
    expect(wire).not.toMatch(/access_token|refresh_token|device_code/);
    expect([...newWin.consoleErrors, ...oldWin.consoleErrors]).toEqual([]);
  });
});

describe("full sign-in, the other direction (new device scans the existing device)", () => {
  test("the existing device shows a QR, the new device scans it, and ends up verified", async () => {
    consentPages.length = 0;
    opened.length = 0;
    const oldWin = await openWindow(browser, server.url, (wc, fixed) => surface.attachWindow(wc as never, fixed), { role: "existing", side: "show" });
    const newWin = await openWindow(browser, server.url, (wc, fixed) => surface.attachWindow(wc as never, fixed), { role: "new", side: "scan" });
    try {
      await onScreen(oldWin.page, "show_qr");
      await oldWin.page.waitForFunction(() => {
        const img = (globalThis as unknown as { document: { querySelector(s: string): { complete: boolean; naturalWidth: number } | null } }).document.querySelector("img.qr");
        return img !== null && img.complete && img.naturalWidth > 0;
      });
      await shot(oldWin.page, "real-11-existing-show-qr");
      const qrEvent = oldWin.wc.sent.map((s) => s.data as ProgressEvent).find((e) => e.type === "qr") as Extract<ProgressEvent, { type: "qr" }>;
      const { decodeQr } = await import("../../main/protocol/qr.js");
      expect(decodeQr(qrEvent.payload)).toMatchObject({ intent: "reciprocate" });

      await onScreen(newWin.page, "prescan_warning");
      await newWin.page.getByRole("button", { name: "Ready to scan" }).click();
      await onScreen(newWin.page, "scan");
      await newWin.page.locator("#scan-file").setInputFiles({ name: "existing-window.png", mimeType: "image/png", buffer: await oldWin.page.locator(".qr-frame").screenshot() });

      // Now the new device is the scanner: it shows the code, the existing device asks for it.
      await onScreen(newWin.page, "check_code");
      const code = await newWin.page.locator(".check-code").getAttribute("data-code");
      await shot(newWin.page, "real-12-new-check-code");
      await onScreen(oldWin.page, "check_code_entry");
      await shot(oldWin.page, "real-13-existing-check-code-entry");
      await oldWin.page.getByLabel("2-digit code").fill(code!);
      await oldWin.page.keyboard.press("Enter");

      await poll(() => consentPages.length === 1);
      await consentPages[0];
      await onScreen(newWin.page, "confirm_account", 30_000);
      await newWin.page.getByRole("button", { name: "Yes, continue" }).click();
      await onScreen(newWin.page, "success", 60_000);
      await expect(newWin.page.locator("[data-field=verified]").textContent()).resolves.toBe("Verified");
      await onScreen(oldWin.page, "success", 30_000);
      await shot(oldWin.page, "real-14-existing-success");
      const wire = JSON.stringify([newWin.wc.sent, newWin.results, oldWin.wc.sent, oldWin.results], (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
      for (const s of [existingToken, ...newDeviceTokens, bundle.cross_signing.master_key, bundle.cross_signing.self_signing_key]) expect(wire).not.toContain(s);
    } finally {
      for (const w of [newWin, oldWin]) {
        w.wc.destroy();
        await w.page.context().close();
      }
    }
  });
});

async function poll(cond: () => boolean, timeout = 20_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
