// A stand-in for the `electron` module of Electron 45 (the binary cannot be downloaded on the CI
// machines), for main-process code under test. It behaves like Electron where this app depends on it,
// and each behaviour says which Electron document or source it follows (paths are in the
// electron/electron repository; the API shapes are those of node_modules/electron/electron.d.ts):
//   - permission checks get `requestingOrigin` as the origin serialised as a URL, "app://qr-login/"
//     with the trailing slash (shell/browser/web_contents_permission_helper.cc: CheckPermission uses
//     GetLastCommittedOrigin().GetURL(); Electron's spec/api-session-spec.ts expects the slash);
//   - the camera is checked ("media", details.mediaType) before it is requested ("media",
//     details.mediaTypes); writing to the clipboard is a checked permission too (docs/api/session.md lists
//     clipboard-sanitized-write for setPermissionCheckHandler): both must allow it;
//   - getDisplayMedia is first a "media" request with no device media types, then the display-media
//     handler, whose callback accepts null (a refusal) and throws for {} when video was requested
//     (shell/browser/electron_browser_context.cc, DisplayMediaDeviceChosen);
//   - webContents.fromFrame finds the WebContents of a frame (docs/api/web-contents.md);
//   - app.quit emits a preventable before-quit; app.exit does not (docs/api/app.md);
//   - ipcMain.handle refuses a second handler for one channel (docs/api/ipc-main.md) and arguments and
//     results are structured-cloned (docs/tutorial/ipc.md);
//   - safeStorage reports basic_text on Linux without a keyring (docs/api/safe-storage.md);
//   - screen works only once the app is ready (docs/api/screen.md), and getDisplayMatching answers
//     the display a rectangle overlaps most, else the primary one (see `screen` below).
// What the page does (a camera request, a clipboard write, a screen capture, an IPC call) is driven by
// the test through the `page` helpers below.
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

type Fn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

class Emitter {
  private listeners = new Map<string, { fn: Fn; once: boolean }[]>();
  on(event: string, fn: Fn): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), { fn, once: false }]);
    return this;
  }
  once(event: string, fn: Fn): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), { fn, once: true }]);
    return this;
  }
  off(event: string, fn: Fn): this {
    this.listeners.set(event, (this.listeners.get(event) ?? []).filter((l) => l.fn !== fn));
    return this;
  }
  removeListener(event: string, fn: Fn): this {
    return this.off(event, fn);
  }
  listenerCount(event: string): number {
    return this.listeners.get(event)?.length ?? 0;
  }
  emit(event: string, ...args: unknown[]): boolean {
    const list = this.listeners.get(event) ?? [];
    this.listeners.set(event, list.filter((l) => !l.once));
    for (const l of list) l.fn(...args);
    return list.length > 0;
  }
}

/** An event with preventDefault, as Electron passes to will-navigate, before-quit, … */
function preventable(): { defaultPrevented: boolean; preventDefault(): void } {
  return {
    defaultPrevented: false,
    preventDefault() {
      this.defaultPrevented = true;
    },
  };
}

/** The origin of a URL as Chromium serialises it for permission checks: "scheme://host[:port]/". */
export function originUrlOf(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}/`;
}

export interface FakeOptions {
  isPackaged?: boolean;
  platform?: NodeJS.Platform;
  /** safeStorage: "gnome_libsecret" (a keyring), "basic_text" (none, Linux), or "unavailable". */
  keyring?: "gnome_libsecret" | "basic_text" | "unavailable";
  /** systemPreferences.getMediaAccessStatus("screen") on macOS. */
  screenAccess?: "not-determined" | "granted" | "denied" | "restricted" | "unknown";
  /** Screens desktopCapturer reports besides our windows. */
  screens?: { id: string; name: string }[];
  /** Other applications' windows desktopCapturer reports. */
  foreignWindows?: { id: string; name: string }[];
  userData?: string;
  /** The displays connected (screen.getAllDisplays); the first is the primary one. */
  displays?: FakeDisplay[];
}

export interface FakeRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** docs/api/structures/display.md, the fields this app reads: id, bounds, workArea (bounds less panels and docks). */
export interface FakeDisplay {
  id: number;
  bounds: FakeRect;
  workArea: FakeRect;
}

/** One 1920×1080 display with a 32 px panel at the top. */
export const DEFAULT_DISPLAY: FakeDisplay = { id: 1, bounds: { x: 0, y: 0, width: 1920, height: 1080 }, workArea: { x: 0, y: 32, width: 1920, height: 1048 } };

function intersectionArea(a: FakeRect, b: FakeRect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

export function createElectronFake(opts: FakeOptions = {}) {
  const userData = opts.userData ?? mkdtempSync(path.join(tmpdir(), "qr-login-electron-fake-"));
  const record: Record<string, unknown[][]> = {};
  const log = (name: string, ...args: unknown[]): void => {
    (record[name] ??= []).push(args);
  };
  let nextWcId = 1;
  let nextWinId = 1;
  const nextProcessId = 100; // one renderer process for our origin (process-per-site)
  const allContents: FakeWebContents[] = [];

  // docs/api/web-frame-main.md: url, origin, processId, routingId, parent (null for a main frame).
  class FakeWebFrameMain {
    url = "";
    readonly parent = null;
    constructor(
      readonly processId: number,
      readonly routingId: number,
    ) {}
    get origin(): string {
      return this.url ? originUrlOf(this.url).slice(0, -1) : "";
    }
  }

  class FakeWebContents extends Emitter {
    readonly id = nextWcId++;
    // Renderer processes are per site: two windows of one origin may share a process, so a process id
    // does not identify a window (hence webContents.fromFrame). The fake gives both the same process.
    readonly mainFrame: FakeWebFrameMain;
    readonly sent: { channel: string; args: unknown[] }[] = [];
    windowOpenHandler: Fn | null = null;
    private destroyed = false;
    constructor(processId: number) {
      super();
      this.mainFrame = new FakeWebFrameMain(processId, 1);
      allContents.push(this);
    }
    /** docs/api/web-contents.md contents.send: arguments are serialized with the Structured Clone Algorithm. */
    send(channel: string, ...args: unknown[]): void {
      if (this.destroyed) throw new Error("Object has been destroyed");
      this.sent.push({ channel, args: structuredClone(args) });
    }
    isDestroyed(): boolean {
      return this.destroyed;
    }
    destroy(): void {
      if (this.destroyed) return;
      this.destroyed = true;
      this.emit("destroyed");
    }
    getURL(): string {
      return this.mainFrame.url;
    }
    async loadURL(url: string): Promise<void> {
      this.mainFrame.url = url;
      this.emit("did-finish-load");
    }
    setWindowOpenHandler(fn: Fn): void {
      this.windowOpenHandler = fn;
    }
    getTitle(): string {
      return FakeBrowserWindow.fromWebContents(this)?.getTitle() ?? "";
    }
  }

  const webContentsModule = {
    /** docs/api/web-contents.md: "Returns WebContents | undefined - A WebContents instance with the given WebFrameMain". */
    fromFrame: (frame: FakeWebFrameMain): FakeWebContents | undefined => allContents.find((wc) => wc.mainFrame === frame),
    fromId: (id: number): FakeWebContents | undefined => allContents.find((wc) => wc.id === id),
    getAllWebContents: (): FakeWebContents[] => allContents.filter((wc) => !wc.isDestroyed()),
  };

  class FakeBrowserWindow extends Emitter {
    static all: FakeBrowserWindow[] = [];
    readonly id = nextWinId++;
    readonly webContents: FakeWebContents;
    private destroyed = false;
    private title: string;
    focused = 0;
    shown = false;
    constructor(readonly opts: Record<string, any>) { // eslint-disable-line @typescript-eslint/no-explicit-any
      super();
      // One renderer process for our origin (process-per-site).
      this.webContents = new FakeWebContents(nextProcessId);
      this.title = typeof opts.title === "string" ? opts.title : "Electron";
      FakeBrowserWindow.all.push(this);
      // docs/api/app.md 'web-contents-created': "Emitted when a new webContents is created."
      app.emit("web-contents-created", preventable(), this.webContents);
    }
    static getAllWindows(): FakeBrowserWindow[] {
      return FakeBrowserWindow.all.filter((w) => !w.destroyed);
    }
    /** docs/api/browser-window.md: "Returns BrowserWindow | null - The window that owns the given webContents". */
    static fromWebContents(wc: FakeWebContents): FakeBrowserWindow | null {
      return FakeBrowserWindow.all.find((w) => w.webContents === wc && !w.destroyed) ?? null;
    }
    loadURL(url: string): Promise<void> {
      return this.webContents.loadURL(url).then(() => {
        this.emit("ready-to-show");
      });
    }
    show(): void {
      this.shown = true;
    }
    getTitle(): string {
      return this.title;
    }
    /** docs/api/browser-window.md: "Window id in the format of DesktopCapturerSource's id. For example "window:1324:0"." */
    getMediaSourceId(): string {
      return `window:${4000 + this.id}:0`;
    }
    isDestroyed(): boolean {
      return this.destroyed;
    }
    isMinimized(): boolean {
      return false;
    }
    restore(): void {}
    focus(): void {
      this.focused++;
    }
    /** Where the window was put (docs/api/browser-window.md: without x and y it is centred). */
    getBounds(): FakeRect {
      const width = typeof this.opts.width === "number" ? this.opts.width : 800;
      const height = typeof this.opts.height === "number" ? this.opts.height : 600;
      if (typeof this.opts.x === "number" && typeof this.opts.y === "number") return { x: this.opts.x, y: this.opts.y, width, height };
      const wa = displays[0]!.workArea;
      return { x: wa.x + Math.round((wa.width - width) / 2), y: wa.y + Math.round((wa.height - height) / 2), width, height };
    }
    close(): void {
      if (this.destroyed) return;
      const e = preventable();
      this.emit("close", e);
      if (e.defaultPrevented) return;
      this.destroyed = true;
      this.webContents.destroy();
      this.emit("closed");
      if (FakeBrowserWindow.getAllWindows().length === 0 && !quitting) app.emit("window-all-closed");
    }
  }

  let quitting = false;
  let ready = false;
  let markReady!: () => void;
  const readyPromise = new Promise<void>((resolve) => (markReady = resolve));

  class FakeApp extends Emitter {
    isPackaged = opts.isPackaged ?? false;
    /** Set when the process would end: app.exit(code), or a quit that nothing prevented. */
    exited: { code: number; via: "exit" | "quit" } | null = null;
    requestSingleInstanceLock(): boolean {
      return true;
    }
    isReady(): boolean {
      return ready;
    }
    whenReady(): Promise<void> {
      return readyPromise;
    }
    getPath(name: string): string {
      if (name !== "userData") throw new Error(`fake app.getPath(${name})`);
      return userData;
    }
    /**
     * docs/api/app.md app.quit(): "Try to close all windows. The before-quit event will be emitted first.
     * If all windows are successfully closed, the will-quit event will be emitted and by default the
     * application will terminate." before-quit: "Calling event.preventDefault() will prevent the default
     * behavior, which is terminating the application."
     */
    quit(): void {
      log("quit");
      const before = preventable();
      this.emit("before-quit", before);
      if (before.defaultPrevented) return;
      quitting = true;
      for (const w of FakeBrowserWindow.getAllWindows()) w.close();
      const will = preventable();
      this.emit("will-quit", will);
      quitting = false;
      if (will.defaultPrevented) return;
      this.exited ??= { code: 0, via: "quit" };
      this.emit("quit", preventable(), 0);
    }
    /** docs/api/app.md app.exit(): "Exits immediately … the before-quit and will-quit events will not be emitted." */
    exit(code = 0): void {
      log("exit", code);
      this.exited ??= { code, via: "exit" };
    }
  }
  const app = new FakeApp();

  // ---- permissions and media (shell/browser/electron_permission_manager.cc) -----------------------------

  type Handler = Fn | null;
  class FakeSession {
    requestHandler: Handler = null;
    checkHandler: Handler = null;
    displayMediaHandler: Handler = null;
    /** Errors the display-media callback threw (in Electron: thrown into main's JavaScript). */
    readonly callbackErrors: Error[] = [];
    setPermissionRequestHandler(h: Handler): void {
      this.requestHandler = h;
    }
    setPermissionCheckHandler(h: Handler): void {
      this.checkHandler = h;
    }
    setDisplayMediaRequestHandler(h: Handler): void {
      this.displayMediaHandler = h;
    }

    /**
     * ElectronPermissionManager::CheckPermissionWithDetails: without a handler everything but
     * deprecated-sync-clipboard-read is allowed; with one it gets (webContents, permission,
     * requestingOrigin, details) — requestingOrigin from GetLastCommittedOrigin().GetURL(), so with
     * the trailing slash; details.requestingUrl is the frame's URL, isMainFrame, mediaType for media.
     */
    checkPermission(wc: FakeWebContents, permission: string, details: Record<string, unknown> = {}): boolean {
      if (!this.checkHandler) return permission !== "deprecated-sync-clipboard-read";
      const url = wc.mainFrame.url;
      return this.checkHandler(wc, permission, originUrlOf(url), { ...details, requestingUrl: url, isMainFrame: true }) === true;
    }

    /**
     * RequestPermissionsWithDetails: without a handler everything is granted; with one it gets
     * (webContents, permission, callback, details) with details.requestingUrl and isMainFrame.
     */
    requestPermission(wc: FakeWebContents, permission: string, details: Record<string, unknown> = {}): Promise<boolean> {
      if (!this.requestHandler) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => this.requestHandler!(wc, permission, (granted: boolean) => resolve(granted === true), { ...details, requestingUrl: wc.mainFrame.url, isMainFrame: true }));
    }
  }
  const defaultSession = new FakeSession();

  // ---- desktop capture ---------------------------------------------------------------------------------

  /** docs/api/structures/desktop-capturer-source.md: id, name, thumbnail, display_id, appIcon. */
  const desktopCapturer = {
    getSources: async (o: { types: ("window" | "screen")[] }) => {
      log("getSources", o);
      const out: { id: string; name: string; display_id: string; thumbnail: unknown; appIcon: unknown }[] = [];
      if (o.types.includes("screen")) for (const s of opts.screens ?? [{ id: "screen:1:0", name: "Entire screen" }]) out.push({ ...s, display_id: "1", thumbnail: null, appIcon: null });
      if (o.types.includes("window")) {
        for (const w of FakeBrowserWindow.getAllWindows()) out.push({ id: w.getMediaSourceId(), name: w.getTitle(), display_id: "", thumbnail: null, appIcon: null });
        for (const s of opts.foreignWindows ?? []) out.push({ ...s, display_id: "", thumbnail: null, appIcon: null });
      }
      return out;
    },
  };

  // ---- screen (docs/api/screen.md) ---------------------------------------------------------------------

  let displays: FakeDisplay[] = structuredClone(opts.displays ?? [DEFAULT_DISPLAY]);
  /** docs/api/screen.md: "This module cannot be used until the `ready` event of the `app` module is emitted." */
  const whenReady = (): void => {
    if (!ready) throw new Error("screen used before the app's ready event");
  };
  const screen = {
    /** "An array of displays that are currently available." */
    getAllDisplays: (): FakeDisplay[] => (whenReady(), structuredClone(displays)),
    /** "The primary display." */
    getPrimaryDisplay: (): FakeDisplay => (whenReady(), structuredClone(displays[0]!)),
    /**
     * "The display that most closely intersects the provided bounds." On Linux as Chromium's ScreenBase
     * and WaylandScreen::GetDisplayMatching (ui/display/screen_base.cc,
     * ui/ozone/platform/wayland/host/wayland_screen.cc) do it: the display with the biggest
     * intersection (display::FindDisplayWithBiggestIntersection, ui/display/display_finder.cc), else the
     * primary display. (Windows answers the nearest monitor instead: ScreenWin, MonitorFromRect with
     * MONITOR_DEFAULTTONEAREST; either way a display that is connected.)
     */
    getDisplayMatching: (rect: FakeRect): FakeDisplay => {
      whenReady();
      let best: FakeDisplay | null = null;
      let bestArea = 0;
      for (const d of displays) {
        const area = intersectionArea(d.bounds, rect);
        if (area > bestArea) [best, bestArea] = [d, area];
      }
      return structuredClone(best ?? displays[0]!);
    },
  };

  // ---- dialogs, shell, preferences -----------------------------------------------------------------------

  let messageBoxAnswer: (o: { buttons?: string[]; message?: string }) => number = () => 0;
  const dialog = {
    showErrorBox: (title: string, content: string) => log("showErrorBox", title, content),
    showMessageBox: async (...args: unknown[]) => {
      const o = (args.length === 2 ? args[1] : args[0]) as { buttons?: string[]; message?: string };
      log("showMessageBox", o);
      return { response: messageBoxAnswer(o), checkboxChecked: false };
    },
  };
  const shell = { openExternal: async (url: string) => log("openExternal", url) };
  const systemPreferences = { getMediaAccessStatus: (type: string) => (type === "screen" ? (opts.screenAccess ?? "granted") : "granted") };

  // ---- safeStorage (docs/api/safe-storage.md) -------------------------------------------------------------

  const key = 0x5a;
  const safeStorage = {
    isAsyncEncryptionAvailable: async () => ready && opts.keyring !== "unavailable",
    isEncryptionAvailable: () => ready && opts.keyring !== "unavailable",
    /** Linux only; "unknown" before ready; basic_text when no keyring was found. */
    getSelectedStorageBackend: () => (!ready ? "unknown" : opts.keyring === "basic_text" ? "basic_text" : "gnome_libsecret"),
    encryptStringAsync: async (plain: string) => Buffer.concat([Buffer.from("v11"), Buffer.from(plain, "utf8").map((b) => b ^ key)]),
    decryptStringAsync: async (data: Buffer) => {
      if (data.subarray(0, 3).toString() !== "v11") throw new Error("Error while decrypting the ciphertext provided to safeStorage.decryptString.");
      return { result: Buffer.from(data.subarray(3).map((b) => b ^ key)).toString("utf8"), shouldReEncrypt: false };
    },
  };

  // ---- protocol and net ----------------------------------------------------------------------------------

  const schemes: Record<string, Fn> = {};
  const protocol = {
    /** docs/api/protocol.md: "This method can only be used before the ready event of the app module gets emitted". */
    registerSchemesAsPrivileged: (list: unknown) => {
      if (ready) throw new Error("protocol.registerSchemesAsPrivileged should be called before app is ready");
      log("registerSchemesAsPrivileged", list);
    },
    handle: (scheme: string, handler: Fn) => {
      schemes[scheme] = handler;
    },
  };
  const net = { fetch: async (url: string) => new Response(readFileSync(fileURLToPath(url))) };

  // ---- IPC (docs/api/ipc-main.md) ----------------------------------------------------------------------------

  const ipcHandlers = new Map<string, Fn>();
  const ipcMain = {
    handle: (channel: string, fn: Fn) => {
      if (ipcHandlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
      ipcHandlers.set(channel, fn);
    },
    removeHandler: (channel: string) => ipcHandlers.delete(channel),
  };

  const module = { app, BrowserWindow: FakeBrowserWindow, webContents: webContentsModule, session: { defaultSession }, protocol, net, shell, dialog, desktopCapturer, systemPreferences, safeStorage, ipcMain, screen };

  /** What a page in a window does; each goes through the handlers main installed. */
  const page = {
    /** ipcRenderer.invoke from a window's main frame: structured clone both ways. */
    async invoke(wc: FakeWebContents, channel: string, ...args: unknown[]): Promise<unknown> {
      const h = ipcHandlers.get(channel);
      if (!h) throw new Error(`Error invoking remote method '${channel}': Error: No handler registered for '${channel}'`);
      const event = { sender: wc, senderFrame: wc.mainFrame, processId: wc.mainFrame.processId, frameId: wc.mainFrame.routingId };
      return structuredClone(await h(event, ...structuredClone(args)));
    },
    /** A GET of app://… (what loadURL and the page's subresources do). */
    async fetch(url: string): Promise<Response> {
      const scheme = new URL(url).protocol.slice(0, -1);
      const h = schemes[scheme];
      if (!h) return new Response("ERR_UNKNOWN_URL_SCHEME", { status: 404 });
      return h(new Request(url));
    },
    /**
     * getUserMedia({ video: true }): the camera's capabilities are checked first (Chromium's media
     * device permission checker → WebContentsPermissionHelper::CheckMediaAccessPermission: "media",
     * details.securityOrigin and mediaType "video"); a denied check leaves no device to open. Then
     * RequestMediaAccessPermission asks "media" with details.mediaTypes and securityOrigin.
     */
    async getUserMedia(wc: FakeWebContents, c: { video: boolean; audio: boolean }): Promise<"stream"> {
      const securityOrigin = originUrlOf(wc.mainFrame.url);
      for (const [type, wanted] of [["video", c.video], ["audio", c.audio]] as const) {
        if (wanted && !defaultSession.checkPermission(wc, "media", { mediaType: type, securityOrigin })) throw Object.assign(new Error("Requested device not found"), { name: "NotFoundError" });
      }
      const mediaTypes = [...(c.audio ? ["audio"] : []), ...(c.video ? ["video"] : [])];
      if (!(await defaultSession.requestPermission(wc, "media", { mediaTypes, securityOrigin }))) throw Object.assign(new Error("Permission denied"), { name: "NotAllowedError" });
      return "stream";
    },
    /** navigator.clipboard.writeText: a checked permission (docs/api/session.md), then requested (blink ClipboardPromise). */
    async clipboardWriteText(wc: FakeWebContents): Promise<void> {
      if (!defaultSession.checkPermission(wc, "clipboard-sanitized-write")) throw Object.assign(new Error("Write permission denied."), { name: "NotAllowedError" });
      if (!(await defaultSession.requestPermission(wc, "clipboard-sanitized-write"))) throw Object.assign(new Error("Write permission denied."), { name: "NotAllowedError" });
    },
    /**
     * getDisplayMedia: RequestMediaAccessPermission with no device media types ("media", mediaTypes []),
     * then the display-media handler (MediaAccessAllowed → ChooseDisplayMediaDevice; without a handler:
     * NOT_SUPPORTED). Its callback follows DisplayMediaDeviceChosen: null/undefined refuses; a non-object
     * throws; video requested but not given throws "Video was requested, but no video stream was
     * provided"; a video that is neither {id, name} nor a frame throws.
     */
    async getDisplayMedia(wc: FakeWebContents, c: { video: boolean; audio: boolean } = { video: true, audio: false }): Promise<{ video: { id: string; name: string } | FakeWebFrameMain }> {
      const securityOrigin = originUrlOf(wc.mainFrame.url);
      if (!(await defaultSession.requestPermission(wc, "media", { mediaTypes: [], securityOrigin }))) throw Object.assign(new Error("Permission denied"), { name: "NotAllowedError" });
      const handler = defaultSession.displayMediaHandler;
      if (!handler) throw Object.assign(new Error("Not supported"), { name: "NotSupportedError" });
      return new Promise((resolve, reject) => {
        const refuse = () => reject(Object.assign(new Error("Could not start video source"), { name: "NotAllowedError" }));
        const callback = (streams?: unknown): void => {
          if (streams === null || streams === undefined) return refuse();
          const fail = (message: string): never => {
            const err = new TypeError(message);
            defaultSession.callbackErrors.push(err);
            refuse();
            throw err;
          };
          if (typeof streams !== "object") fail("Display Media Request streams callback must be called with null or a valid object");
          const video = (streams as { video?: unknown }).video;
          if (c.video && video !== undefined) {
            const v = video as { id?: unknown; name?: unknown };
            if (video instanceof FakeWebFrameMain) return resolve({ video });
            if (typeof v.id === "string" && typeof v.name === "string") return resolve({ video: { id: v.id, name: v.name } });
            fail("video must be a WebFrameMain or DesktopCapturerSource");
          }
          if (c.video) fail("Video was requested, but no video stream was provided");
          refuse();
        };
        handler({ frame: wc.mainFrame, securityOrigin, videoRequested: c.video, audioRequested: c.audio, userGesture: true }, callback);
      });
    },
  };

  return {
    module,
    app,
    BrowserWindow: FakeBrowserWindow,
    session: defaultSession,
    page,
    record,
    userData,
    ipcHandlers,
    /** app 'ready' (docs/api/app.md): whenReady resolves, the keyring is known. */
    ready(): void {
      if (ready) return;
      ready = true;
      markReady();
      app.emit("ready");
    },
    /** Monitors plugged in or unplugged: the displays from now on (the first is the primary one). */
    setDisplays(list: FakeDisplay[]): void {
      displays = structuredClone(list);
    },
    /** Which button the next message boxes press (by the box's options). */
    answerMessageBoxes(fn: (o: { buttons?: string[]; message?: string }) => number): void {
      messageBoxAnswer = fn;
    },
  };
}

export type ElectronFake = ReturnType<typeof createElectronFake>;
