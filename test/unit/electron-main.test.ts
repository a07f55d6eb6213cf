// main/app/index.ts in plain Node with a mocked `electron`: the windows it opens and their security
// settings, the app:// protocol handler, navigation/new-window blocking, and the permission and
// screen-capture handlers (camera/screen only for a window whose flow is scanning). Runs with
// --homeserver so no development stack is started.
import { jest, describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

type Fn = (...args: unknown[]) => unknown;
const userData = mkdtempSync(path.join(tmpdir(), "qr-login-electron-main-"));
const appHandlers = new Map<string, Fn>();
const ipcHandlers = new Map<string, Fn>();
const calls: Record<string, unknown[][]> = {};
const record = (name: string) => (...args: unknown[]) => {
  (calls[name] ??= []).push(args);
};
let protocolHandler: ((req: Request) => Promise<Response> | Response) | null = null;
let permissionRequest: Fn | null = null;
let permissionCheck: Fn | null = null;
let displayMedia: Fn | null = null;
let nextWcId = 1;

class FakeWebContents {
  readonly id = nextWcId++;
  readonly mainFrame = { processId: 100 + this.id, routingId: 1, url: "app://qr-login/index.html" };
  readonly sent: unknown[] = [];
  private listeners = new Map<string, Fn[]>();
  windowOpenHandler: Fn | null = null;
  send(...a: unknown[]): void {
    this.sent.push(a);
  }
  isDestroyed(): boolean {
    return false;
  }
  on(ev: string, fn: Fn): this {
    this.listeners.set(ev, [...(this.listeners.get(ev) ?? []), fn]);
    return this;
  }
  once(ev: string, fn: Fn): this {
    return this.on(ev, fn);
  }
  emit(ev: string, ...a: unknown[]): void {
    for (const fn of this.listeners.get(ev) ?? []) fn(...a);
  }
  setWindowOpenHandler(fn: Fn): void {
    this.windowOpenHandler = fn;
  }
}

class FakeBrowserWindow {
  static all: FakeBrowserWindow[] = [];
  readonly webContents = new FakeWebContents();
  loaded: string | null = null;
  focused = 0;
  constructor(readonly opts: Record<string, any>) { // eslint-disable-line @typescript-eslint/no-explicit-any
    FakeBrowserWindow.all.push(this);
  }
  static getAllWindows(): FakeBrowserWindow[] {
    return FakeBrowserWindow.all;
  }
  on(): this {
    return this;
  }
  once(): this {
    return this;
  }
  loadURL(u: string): Promise<void> {
    this.loaded = u;
    return Promise.resolve();
  }
  isDestroyed(): boolean {
    return false;
  }
  isMinimized(): boolean {
    return false;
  }
  restore(): void {}
  focus(): void {
    this.focused++;
  }
  getBounds() {
    return { x: 0, y: 0, width: 1, height: 1 };
  }
}

jest.unstable_mockModule("electron", () => ({
  app: {
    isPackaged: false,
    requestSingleInstanceLock: () => true,
    whenReady: () => Promise.resolve(),
    getPath: () => userData,
    on: (ev: string, fn: Fn) => appHandlers.set(ev, fn),
    quit: record("quit"),
    exit: record("exit"),
  },
  protocol: {
    registerSchemesAsPrivileged: record("registerSchemesAsPrivileged"),
    handle: (_scheme: string, fn: (req: Request) => Response) => (protocolHandler = fn),
  },
  net: { fetch: async (url: string) => new Response(readFileSync(fileURLToPath(url))) },
  safeStorage: { isEncryptionAvailable: () => false, encryptString: () => Buffer.alloc(0), decryptString: () => "" },
  session: {
    defaultSession: {
      setPermissionRequestHandler: (fn: Fn) => (permissionRequest = fn),
      setPermissionCheckHandler: (fn: Fn) => (permissionCheck = fn),
      setDisplayMediaRequestHandler: (fn: Fn) => (displayMedia = fn),
    },
  },
  shell: { openExternal: record("openExternal") },
  desktopCapturer: {
    getSources: async () => [
      { id: "screen:0:0", name: "Entire screen" },
      { id: "window:42:0", name: "New device" },
    ],
  },
  BrowserWindow: FakeBrowserWindow,
  ipcMain: { handle: (ch: string, fn: Fn) => ipcHandlers.set(ch, fn), removeHandler: (ch: string) => ipcHandlers.delete(ch) },
}));

const savedArgv = process.argv;

beforeAll(async () => {
  process.argv = [process.argv[0]!, "main.js", "--homeserver", "https://hs.example.org", "--rendezvous", "https://rv.example.org"];
  await import("../../main/app/index.js");
  const end = Date.now() + 5000;
  while (FakeBrowserWindow.all.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
});

afterAll(() => {
  process.argv = savedArgv;
  rmSync(userData, { recursive: true, force: true });
});

const win = (role: "existing" | "new") => FakeBrowserWindow.all.find((w) => (w.opts.webPreferences.additionalArguments as string[]).includes(`--qr-login-role=${role}`))!;

describe("windows", () => {
  test("a privileged app:// scheme and a single-instance lock", () => {
    expect(calls.registerSchemesAsPrivileged?.[0]?.[0]).toEqual([{ scheme: "app", privileges: { standard: true, secure: true } }]);
    expect(calls.exit).toBeUndefined();
  });

  test("two windows side by side: existing scans, new shows", () => {
    expect(FakeBrowserWindow.all).toHaveLength(2);
    const e = win("existing");
    const n = win("new");
    expect(e.opts.title).toMatch(/^Existing device — signed in as/);
    expect(n.opts.title).toBe("New device");
    expect(e.opts.webPreferences.additionalArguments).toContain("--qr-login-side=scan");
    expect(n.opts.webPreferences.additionalArguments).toContain("--qr-login-side=show");
    expect(e.opts.x + e.opts.width).toBeLessThanOrEqual(n.opts.x);
    for (const w of FakeBrowserWindow.all) expect(w.loaded).toBe("app://qr-login/index.html");
  });

  test("hardened webPreferences", () => {
    for (const w of FakeBrowserWindow.all) {
      const p = w.opts.webPreferences;
      expect(p).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInSubFrames: false, webSecurity: true, allowRunningInsecureContent: false, webviewTag: false });
      expect(p.preload).toMatch(/dist[\\/]preload[\\/]index\.cjs$/);
      expect(p.experimentalFeatures).toBeUndefined();
      expect(p.enableBlinkFeatures).toBeUndefined();
    }
  });

  test("a second instance focuses the existing window", () => {
    const before = FakeBrowserWindow.all.reduce((n, w) => n + w.focused, 0);
    appHandlers.get("second-instance")!();
    expect(FakeBrowserWindow.all.reduce((n, w) => n + w.focused, 0)).toBe(before + 1);
  });
});

describe("app:// protocol", () => {
  test("serves the renderer and nothing outside it", async () => {
    const ok = await protocolHandler!(new Request("app://qr-login/index.html"));
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("Content-Security-Policy");
    for (const bad of ["app://qr-login/../../package.json", "app://qr-login/%2e%2e/%2e%2e/package.json", "app://other/index.html"]) {
      expect((await protocolHandler!(new Request(bad))).status).toBe(404);
    }
  });
});

describe("navigation", () => {
  test("navigation, redirects, webviews and new windows are refused", () => {
    const contents = new FakeWebContents();
    appHandlers.get("web-contents-created")!({}, contents);
    for (const ev of ["will-navigate", "will-redirect", "will-attach-webview"]) {
      const e = { prevented: false, preventDefault() {
        this.prevented = true;
      } };
      contents.emit(ev, e);
      expect(e.prevented).toBe(true);
    }
    expect(contents.windowOpenHandler!({ url: "https://evil.example/" })).toEqual({ action: "deny" });
  });
});

describe("permissions follow the flow", () => {
  const ask = (wc: FakeWebContents, permission: string, mediaTypes: string[] = ["video"]) =>
    new Promise<boolean>((resolve) => permissionRequest!(wc, permission, resolve, { mediaTypes, requestingUrl: "app://qr-login/index.html" }));

  test("camera refused until the window's flow scans; then video only", async () => {
    const n = win("new");
    expect(await ask(n.webContents, "media")).toBe(false);
    // The new window starts a scanning flow through the real IPC surface.
    const start = ipcHandlers.get("qr-login:start")!;
    const r = await start({ sender: n.webContents, senderFrame: n.webContents.mainFrame }, { role: "new", side: "scan" });
    expect(r).toMatchObject({ ok: true });
    expect(await ask(n.webContents, "media")).toBe(true);
    expect(await ask(n.webContents, "media", ["video", "audio"])).toBe(false);
    expect(await ask(n.webContents, "notifications")).toBe(false);
    expect(await ask(n.webContents, "clipboard-read")).toBe(false);
    expect(await ask(n.webContents, "clipboard-sanitized-write")).toBe(true); // "Copy code as text"
    expect(await ask(n.webContents, "geolocation")).toBe(false);
    expect(permissionCheck!(n.webContents, "media", "app://qr-login")).toBe(true);
    expect(permissionCheck!(n.webContents, "media", "https://evil.example")).toBe(false);
    // the other window is not scanning
    expect(await ask(win("existing").webContents, "media")).toBe(false);
    // screen capture offers the other window of the pair
    const picked = await new Promise<unknown>((resolve) => displayMedia!({ frame: n.webContents.mainFrame }, resolve));
    expect(picked).toEqual({ video: { id: "window:42:0", name: "New device" } });
    const refused = await new Promise<unknown>((resolve) => displayMedia!({ frame: win("existing").webContents.mainFrame }, resolve));
    expect(refused).toEqual({});
    // after cancel: refused again
    await ipcHandlers.get("qr-login:cancel")!({ sender: n.webContents, senderFrame: n.webContents.mainFrame });
    expect(await ask(n.webContents, "media")).toBe(false);
  });

  test("an existing-device flow without an account fails typed and grants nothing", async () => {
    const e = win("existing");
    const start = ipcHandlers.get("qr-login:start")!;
    const r = await start({ sender: e.webContents, senderFrame: e.webContents.mainFrame }, { role: "existing", side: "scan" });
    expect(r).toMatchObject({ ok: false, error: { code: "other_device_not_signed_in" } });
    expect(await ask(e.webContents, "media")).toBe(false);
  });
});
