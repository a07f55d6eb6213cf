// Electron main: app lifecycle, windows and their security settings — no protocol logic. The flows run
// behind main/app/ipc.ts (the only IPC surface) via main/app/flow-controller.ts.
//
//   npm start                         development stack (devhome + rendezvous, seeded @alice) and two
//                                     windows side by side: "Existing device — signed in as @alice" and "New device"
//   electron . --homeserver URL       real use: this app's account lives on URL (credentials from safeStorage)
//              --rendezvous URL       rendezvous server the new device creates its session on (default: the homeserver)
//              --role new|existing|both
//              --profile element-2026|msc4388   wire profile of the 2025 version
//              --protocol 2024|2025|auto        version of sign in with QR (default auto: the QR decides
//                                               when scanning, the servers when showing)
//
// Cannot be run on the CI machines (no Electron binary); it is type-checked and bundled there.
import { app, BrowserWindow, desktopCapturer, net, protocol, safeStorage, session, shell } from "electron";
import type { WebContents } from "electron";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { IpcSurface } from "./ipc.js";
import { createLoginControllerFactory, type ExistingAccount } from "./flow-controller.js";
import { CredentialStore } from "./credentials.js";
import { isAllowedExternalUrl, providerOrigins } from "./external-url.js";
import type { DevStack } from "../devstack/stack.js";
import type { ChannelSide, DeviceRole } from "../../preload/api.js";

const SCHEME = "app";
const HOST = "qr-login";
const ORIGIN = `${SCHEME}://${HOST}`;
// Bundled: dist/main/index.js → dist/. From the sources (tests): main/app/index.ts → <repo>/dist.
const UP = path.resolve(import.meta.dirname, "..");
const DIST = path.basename(UP) === "dist" ? UP : path.resolve(UP, "..", "dist");
const RENDERER_DIR = path.join(DIST, "renderer");
const PRELOAD = path.join(DIST, "preload", "index.cjs");

interface Config {
  homeserver: string | null;
  rendezvous: string | null;
  roles: DeviceRole[];
  profile: string | undefined;
  protocol: "auto" | "2024" | "2025";
}

function readConfig(argv: string[]): Config {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    options: { homeserver: { type: "string" }, rendezvous: { type: "string" }, role: { type: "string" }, profile: { type: "string" }, protocol: { type: "string" } },
  });
  const str = (v: unknown): string | null => (typeof v === "string" && v.length > 0 ? v : null);
  const role = str(values.role) ?? "both";
  if (!["new", "existing", "both"].includes(role)) throw new Error(`--role must be new, existing or both (got ${role})`);
  const protocol = str(values.protocol) ?? "auto";
  if (protocol !== "auto" && protocol !== "2024" && protocol !== "2025") throw new Error(`--protocol must be 2024, 2025 or auto (got ${protocol})`);
  return {
    homeserver: str(values.homeserver),
    rendezvous: str(values.rendezvous),
    roles: role === "both" ? ["existing", "new"] : [role as DeviceRole],
    profile: str(values.profile) ?? undefined,
    protocol,
  };
}

// Before ready: our renderer origin is a standard, secure scheme (CSP 'self' and fetch rules apply).
protocol.registerSchemesAsPrivileged([{ scheme: SCHEME, privileges: { standard: true, secure: true } }]);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  void main().catch((err: unknown) => {
    console.error("qr-login:", err instanceof Error ? err.message : err);
    app.exit(1);
  });
}

async function main(): Promise<void> {
  const config = readConfig(process.argv.slice(app.isPackaged ? 1 : 2));
  await app.whenReady();

  // Serve dist/renderer only; anything outside it is a 404.
  protocol.handle(SCHEME, (req) => {
    const u = new URL(req.url);
    const file = path.normalize(path.join(RENDERER_DIR, decodeURIComponent(u.pathname)));
    if (u.host !== HOST || !file.startsWith(RENDERER_DIR + path.sep) || !isFile(file)) return new Response("not found", { status: 404 });
    return net.fetch(pathToFileURL(file).href);
  });

  const store = new CredentialStore(path.join(app.getPath("userData"), "credentials.bin"), safeStorage);
  let dev: DevStack | null = null;
  if (!config.homeserver) {
    const { startDevStack } = await import("../devstack/stack.js");
    dev = await startDevStack();
    console.log(`qr-login: development stack on ${dev.baseUrl} — sign in on the consent page as ${dev.account.userId} with password ${dev.password}`);
  }
  const homeserver = dev?.baseUrl ?? config.homeserver!;
  const rendezvousUrl = config.rendezvous ?? homeserver;

  let account: ExistingAccount | null = dev?.account ?? null;
  const existingAccount = async (): Promise<ExistingAccount | null> => {
    if (account) return account;
    const creds = await store.load();
    if (!creds) return null;
    const [{ createMatrixClient, startAndWaitForSync }, { createExistingDeviceMatrixPort }] = await Promise.all([import("../login/matrix.js"), import("../login/adapters.js")]);
    const client = await createMatrixClient({ homeserverUrl: creds.homeserverUrl, userId: creds.userId, deviceId: creds.deviceId, accessToken: creds.accessToken });
    await startAndWaitForSync(client);
    account = { userId: creds.userId, matrix: createExistingDeviceMatrixPort(client), accessToken: creds.accessToken };
    return account;
  };

  // shell.openExternal only for the account provider's own pages (from its auth metadata).
  const openExternal = async (uri: string): Promise<void> => {
    const { discoverAuthMetadata } = await import("../login/oauth.js");
    const acct = await existingAccount();
    const md = await discoverAuthMetadata(acct?.matrix.baseUrl ?? homeserver);
    if (!isAllowedExternalUrl(uri, { origins: providerOrigins(md), allowLoopbackHttp: dev !== null })) {
      throw Object.assign(new Error("refused to open a page outside the account provider"), { code: "unable_to_open_verification_uri" });
    }
    await shell.openExternal(uri);
  };

  const ipc = new IpcSurface({
    rendererOrigin: ORIGIN,
    createController: createLoginControllerFactory({
      rendezvousUrl,
      ...(config.profile ? { profile: config.profile } : {}),
      protocol: config.protocol,
      // The new device signs in where this app is configured to (the dev stack's server name,
      // `localhost`, cannot be resolved through .well-known): the other device must agree.
      homeserver,
      ...(config.rendezvous && config.rendezvous !== homeserver ? { fallbackRendezvousUrl: config.rendezvous } : {}),
      clientMetadata: { client_name: "qr-login desktop", client_uri: "https://github.com/qr-login/qr-login", application_type: "native" },
      existingAccount,
      openVerificationPage: openExternal,
      onSignedIn: async (s) => {
        const accessToken = s.client.getAccessToken();
        if (!accessToken) return;
        const refreshToken = s.client.getRefreshToken();
        await store.save({ homeserverUrl: s.client.baseUrl, userId: s.userId, deviceId: s.deviceId, accessToken, ...(refreshToken ? { refreshToken } : {}) });
      },
    }),
    onRejected: (what, detail) => console.warn(`qr-login: refused IPC ${what}: ${detail}`),
  });
  ipc.register();
  hardenSessions(ipc);

  const accountLabel = dev ? dev.account.userId.replace(/:.*$/, "") : ((await store.load())?.userId ?? "");
  const windows = config.roles.map((role, i) => openWindow(ipc, role, config.roles.length, i, accountLabel));

  app.on("second-instance", () => {
    const w = windows.find((x) => !x.isDestroyed());
    if (w) {
      if (w.isMinimized()) w.restore();
      w.focus();
    }
  });
  app.on("window-all-closed", () => app.quit());
  app.on("before-quit", () => {
    void ipc.cancelAll().finally(() => dev?.close());
  });
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Navigation, new windows, webviews and permissions: deny by default everywhere. */
function hardenSessions(ipc: IpcSurface): void {
  app.on("web-contents-created", (_e, contents) => {
    contents.on("will-navigate", (ev) => ev.preventDefault());
    contents.on("will-redirect", (ev) => ev.preventDefault());
    contents.on("will-attach-webview", (ev) => ev.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: "deny" }));
  });
  const scanning = (wc: WebContents | null): boolean => wc !== null && ipc.flowOptions(wc.id)?.side === "scan";
  const s = session.defaultSession;
  // Camera only (no microphone), only for a window whose flow is scanning, only from our origin; and
  // clipboard *write* ("Copy code as text"). Everything else is refused.
  s.setPermissionRequestHandler((wc, permission, callback, details) => {
    const media = details as { mediaTypes?: string[]; requestingUrl?: string };
    const ours = (media.requestingUrl ?? "").startsWith(`${ORIGIN}/`);
    if (permission === "clipboard-sanitized-write") return callback(ours);
    const ok = permission === "media" && scanning(wc) && (media.mediaTypes ?? []).every((t) => t === "video") && ours;
    callback(ok);
  });
  s.setPermissionCheckHandler((wc, permission, origin) => permission === "media" && scanning(wc) && origin === ORIGIN);
  // Screen/window capture (getDisplayMedia) for scanning a QR shown on this desktop: offer the other
  // window of the pair first, else the primary screen.
  s.setDisplayMediaRequestHandler((request, callback) => {
    if (!scanning(request.frame ? webContentsOf(request.frame) : null)) return callback({});
    void desktopCapturer.getSources({ types: ["window", "screen"] }).then(
      (sources) => {
        const pick = sources.find((x) => x.name === "New device") ?? sources.find((x) => x.id.startsWith("screen:")) ?? sources[0];
        callback(pick ? { video: pick } : {});
      },
      () => callback({}),
    );
  });
}

function webContentsOf(frame: Electron.WebFrameMain): WebContents | null {
  return BrowserWindow.getAllWindows().find((w) => w.webContents.mainFrame.processId === frame.processId)?.webContents ?? null;
}

interface Bounds {
  x: number;
  y: number;
  width: number;
  height: number;
}

function windowStateFile(role: DeviceRole): string {
  return path.join(app.getPath("userData"), `window-${role}.json`);
}

function loadBounds(role: DeviceRole): Bounds | null {
  try {
    const b = JSON.parse(readFileSync(windowStateFile(role), "utf8")) as Bounds;
    return [b.x, b.y, b.width, b.height].every((n) => Number.isFinite(n)) ? b : null;
  } catch {
    return null;
  }
}

function openWindow(ipc: IpcSurface, role: DeviceRole, count: number, index: number, accountLabel: string): BrowserWindow {
  const label = role === "existing" ? `Existing device — signed in as ${accountLabel || "(not signed in)"}` : "New device";
  // The pair demo: the existing device scans the new device's code (the headline direction,
  // docs/architecture.md "The two directions").
  const side: ChannelSide | null = count === 2 ? (role === "existing" ? "scan" : "show") : null;
  const width = 560;
  const saved = loadBounds(role);
  const win = new BrowserWindow({
    title: label,
    width: saved?.width ?? width,
    height: saved?.height ?? 780,
    ...(saved ? { x: saved.x, y: saved.y } : count === 2 ? { x: 40 + index * (width + 20), y: 60 } : {}),
    show: false,
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
      // Middle-click would otherwise open links in new windows (electronegativity AUXCLICK_JS_CHECK).
      disableBlinkFeatures: "Auxclick",
      devTools: !app.isPackaged,
      additionalArguments: [`--qr-login-role=${role}`, ...(side ? [`--qr-login-side=${side}`] : []), `--qr-login-label=${label}`],
    },
  });
  ipc.attachWindow(win.webContents, role);
  win.on("page-title-updated", (e) => e.preventDefault());
  win.once("ready-to-show", () => win.show());
  win.on("close", () => {
    try {
      writeFileSync(windowStateFile(role), JSON.stringify(win.getBounds()));
    } catch {
      /* window state is a convenience */
    }
  });
  void win.loadURL(`${ORIGIN}/index.html`);
  return win;
}
