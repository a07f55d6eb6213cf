// UI-test harness: serves the built renderer (dist/renderer) on 127.0.0.1, drives Debian's Chromium with
// playwright-core, and puts a test bridge where Electron's preload would be. The bridge is the real
// main/app/ipc.ts IpcSurface (with a mocked `electron` module, see electronMock): window.qrLogin calls go
// through the same handlers, validation and sender checks as in the app, and events come back through
// the same schema-rebuilt webContents.send. Like preload/index.ts, the bridge builds window.qrLogin from
// the IPC table (contract/ipc.ts). Only the transport differs (page.exposeFunction / evaluate instead of
// Electron IPC), so bytes are tagged ({__bytes:[…]}) to survive JSON.
import http from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { CHROMIUM } from "./system-programs.js";
import type { ChannelSide, DeviceRole } from "../../contract/flow.js";
import { EVENTS, REQUEST_CHANNELS } from "../../contract/ipc.js";
import type { AppInfo } from "../../contract/schemas.js";

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

/** Runs in the page before any of its scripts: the stand-in for preload/index.ts, from the same table. */
function pagePreload(init: { requests: Record<string, string>; events: Record<string, string[]>; initial: { role: string | null; side: string | null } }): void {
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
  /** Listeners by channel. */
  const listeners = new Map<string, Set<(e: unknown) => void>>();
  w.__qrLoginDeliver = (channel: string, ev: unknown) => {
    const e = dec(ev);
    for (const l of listeners.get(channel) ?? []) l(e);
  };
  const api: Record<string, unknown> = { initial: Object.freeze({ ...init.initial }) };
  for (const [name, channel] of Object.entries(init.requests)) api[name] = async (...args: unknown[]): Promise<unknown> => dec(await invoke(channel, enc(args)));
  for (const [name, channels] of Object.entries(init.events)) {
    api[name] = (l: (e: unknown) => void) => {
      for (const ch of channels) (listeners.get(ch) ?? listeners.set(ch, new Set()).get(ch)!).add(l);
      return () => {
        for (const ch of channels) listeners.get(ch)?.delete(l);
      };
    };
  }
  w.qrLogin = Object.freeze(api);
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
  const events = Object.fromEntries(Object.entries(EVENTS).map(([name, e]) => [name, [...e.channels]]));
  await page.addInitScript(pagePreload, { requests: { ...REQUEST_CHANNELS }, events, initial });
  attach(wc, initial.role);
  await page.goto(baseUrl + "index.html");
  return { page, wc, results, consoleErrors };
}
