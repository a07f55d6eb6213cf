// The app's windows: hardened webPreferences, the saved position (kept on a display that is connected
// now), and what the display-media handler needs to know about them (which window is which, and which
// is the other of the pair).
import { app, BrowserWindow, screen } from "electron";
import type { WebContents } from "electron";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ChannelSide, DeviceRole } from "../../contract/flow.js";
import { APP_ORIGIN } from "./origin.js";
import { fitToWorkArea, type Rect } from "./window-bounds.js";

export interface WindowSpec {
  /** Fixed role, or null: the renderer chooses (account mode's first-run screen). */
  role: DeviceRole | null;
  side: ChannelSide | null;
  /** Place in a pair shown side by side (index of count). */
  index: number;
  count: number;
}

export interface AppWindow {
  readonly window: BrowserWindow;
  readonly spec: WindowSpec;
}

function stateFile(spec: WindowSpec): string {
  return path.join(app.getPath("userData"), `window-${spec.role ?? "main"}.json`);
}

function loadBounds(spec: WindowSpec): Rect | null {
  try {
    const b = JSON.parse(readFileSync(stateFile(spec), "utf8")) as Rect;
    return [b.x, b.y, b.width, b.height].every((n) => Number.isFinite(n)) && b.width > 0 && b.height > 0 ? b : null;
  } catch {
    return null;
  }
}

/** The saved bounds on a display that is connected now (the one they mostly overlap, else another). */
function restoredBounds(spec: WindowSpec): Rect | null {
  const saved = loadBounds(spec);
  if (!saved) return null;
  const { workArea } = screen.getDisplayMatching(saved);
  // A display without a size (none known yet): let Electron place the window.
  return workArea.width > 0 && workArea.height > 0 ? fitToWorkArea(saved, workArea) : null;
}

/** Window title (also the name desktop capture shows for it); names no account. */
export function windowTitle(spec: WindowSpec): string {
  return spec.role === "existing" ? "Existing device" : spec.role === "new" ? "New device" : "qr-login";
}

export function openAppWindow(spec: WindowSpec, preload: string, onCreated: (webContents: WebContents) => void): AppWindow {
  const width = 560;
  const saved = restoredBounds(spec);
  const win = new BrowserWindow({
    title: windowTitle(spec),
    width: saved?.width ?? width,
    height: saved?.height ?? 780,
    ...(saved ? { x: saved.x, y: saved.y } : spec.count === 2 ? { x: 40 + spec.index * (width + 20), y: 60 } : {}),
    show: false,
    webPreferences: {
      preload,
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
      // Visible to every local user in `ps`: the role and side only, nothing about the account.
      additionalArguments: [...(spec.role ? [`--qr-login-role=${spec.role}`] : []), ...(spec.side ? [`--qr-login-side=${spec.side}`] : [])],
    },
  });
  onCreated(win.webContents);
  win.on("page-title-updated", (e) => e.preventDefault());
  win.once("ready-to-show", () => win.show());
  win.on("close", () => {
    try {
      writeFileSync(stateFile(spec), JSON.stringify(win.getBounds()));
    } catch {
      /* window state is a convenience */
    }
  });
  void win.loadURL(`${APP_ORIGIN}/index.html`);
  return { window: win, spec };
}

/** The windows this app opened, for the display-media handler. */
export class WindowSet {
  private readonly list: AppWindow[] = [];

  add(w: AppWindow): void {
    this.list.push(w);
    w.window.on("closed", () => this.list.splice(this.list.indexOf(w), 1));
  }

  all(): AppWindow[] {
    return [...this.list];
  }

  of(webContents: WebContents): AppWindow | null {
    return this.list.find((w) => !w.window.isDestroyed() && w.window.webContents === webContents) ?? null;
  }

  /** The other window of a pair of two; null for a single window. */
  partnerOf(webContents: WebContents): WebContents | null {
    const own = this.of(webContents);
    if (!own || own.spec.count !== 2) return null;
    return this.list.find((w) => w !== own && !w.window.isDestroyed() && w.spec.count === 2)?.window.webContents ?? null;
  }

  /** Media source id ("window:…:0", the form desktopCapturer uses) of one of our windows. */
  sourceIdOf(webContents: WebContents): string | null {
    const w = this.of(webContents);
    return w ? w.window.getMediaSourceId() : null;
  }
}
