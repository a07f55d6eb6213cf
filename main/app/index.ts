// Electron main: app lifecycle, windows and their security settings — no protocol logic. The flows run
// behind main/app/ipc.ts (the only IPC surface) via main/app/flow-controller.ts; this app's own account
// lives in main/app/account.ts. The command line and the two modes are in main/app/config.ts:
//
//   installed app / --homeserver URL   one window: "Sign in with a QR code" or "Sign in to your account",
//                                      then linking new devices; the session is kept with safeStorage
//   npm start / --dev                  the development stack (devhome + rendezvous, seeded @alice) and the
//                                      pair of windows side by side: "Existing device" and "New device"
//   --protocol 2024|2025|auto          version of sign in with QR (default auto: the QR decides when
//                                      scanning, the servers when showing)
//
// Only what a start-up needs is loaded: the development stack, matrix-js-sdk and the sign-in are
// dynamic imports, which scripts/build.mjs keeps in chunks of their own.
import { app, BrowserWindow, desktopCapturer, dialog, net, protocol, safeStorage, session, shell, systemPreferences, webContents } from "electron";
import type { DesktopCapturerSource, WebContents } from "electron";
import { statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { IpcSurface } from "./ipc.js";
import { runServerCheck } from "./server-check.js";
import { createLoginControllerFactory, type ExistingAccount } from "./flow-controller.js";
import { AccountSessionVault } from "./credentials.js";
import { AccountController } from "./account.js";
import { readConfig, type AppConfig } from "./config.js";
import { createDisplayMediaHandler, type ScreenAccess } from "./display-media.js";
import { guardedOpener, isAllowedExternalUrl, providerOrigins } from "./external-url.js";
import { APP_HOST, APP_ORIGIN, APP_SCHEME } from "./origin.js";
import { installPermissionHandlers } from "./permissions.js";
import { installQuitGuard } from "./quit.js";
import { StartupError, reportStartupError } from "./startup-error.js";
import { openAppWindow, WindowSet, type WindowSpec } from "./windows.js";
import type { DevStack } from "../devstack/stack.js";
import type { AppInfo } from "../../contract/schemas.js";

// Bundled: dist/main/index.js → dist/. From the sources (tests): main/app/index.ts → <repo>/dist.
const UP = path.resolve(import.meta.dirname, "..");
const DIST = path.basename(UP) === "dist" ? UP : path.resolve(UP, "..", "dist");
const RENDERER_DIR = path.join(DIST, "renderer");
const PRELOAD = path.join(DIST, "preload", "index.cjs");
/** How long quitting may wait for the flows to say goodbye and the development stack to close. */
const QUIT_TIMEOUT_MS = 8000;
const CLIENT_METADATA = { client_name: "qr-login desktop", client_uri: "https://github.com/qr-login/qr-login", application_type: "native" as const };

/** The only way main opens anything outside the app (external-url.ts: the one URL policy first). */
const openExternal = guardedOpener((url) => shell.openExternal(url));

// Before ready: our renderer origin is a standard, secure scheme (CSP 'self' and fetch rules apply).
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true } }]);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  void main().catch((err: unknown) => reportStartupError(err, { app, showErrorBox: (title, content) => dialog.showErrorBox(title, content) }));
}

async function main(): Promise<void> {
  const config = readConfig(process.argv.slice(app.isPackaged ? 1 : 2), { isPackaged: app.isPackaged });
  await app.whenReady();
  serveRenderer();

  let dev: DevStack | null = null;
  let ipc: IpcSurface | null = null;
  const account = config.dev
    ? null
    : new AccountController({ store: new AccountSessionVault(path.join(app.getPath("userData"), "session.bin"), safeStorage), openBrowser: (url) => openExternal(url, "the account provider's authorization page"), clientName: CLIENT_METADATA.client_name });
  // From here on a quit waits (bounded) for the flows to tell the peer and DELETE their rendezvous
  // sessions, then for the development stack to close.
  installQuitGuard(
    app,
    async () => {
      await ipc?.cancelAll();
      account?.close();
      await dev?.close();
    },
    { timeoutMs: QUIT_TIMEOUT_MS, onTimeout: () => console.warn(`qr-login: quitting after ${QUIT_TIMEOUT_MS} ms without a clean goodbye`) },
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => app.quit());

  if (config.dev) dev = await startDevelopmentStack();
  else await account!.init();

  const existingAccount = async (): Promise<ExistingAccount | null> => (dev ? dev.account : account!.existingAccount());
  const expectedHomeserver = dev?.baseUrl ?? config.homeserver ?? undefined;
  const windows = new WindowSet();

  ipc = new IpcSurface({
    rendererOrigin: APP_ORIGIN,
    createController: createLoginControllerFactory({
      rendezvousUrl: config.rendezvous ?? config.homeserver ?? dev?.baseUrl ?? null,
      ...(config.profile ? { profile: config.profile } : {}),
      clientMetadata: CLIENT_METADATA,
      protocol: config.protocol,
      // The homeserver the new device expects, where one is known (the dev stack's server name,
      // `localhost`, cannot be resolved through .well-known): what the other device names must agree.
      ...(expectedHomeserver ? { homeserver: expectedHomeserver } : {}),
      ...(config.rendezvous && config.rendezvous !== expectedHomeserver ? { fallbackRendezvousUrl: config.rendezvous } : {}),
      existingAccount,
      openVerificationPage: (uri) => openVerificationPage(uri, existingAccount, dev !== null),
      ...(account ? { onSignedIn: (s, verified) => account.adoptSignedInClient(s, verified) } : {}),
    }),
    appInfo: (id) => appInfo(config, dev, account, windows, id),
    ...(account ? { account } : {}),
    onRejected: (what, detail) => console.warn(`qr-login: refused IPC ${what}: ${detail}`),
    checkServer: runServerCheck,
  });
  const surface = ipc;
  account?.onChange((e) => surface.broadcastAccountEvent(e));
  surface.register();
  hardenSessions(surface, windows);

  // The pair: the existing device scans the new device's code (the headline direction,
  // docs/architecture.md "The two directions").
  const specs: WindowSpec[] = config.roles
    ? config.roles.map((role, index, all) => ({ role, side: all.length === 2 ? (role === "existing" ? "scan" : "show") : null, index, count: all.length }))
    : [{ role: null, side: null, index: 0, count: 1 }];
  for (const spec of specs) windows.add(openAppWindow(spec, PRELOAD, (wc) => surface.attachWindow(wc, spec.role)));

  app.on("second-instance", () => {
    const w = windows.all().find((x) => !x.window.isDestroyed())?.window;
    if (w) {
      if (w.isMinimized()) w.restore();
      w.focus();
    }
  });
  app.on("window-all-closed", () => app.quit());
}

/** Serve dist/renderer only; anything outside it is a 404. */
function serveRenderer(): void {
  protocol.handle(APP_SCHEME, (req) => {
    const u = new URL(req.url);
    const file = path.normalize(path.join(RENDERER_DIR, decodeURIComponent(u.pathname)));
    if (u.host !== APP_HOST || !file.startsWith(RENDERER_DIR + path.sep) || !isFile(file)) return new Response("not found", { status: 404 });
    return net.fetch(pathToFileURL(file).href);
  });
}

async function startDevelopmentStack(): Promise<DevStack> {
  const { startDevStack } = await import("../devstack/stack.js");
  let dev: DevStack;
  try {
    dev = await startDevStack();
  } catch (err) {
    throw new StartupError(
      "The development stack could not start",
      `npm start runs a development homeserver on this computer, and it failed: ${err instanceof Error ? err.message : String(err)}`,
      "Check that this checkout is installed (npm install) and try again. To use a real homeserver instead, start with --homeserver https://…",
      { cause: err },
    );
  }
  // Also shown in both windows (AppInfo.dev): a desktop launch has no terminal to read it from.
  console.log(`qr-login: development stack on ${dev.baseUrl} — approve sign-ins as ${dev.account.userId} with password ${dev.password}`);
  return dev;
}

function appInfo(config: AppConfig, dev: DevStack | null, account: AccountController | null, windows: WindowSet, webContentsId: number): AppInfo {
  const own = windows.all().find((w) => w.window.webContents.id === webContentsId);
  const current = dev ? { userId: dev.account.userId, homeserver: dev.baseUrl } : (account?.current() ?? null);
  const role = own?.spec.role ?? null;
  const label =
    role === "existing" ? `Existing device — ${current ? `signed in as ${current.userId}` : "not signed in"}` : role === "new" ? "New device" : current ? `Signed in as ${current.userId}${"verified" in current && current.verified === false ? ", not verified" : ""}` : "qr-login";
  return {
    label,
    account: current,
    storage: dev ? "unavailable" : (account?.storage() ?? "unavailable"),
    homeserverHint: config.homeserver,
    rendezvousConfigured: (config.rendezvous ?? config.homeserver ?? dev?.baseUrl ?? null) !== null,
    dev: dev ? { homeserver: dev.baseUrl, username: dev.account.userId.replace(/^@([^:]+):.*$/, "$1"), password: dev.password } : null,
  };
}

/** shell.openExternal only for the account provider's own pages (from its auth metadata). */
async function openVerificationPage(uri: string, existingAccount: () => Promise<ExistingAccount | null>, allowLoopbackHttp: boolean): Promise<void> {
  const { discoverAuthMetadata } = await import("../login/oauth/client.js");
  const acct = await existingAccount();
  if (!acct) throw Object.assign(new Error("not signed in"), { code: "unable_to_open_verification_uri" });
  const md = await discoverAuthMetadata(acct.matrix.baseUrl);
  if (!isAllowedExternalUrl(uri, { origins: providerOrigins(md), allowLoopbackHttp })) {
    throw Object.assign(new Error("refused to open a page outside the account provider"), { code: "unable_to_open_verification_uri" });
  }
  await openExternal(uri, "the verification page");
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Navigation, new windows, webviews and permissions: deny by default everywhere. */
function hardenSessions(ipc: IpcSurface, windows: WindowSet): void {
  app.on("web-contents-created", (_e, contents) => {
    contents.on("will-navigate", (ev) => ev.preventDefault());
    contents.on("will-redirect", (ev) => ev.preventDefault());
    contents.on("will-attach-webview", (ev) => ev.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: "deny" }));
  });
  const isScanning = (wc: WebContents | null): boolean => wc !== null && ipc.flowOptions(wc.id)?.side === "scan";
  installPermissionHandlers(session.defaultSession, { isScanning });
  session.defaultSession.setDisplayMediaRequestHandler(
    createDisplayMediaHandler({
      platform: process.platform,
      fromFrame: (frame) => webContents.fromFrame(frame),
      isScanning,
      sourceIdOf: (wc) => windows.sourceIdOf(wc),
      partnerOf: (wc) => windows.partnerOf(wc),
      getSources: (options) => desktopCapturer.getSources(options),
      screenAccess: () => systemPreferences.getMediaAccessStatus("screen") as ScreenAccess,
      choose: (wc, sources) => chooseCaptureSource(wc, sources),
      explainScreenAccess: (wc) => explainScreenAccess(wc),
      onError: (err) => console.warn(`qr-login: screen capture: ${err instanceof Error ? err.message : String(err)}`),
    }),
  );
}

/** Which screen or window shows the QR code: a question with one button per source (at most ten). */
async function chooseCaptureSource(requester: WebContents, sources: DesktopCapturerSource[]): Promise<DesktopCapturerSource | null> {
  const offered = [...sources.filter((s) => s.id.startsWith("screen:")), ...sources.filter((s) => !s.id.startsWith("screen:") && s.name.trim() !== "")].slice(0, 10);
  if (offered.length === 0) return null;
  const buttons = [...offered.map((s) => (s.id.startsWith("screen:") ? `Screen: ${s.name || "entire screen"}` : s.name)), "Cancel"];
  const parent = BrowserWindow.fromWebContents(requester);
  const options = { type: "question" as const, title: "Capture a screen or window", message: "Which screen or window shows the QR code?", buttons, cancelId: buttons.length - 1, defaultId: 0, noLink: true };
  const { response } = parent ? await dialog.showMessageBox(parent, options) : await dialog.showMessageBox(options);
  return response < offered.length ? offered[response]! : null;
}

/** macOS without Screen Recording permission: say where to grant it. */
async function explainScreenAccess(requester: WebContents): Promise<void> {
  const parent = BrowserWindow.fromWebContents(requester);
  const options = {
    type: "info" as const,
    title: "Screen Recording is off for qr-login",
    message: "qr-login may not capture the screen.",
    detail: "To scan a QR code shown on this Mac, allow qr-login in System Settings → Privacy & Security → Screen & System Audio Recording, then quit and reopen qr-login. Or scan with the camera, open an image of the code, or paste it as text.",
    buttons: ["Open System Settings", "Not now"],
    cancelId: 1,
    defaultId: 0,
  };
  const { response } = parent ? await dialog.showMessageBox(parent, options) : await dialog.showMessageBox(options);
  if (response === 0) await openExternal("x-apple.systempreferences:com.apple.preference.security?Privacy_ScreenCapture", "System Settings");
}
