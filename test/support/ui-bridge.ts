// UI-test harness: serves the built renderer (dist/renderer) on 127.0.0.1, drives Debian's Chromium with
// playwright-core, and puts a test bridge where Electron's preload would be. The bridge is the real
// main/app/ipc.ts IpcSurface (with a mocked `electron` module, see electronMock): window.qrLogin calls go
// through the same handlers, validation and sender checks as in the app, and events come back through
// the same sanitizing webContents.send. Only the transport differs (page.exposeFunction / evaluate
// instead of Electron IPC), so bytes are tagged ({__bytes:[…]}) to survive JSON.
import http from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { CHROMIUM } from "./system-programs.js";
import type { AppInfo, ChannelSide, DeviceRole } from "../../preload/api.js";
import { ACCOUNT_CHANNEL, SERVER_CHECK_CHANNEL } from "../../preload/api.js";

/** App info for a test window (what main/app/index.ts computes), with the fields overridden. */
export function appInfoFor(over: Partial<AppInfo> = {}): AppInfo {
  return { label: "", account: null, storage: "keychain", homeserverHint: null, rendezvousConfigured: true, dev: null, ...over };
}

export const RENDERER_ORIGIN = "app://qr-login";

type Handler = (event: unknown, ...args: unknown[]) => Promise<unknown>;
export const ipcHandlers = new Map<string, Handler>();

/** Factory for jest.unstable_mockModule("electron", electronMock). */
export function electronMock(): Record<string, unknown> {
  return {
    ipcMain: {
      handle: (ch: string, fn: Handler) => ipcHandlers.set(ch, fn),
      removeHandler: (ch: string) => ipcHandlers.delete(ch),
    },
  };
}

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".map": "application/json" };

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/** Serve a directory read-only on 127.0.0.1 (no directory listing, no path traversal). */
export async function serveDir(dir: string): Promise<StaticServer> {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const rel = path.normalize(decodeURIComponent(u.pathname)).replace(/^([/\\])+/, "") || "index.html";
    const file = path.join(dir, rel);
    if (!file.startsWith(dir + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-store" }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  return {
    url: `http://127.0.0.1:${addr.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive sockets would hold the server open
      }),
  };
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      "--auto-select-desktop-capture-source=Entire screen", // getDisplayMedia without a picker
    ],
  });
}

function encode(v: unknown): unknown {
  if (v instanceof Uint8Array) return { __bytes: Array.from(v) };
  if (Array.isArray(v)) return v.map(encode);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)]));
  return v;
}

function decode(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decode);
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.__bytes)) return Uint8Array.from(o.__bytes as number[]);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decode(x)]));
  }
  return v;
}

/** Runs in the page before any of its scripts: the stand-in for preload/index.ts. */
function pagePreload(init: { channels: Record<string, string>; accountChannel: string; serverCheckChannel: string; initial: { role: string | null; side: string | null } }): void {
  const enc = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return { __bytes: Array.from(v) };
    if (Array.isArray(v)) return v.map(enc);
    if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]));
    return v;
  };
  const dec = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(dec);
    if (typeof v === "object" && v !== null) {
      const o = v as Record<string, unknown>;
      if (Array.isArray(o.__bytes)) return Uint8Array.from(o.__bytes as number[]);
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, dec(x)]));
    }
    return v;
  };
  const w = globalThis as unknown as Record<string, unknown>;
  const invoke = w.__qrLoginInvoke as (ch: string, args: unknown) => Promise<unknown>;
  const listeners = new Set<(e: unknown) => void>();
  const accountListeners = new Set<(e: unknown) => void>();
  const serverCheckListeners = new Set<(e: unknown) => void>();
  w.__qrLoginDeliver = (channel: string, ev: unknown) => {
    const e = dec(ev);
    for (const l of channel === init.accountChannel ? accountListeners : channel === init.serverCheckChannel ? serverCheckListeners : listeners) l(e);
  };
  const call = async (ch: string, ...args: unknown[]): Promise<unknown> => dec(await invoke(ch, enc(args)));
  const c = init.channels;
  w.qrLogin = Object.freeze({
    start: (o: unknown) => call(c.start!, o),
    submitQr: (b: unknown) => call(c.submitQr!, b),
    submitCheckCode: (code: unknown) => call(c.submitCheckCode!, code),
    confirmAccount: (a: unknown) => call(c.confirmAccount!, a),
    openVerificationUri: () => call(c.openVerificationUri!),
    cancel: () => call(c.cancel!),
    retry: () => call(c.retry!),
    onProgress: (l: (e: unknown) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    getAppInfo: () => call(c.getAppInfo!),
    signIn: (h: unknown) => call(c.signIn!, String(h)),
    submitRecoveryKey: (k: unknown) => call(c.submitRecoveryKey!, String(k)),
    openSignInPage: () => call(c.openSignInPage!),
    cancelSignIn: () => call(c.cancelSignIn!),
    signOut: () => call(c.signOut!),
    onAccount: (l: (e: unknown) => void) => {
      accountListeners.add(l);
      return () => accountListeners.delete(l);
    },
    checkServer: () => call(c.checkServer!),
    onServerCheck: (l: (e: unknown) => void) => {
      serverCheckListeners.add(l);
      return () => serverCheckListeners.delete(l);
    },
    initial: Object.freeze({ ...init.initial }),
  });
}

let nextWcId = 100;

/** What main's webContents looks like to ipc.ts, backed by a Playwright page. */
export class BridgedWebContents {
  readonly id = nextWcId++;
  readonly mainFrame = { processId: 1, routingId: this.id, url: `${RENDERER_ORIGIN}/index.html` };
  /** Every event sent to the page (after ipc.ts sanitized it). */
  readonly sent: { channel: string; data: unknown }[] = [];
  private destroyed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private destroyListeners: (() => void)[] = [];
  constructor(readonly page: Page) {}
  send(channel: string, data: unknown): void {
    this.sent.push({ channel, data });
    // Keep delivery order: evaluate calls are chained.
    this.queue = this.queue.then(() => this.page.evaluate(([ch, ev]) => (globalThis as unknown as { __qrLoginDeliver(c: string, e: unknown): void }).__qrLoginDeliver(ch, ev), [channel, encode(data)] as const).catch(() => undefined));
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  once(name: string, fn: () => void): void {
    if (name === "destroyed") this.destroyListeners.push(fn);
  }
  destroy(): void {
    this.destroyed = true;
    for (const fn of this.destroyListeners) fn();
  }
  /** Wait until all queued events reached the page. */
  async flush(): Promise<void> {
    await this.queue;
  }
}

export interface OpenedWindow {
  page: Page;
  wc: BridgedWebContents;
  /** Every request result that crossed back to the page. */
  results: unknown[];
  consoleErrors: string[];
}

/** Open one "window": a page with the bridge preload, registered with the IPC surface. */
export async function openWindow(
  browser: Browser,
  baseUrl: string,
  attach: (wc: BridgedWebContents, fixedRole: DeviceRole | null) => void,
  initial: { role: DeviceRole | null; side: ChannelSide | null },
  channels: Record<string, string>,
): Promise<OpenedWindow> {
  const context = await browser.newContext({ viewport: { width: 640, height: 820 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const wc = new BridgedWebContents(page);
  const results: unknown[] = [];
  const consoleErrors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || /Content.Security.Policy/i.test(m.text())) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.exposeFunction("__qrLoginInvoke", async (channel: string, args: unknown) => {
    const h = ipcHandlers.get(channel);
    if (!h) return { ok: false, error: { code: "invalid_request", message: "no such channel" } };
    const result = await h({ sender: wc, senderFrame: wc.mainFrame }, ...(decode(args) as unknown[]));
    results.push(result);
    return encode(result);
  });
  await page.addInitScript(pagePreload, { channels, accountChannel: ACCOUNT_CHANNEL, serverCheckChannel: SERVER_CHECK_CHANNEL, initial });
  attach(wc, initial.role);
  await page.goto(baseUrl + "index.html");
  return { page, wc, results, consoleErrors };
}
