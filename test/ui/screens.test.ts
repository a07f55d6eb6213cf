// The renderer in Debian's Chromium, behind the real IPC surface (main/app/ipc.ts, electron mocked) with a
// scripted FlowController: walks every screen of both roles, saves a screenshot of each under
// test-artifacts/screens/, runs axe-core on each (no serious/critical violations), checks that the QR on
// screen decodes to the session's payload, and that keyboard, focus and live-region behaviour hold.
import { jest, describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import jsQR from "jsqr";
import QRCode from "qrcode";
import type { Browser, Page } from "playwright-core";
import { chromium } from "playwright-core";
import { CHROMIUM } from "../support/system-programs.js";
import { tmpdir } from "node:os";
import { appInfoFor, electronMock, launchChromium, openWindow, serveDir, RENDERER_ORIGIN, type OpenedWindow, type StaticServer } from "../support/ui-bridge.js";
import type { ControllerEvent, FlowController, IpcSurface as IpcSurfaceT } from "../../main/app/ipc.js";
import type { FlowErrorCode } from "../../contract/failures.js";
import type { DeviceRole } from "../../contract/flow.js";
import type { StartOptions } from "../../contract/schemas.js";

jest.unstable_mockModule("electron", electronMock);
const { IpcSurface } = await import("../../main/app/ipc.js");
const { FLOW_ERROR_CODES } = await import("../../contract/failures.js");
const { SECRETS_STEPS } = await import("../../contract/flow.js");

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SHOTS = path.join(root, "test-artifacts/screens");
const AXE = readFileSync(path.join(root, "node_modules/axe-core/axe.min.js"), "utf8");

jest.setTimeout(60_000);

/** An MSC4388-shaped payload with non-UTF-8 bytes in the key (so a text-mode round trip would break it). */
function payload(seed: number): Uint8Array {
  const key = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + seed * 11) & 0xff);
  key.set([0x00, 0xff, 0x80, 0xc3, 0x28], 3);
  const id = new TextEncoder().encode(`rv-${seed}-abcdefghijklmnop`);
  const url = new TextEncoder().encode("http://127.0.0.1:8008/");
  const out = new Uint8Array(6 + 2 + 32 + 2 + id.length + 2 + url.length);
  let o = 0;
  out.set(new TextEncoder().encode("MATRIX"), o);
  o += 6;
  out[o++] = 0x03;
  out[o++] = 0x00;
  out.set(key, o);
  o += 32;
  out[o++] = id.length >> 8;
  out[o++] = id.length & 0xff;
  out.set(id, o);
  o += id.length;
  out[o++] = url.length >> 8;
  out[o++] = url.length & 0xff;
  out.set(url, o);
  return out;
}

class ScriptedController implements FlowController {
  emit: (e: ControllerEvent) => void = () => undefined;
  options: StartOptions | null = null;
  calls: [string, unknown][] = [];
  onStart: ((c: ScriptedController) => void) | null = null;
  constructor(readonly role: DeviceRole) {}
  async start(options: StartOptions, emit: (e: ControllerEvent) => void): Promise<void> {
    this.options = options;
    this.emit = emit;
    this.calls.push(["start", options]);
    this.onStart?.(this);
  }
  async submitQr(p: Uint8Array): Promise<void> {
    this.calls.push(["submitQr", p]);
    if (p.length < 8 || new TextDecoder().decode(p.subarray(0, 6)) !== "MATRIX") throw Object.assign(new Error("not a login code"), { code: "wrong_qr_code" });
  }
  async submitCheckCode(code: string): Promise<void> {
    this.calls.push(["submitCheckCode", code]);
  }
  async confirmAccount(accept: boolean): Promise<void> {
    this.calls.push(["confirmAccount", accept]);
  }
  async openVerificationUri(): Promise<void> {
    this.calls.push(["openVerificationUri", null]);
  }
  async cancel(): Promise<void> {
    this.calls.push(["cancel", null]);
  }
}

let server: StaticServer;
let browser: Browser;
let surface: IpcSurfaceT;
const controllers: ScriptedController[] = [];
let onNewController: ((c: ScriptedController) => void) | null = null;
const shotNames: string[] = [];
/** Each window's label, as main would compute it (AppInfo). */
const labels = new Map<number, string>();
const axeFindings: Record<string, string[]> = {};

function latest(role: DeviceRole): ScriptedController {
  const c = [...controllers].reverse().find((x) => x.role === role);
  if (!c) throw new Error(`no ${role} controller`);
  return c;
}

async function onScreen(page: Page, name: string): Promise<void> {
  await page.waitForSelector(`body[data-screen="${name}"]`, { timeout: 5000 });
}

/** Screenshot + axe on the current screen. */
async function capture(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(60); // let the status region and images settle
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  shotNames.push(name);
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) await page.evaluate(AXE);
  // Page-side code as strings: this file is type-checked without the DOM lib.
  const violations = (await page.evaluate(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, n: v.nodes.length })))",
  )) as { id: string; impact: string | null; n: number }[];
  axeFindings[name] = violations.map((v) => `${v.id}:${v.impact}`);
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect({ screen: name, bad }).toEqual({ screen: name, bad: [] });
}

/** The little of the DOM that page-side predicates use (this file is type-checked without the DOM lib). */
type Doc = {
  querySelector(sel: string): {
    getAttribute(name: string): string | null;
    classList: { contains(c: string): boolean };
    srcObject?: unknown;
    videoWidth?: number;
    complete?: boolean;
    naturalWidth?: number;
  } | null;
};

/** Retry a read until it meets the expectation (or time runs out), then assert on the last value. */
function poll<T>(read: () => T | Promise<T>, opts: { timeout?: number } = {}) {
  const until = async (ok: (v: T) => boolean): Promise<T> => {
    const end = Date.now() + (opts.timeout ?? 5000);
    let v = await read();
    while (!ok(v) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      v = await read();
    }
    return v;
  };
  return {
    toBe: async (x: T) => expect(await until((v) => v === x)).toBe(x),
    toEqual: async (x: T) => expect(await until((v) => isDeepStrictEqual(v, x))).toEqual(x),
    toMatch: async (re: RegExp) => expect(await until((v) => typeof v === "string" && re.test(v))).toMatch(re),
  };
}

function decodePng(buf: Buffer): Uint8Array | null {
  const png = PNG.sync.read(buf);
  const hit = jsQR.default(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
  return hit ? Uint8Array.from(hit.binaryData) : null;
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await serveDir(path.join(root, "dist/renderer"));
  browser = await launchChromium();
  surface = new IpcSurface({
    rendererOrigin: RENDERER_ORIGIN,
    createController: (role) => {
      const c = new ScriptedController(role);
      controllers.push(c);
      onNewController?.(c);
      return c;
    },
    // The development pair's app info (npm start): every screen is checked with its banner.
    // A label ending in "not verified" stands for an app signed in by QR whose device is not cross-signed.
    appInfo: (id) => appInfoFor({ label: labels.get(id) ?? "", account: { userId: "@alice:localhost", homeserver: "http://127.0.0.1:8008/", ...(labels.get(id)?.endsWith("not verified") ? { verified: false as const } : {}) }, dev: { homeserver: "http://127.0.0.1:8008/", username: "alice", password: "dev-password-1234" } }),
  });
  surface.register();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  surface?.unregister();
  writeFileSync(path.join(SHOTS, "index.json"), JSON.stringify({ screens: shotNames, axe: axeFindings }, null, 2));
});

async function open(role: DeviceRole | null, side: "show" | "scan" | null, label: string): Promise<OpenedWindow> {
  return openWindow(
    browser,
    server.url,
    (wc, fixed) => {
      labels.set(wc.id, label);
      surface.attachWindow(wc as never, fixed);
    },
    { role, side },
  );
}

describe("new device shows the QR (N=G)", () => {
  let w: OpenedWindow;
  const p1 = payload(1);
  const p2 = payload(2);

  beforeAll(async () => {
    onNewController = (c) => {
      c.onStart = (cc) => {
        const n = controllers.filter((x) => x.role === "new").length;
        cc.emit({ type: "state", state: "starting" });
        cc.emit({ type: "qr", payload: n === 1 ? p1 : p2, expiresAt: Date.now() + (n === 1 ? 120_000 : 2_500) });
        cc.emit({ type: "state", state: "waiting_for_scan" });
      };
    };
    w = await open("new", "show", "New device");
  });
  afterAll(async () => {
    onNewController = null;
    w.wc.destroy();
    await w.page.context().close();
  });

  test("QR screen: byte-mode code on screen decodes to the session payload; CSP holds", async () => {
    await onScreen(w.page, "show_qr");
    await w.page.waitForFunction(() => {
      const img = (globalThis as unknown as { document: Doc }).document.querySelector("img.qr");
      return img !== null && img.complete === true && (img.naturalWidth ?? 0) > 0;
    });
    await capture(w.page, "new-01-show-qr");
    const decoded = decodePng(await w.page.locator(".qr-frame").screenshot());
    expect(decoded).not.toBeNull();
    expect(Buffer.from(decoded!).toString("hex")).toBe(Buffer.from(p1).toString("hex"));
    await expect(w.page.locator(".countdown").textContent()).resolves.toMatch(/^Expires in (2:00|1:5[0-9])$/);
    // dark mode: the code sits on its own white card and still decodes
    await w.page.emulateMedia({ colorScheme: "dark" });
    await capture(w.page, "new-01b-show-qr-dark");
    expect(Buffer.from(decodePng(await w.page.screenshot())!).toString("hex")).toBe(Buffer.from(p1).toString("hex"));
    await w.page.emulateMedia({ colorScheme: "light" });
    // copy as text offers the same bytes
    await w.page.locator("summary").click();
    expect(Buffer.from((await w.page.locator("#qr-text").inputValue()), "base64").toString("hex")).toBe(Buffer.from(p1).toString("hex"));
    expect(w.consoleErrors).toEqual([]);
  });

  test("check-code entry: label, numeric input, local validation, announced mismatch", async () => {
    const c = latest("new");
    c.emit({ type: "state", state: "connecting" });
    await onScreen(w.page, "connecting");
    await capture(w.page, "new-02-connecting");
    c.emit({ type: "protocol", version: "2025" });
    c.emit({ type: "check_code_prompt", mismatch: false });
    await onScreen(w.page, "check_code_entry");
    // Which version this sign-in uses is on screen where the user compares codes (downgrade in `auto`).
    await expect(w.page.locator("p.detail[data-protocol='2025']").isVisible()).resolves.toBe(true);
    await expect(w.page.locator("p.detail[data-protocol='2025']").textContent()).resolves.toMatch(/2025 version/);
    const input = w.page.getByLabel("2-digit code");
    await expect(input.getAttribute("inputmode")).resolves.toBe("numeric");
    await expect(w.page.evaluate("document.activeElement?.id")).resolves.toBe("check-code");
    await capture(w.page, "new-03-check-code-entry");
    await w.page.keyboard.type("7");
    await w.page.keyboard.press("Enter");
    await expect(input.getAttribute("aria-invalid")).resolves.toBe("true");
    await expect(w.page.locator("#code-error").textContent()).resolves.toMatch(/two digits/);
    await input.fill("05"); // not a possible check code (10..99)
    await w.page.keyboard.press("Enter");
    await expect(w.page.locator("#code-error").textContent()).resolves.toMatch(/10 to 99/);
    expect(c.calls.filter(([n]) => n === "submitCheckCode")).toHaveLength(0); // never sent
    await input.fill("12");
    await w.page.keyboard.press("Enter");
    await poll(() => c.calls.filter(([n]) => n === "submitCheckCode").map(([, v]) => v)).toEqual(["12"]);
    c.emit({ type: "check_code_prompt", mismatch: true });
    await w.page.waitForFunction(() => (globalThis as unknown as { document: Doc }).document.querySelector("#check-code")?.getAttribute("aria-invalid") === "true");
    await expect(w.page.locator("#code-error[role=alert]").textContent()).resolves.toMatch(/numbers don't match/);
    await poll(() => w.page.locator("#status").textContent()).toMatch(/numbers don't match/);
    await capture(w.page, "new-04-check-code-mismatch");
  });

  test("user code, completing with secrets steps, success", async () => {
    const c = latest("new");
    c.emit({ type: "user_code", userCode: "WDJB-MJHT", verificationUri: "http://127.0.0.1:8008/oauth/device" });
    c.emit({ type: "waiting_for_consent" });
    await onScreen(w.page, "user_code");
    await poll(() => w.page.locator("#status").textContent()).toMatch(/Waiting for your other device/);
    await expect(w.page.locator("output[aria-labelledby=user-code-label]").textContent()).resolves.toBe("WDJB-MJHT");
    await capture(w.page, "new-05-user-code");
    c.emit({ type: "confirm_account", userId: "@alice:localhost", homeserver: "http://127.0.0.1:8008", deviceId: "NEWDEV1" });
    await onScreen(w.page, "confirm_account");
    await capture(w.page, "new-06-confirm-account");
    await w.page.getByRole("button", { name: "Yes, continue" }).press("Enter");
    await poll(() => c.calls.some(([n, v]) => n === "confirmAccount" && v === true)).toBe(true);
    c.emit({ type: "state", state: "completing" });
    c.emit({ type: "secrets", step: "cross_signing_keys", status: "done" });
    c.emit({ type: "secrets", step: "backup_key", status: "done" });
    c.emit({ type: "secrets", step: "device_signed", status: "active" });
    await onScreen(w.page, "secrets");
    await w.page.waitForFunction(() => (globalThis as unknown as { document: Doc }).document.querySelector('[data-step="device_signed"]')?.classList.contains("active") === true);
    await capture(w.page, "new-07-secrets-progress");
    for (const step of SECRETS_STEPS) c.emit({ type: "secrets", step, status: "done" });
    c.emit({ type: "success", userId: "@alice:localhost", deviceId: "NEWDEV1", verified: true });
    await onScreen(w.page, "success");
    await expect(w.page.locator("[data-field=user]").textContent()).resolves.toBe("@alice:localhost");
    await expect(w.page.locator("[data-field=device]").textContent()).resolves.toBe("NEWDEV1");
    await expect(w.page.locator("[data-field=verified]").textContent()).resolves.toBe("Verified");
    await expect(w.page.locator("[data-field=protocol]").isVisible()).resolves.toBe(true);
    await expect(w.page.locator("[data-field=protocol]").textContent()).resolves.toMatch(/MSC4108 2025 version/);
    await capture(w.page, "new-08-success");
  });

  test("QR expiry regenerates a fresh code instead of failing", async () => {
    const before = controllers.filter((x) => x.role === "new").length;
    await w.page.getByRole("button", { name: "Done" }).click();
    await onScreen(w.page, "choose_side");
    await capture(w.page, "new-00-choose-side");
    await w.page.getByRole("button", { name: /Show a QR code/ }).click();
    await onScreen(w.page, "show_qr"); // the second code expires in 2.5 s
    expect(controllers.filter((x) => x.role === "new").length).toBe(before + 1);
    // countdown reaches 0 → retry → a third controller with a fresh QR
    await poll(() => controllers.filter((x) => x.role === "new").length, { timeout: 8000 }).toBe(before + 2);
    await onScreen(w.page, "show_qr");
    // and an "expired" error from the flow while the QR is up also regenerates, without an error screen
    const c = latest("new");
    c.emit({ type: "error", error: { code: "expired", message: "rendezvous session expired" } });
    await poll(() => controllers.filter((x) => x.role === "new").length, { timeout: 5000 }).toBe(before + 3);
    expect(await w.page.evaluate("document.body.dataset.screen")).toBe("show_qr");
  });

  test.each(FLOW_ERROR_CODES.map((c) => [c]))("error screen %s has Try again and Cancel", async (code: FlowErrorCode) => {
    const c = latest("new");
    c.emit({ type: "state", state: "connecting" }); // off the QR screen: there, "expired" regenerates instead
    c.emit({ type: "error", error: { code, message: code === "unknown" ? "" : `detail for ${code}` } });
    await onScreen(w.page, "error");
    await expect(w.page.getByRole("button", { name: "Try again" }).count()).resolves.toBe(1);
    await expect(w.page.getByRole("button", { name: "Cancel" }).count()).resolves.toBe(1);
    await expect(w.page.locator("[role=alert]").count()).resolves.toBe(1);
    await expect(w.page.evaluate("document.activeElement?.tagName")).resolves.toBe("H1");
    await capture(w.page, `error-${code}`);
    const n = controllers.length;
    await w.page.getByRole("button", { name: "Try again" }).press("Enter");
    await poll(() => controllers.length).toBe(n + 1);
    await onScreen(w.page, "show_qr");
  });
});

describe("existing device scans (E=S), keyboard only", () => {
  let w: OpenedWindow;
  const p = payload(7);

  beforeAll(async () => {
    w = await open("existing", null, "Existing device — signed in as @alice");
  });
  afterAll(async () => {
    w.wc.destroy();
    await w.page.context().close();
  });

  test("choose side → security warning → scan screen, using the keyboard", async () => {
    await onScreen(w.page, "choose_side");
    await expect(w.page.locator("#window-label").textContent()).resolves.toBe("Existing device — signed in as @alice");
    await capture(w.page, "existing-01-choose-side");
    await w.page.keyboard.press("Tab");
    await expect(w.page.evaluate("document.activeElement?.textContent")).resolves.toMatch(/^Desktop computer/);
    await w.page.keyboard.press("Enter");
    await onScreen(w.page, "prescan_warning");
    await expect(w.page.locator(".warning").textContent()).resolves.toMatch(/Only scan a code shown by your own device/);
    await capture(w.page, "existing-02-prescan-warning");
    await w.page.keyboard.press("Tab");
    await w.page.keyboard.press("Enter"); // Ready to scan
    await onScreen(w.page, "scan");
    await poll(() => controllers.filter((x) => x.role === "existing").length).toBe(1);
    expect(latest("existing").options).toEqual({ role: "existing", side: "scan" });
    await capture(w.page, "existing-03-scan");
  });

  test("camera permission screen, then the camera view", async () => {
    await w.page.getByRole("button", { name: "Use the camera" }).click();
    await onScreen(w.page, "camera_permission");
    await capture(w.page, "existing-04-camera-permission");
    await w.page.getByRole("button", { name: "Turn on the camera" }).click();
    await onScreen(w.page, "scan");
    await w.page.waitForFunction(() => {
      const v = (globalThis as unknown as { document: Doc }).document.querySelector("video");
      return v !== null && v.srcObject !== null && (v.videoWidth ?? 0) > 0;
    });
    await capture(w.page, "existing-05-scan-camera");
  });

  test("screen or window capture starts a capture stream", async () => {
    await w.page.getByRole("button", { name: "Capture a screen or window" }).click();
    await onScreen(w.page, "scan");
    await w.page.waitForFunction(() => {
      const v = (globalThis as unknown as { document: Doc }).document.querySelector("video");
      return v !== null && v.srcObject !== null && (v.videoWidth ?? 0) > 0;
    });
    await expect(w.page.locator("video").getAttribute("aria-label")).resolves.toBe("Screen being scanned for the QR code");
    await capture(w.page, "existing-05c-scan-screen-capture");
  });

  test("pasted text that is not a payload is refused locally; a wrong code is a scan problem", async () => {
    const c = latest("existing");
    await w.page.getByLabel(/paste an image, or the code as text/).fill("not a code!");
    await w.page.getByRole("button", { name: "Use pasted code" }).click();
    await expect(w.page.locator("#scan-problem").textContent()).resolves.toMatch(/not a QR code payload/);
    await w.page.getByLabel(/paste an image, or the code as text/).fill("00112233445566778899");
    await w.page.getByRole("button", { name: "Use pasted code" }).click();
    await poll(() => w.page.locator("#scan-problem").textContent()).toMatch(/Wrong QR code/);
    await capture(w.page, "existing-06-wrong-qr");
    expect(c.calls.filter(([n]) => n === "submitQr")).toHaveLength(1);
  });

  test("open an image file: the QR bytes go to main unchanged", async () => {
    const c = latest("existing");
    const png = await QRCode.toBuffer([{ data: p, mode: "byte" }], { errorCorrectionLevel: "Q", margin: 4, scale: 5 });
    await w.page.locator("#scan-file").setInputFiles({ name: "qr.png", mimeType: "image/png", buffer: png });
    await poll(() => c.calls.filter(([n]) => n === "submitQr").length).toBe(2);
    const got = c.calls.filter(([n]) => n === "submitQr")[1]![1] as Uint8Array;
    expect(Buffer.from(got).toString("hex")).toBe(Buffer.from(p).toString("hex"));
  });

  test("pasted hex payload reaches main byte-exact", async () => {
    const c = latest("existing");
    await w.page.getByLabel(/paste an image, or the code as text/).fill(Buffer.from(p).toString("base64"));
    await w.page.getByRole("button", { name: "Use pasted code" }).click();
    await poll(() => c.calls.filter(([n]) => n === "submitQr").length).toBe(3);
    expect(Buffer.from(c.calls.filter(([n]) => n === "submitQr")[2]![1] as Uint8Array).toString("hex")).toBe(Buffer.from(p).toString("hex"));
  });

  test("check code shown large, browser consent with fallback, waiting, success", async () => {
    const c = latest("existing");
    c.emit({ type: "state", state: "connecting" });
    c.emit({ type: "protocol", version: "2024" });
    c.emit({ type: "check_code", code: "42" });
    await onScreen(w.page, "check_code");
    await expect(w.page.locator(".check-code").getAttribute("aria-label")).resolves.toBe("Check code: 4 2");
    await expect(w.page.locator("p.detail[data-protocol='2024']").isVisible()).resolves.toBe(true);
    await poll(() => w.page.locator("#status").textContent()).toMatch(/4 2/);
    await capture(w.page, "existing-07-check-code");
    c.emit({ type: "open_browser", verificationUri: "http://127.0.0.1:8008/oauth/device?user_code=WDJB-MJHT", opened: true });
    c.emit({ type: "waiting_for_consent" });
    await onScreen(w.page, "open_browser");
    await w.page.waitForSelector(".waiting");
    await capture(w.page, "existing-08-open-browser");
    await w.page.getByRole("button", { name: "Open the browser" }).press("Enter");
    await poll(() => c.calls.some(([n]) => n === "openVerificationUri")).toBe(true);
    c.emit({ type: "state", state: "waiting_for_other_device" });
    c.emit({ type: "state", state: "completing" });
    await onScreen(w.page, "secrets");
    await capture(w.page, "existing-09-sending-secrets");
    c.emit({ type: "success", userId: "@alice:localhost", deviceId: "NEWDEV1", verified: true });
    await onScreen(w.page, "success");
    await expect(w.page.locator("[data-field=protocol]").textContent()).resolves.toMatch(/MSC4108 2024 version/);
    await capture(w.page, "existing-10-success");
  });

  test("cancel tells main and returns to the start", async () => {
    await w.page.getByRole("button", { name: "Done" }).click();
    await w.page.getByRole("button", { name: /Mobile device/ }).click();
    await onScreen(w.page, "loading");
    await capture(w.page, "existing-11-loading-qr");
    const c = latest("existing");
    expect(c.options).toEqual({ role: "existing", side: "show" });
    await w.page.getByRole("button", { name: "Cancel" }).click();
    await poll(() => c.calls.some(([n]) => n === "cancel")).toBe(true);
    await onScreen(w.page, "choose_side");
    c.emit({ type: "check_code", code: "11" }); // late event of the cancelled flow: dropped by main
    await w.page.waitForTimeout(100);
    expect(await w.page.evaluate("document.body.dataset.screen")).toBe("choose_side");
  });
});

describe("a window without a fixed role (the installed app), signed in", () => {
  test("opens on the account's home; linking a new device reaches main as the existing role", async () => {
    const w = await open(null, null, "Signed in as @alice:localhost");
    try {
      await onScreen(w.page, "home");
      await expect(w.page.locator("[data-field=user]").textContent()).resolves.toBe("@alice:localhost");
      await capture(w.page, "any-01-home");
      await w.page.getByRole("button", { name: "Link a new device" }).click();
      await onScreen(w.page, "choose_side");
      await w.page.getByRole("button", { name: "Back" }).click();
      await onScreen(w.page, "home");
      await w.page.getByRole("button", { name: "Link a new device" }).click();
      await w.page.getByRole("button", { name: /^Desktop computer/ }).click();
      await onScreen(w.page, "prescan_warning");
      await w.page.getByRole("button", { name: "Ready to scan" }).click();
      await poll(() => latest("existing").options).toEqual({ role: "existing", side: "scan" });
      expect(w.consoleErrors).toEqual([]);
    } finally {
      w.wc.destroy();
      await w.page.context().close();
    }
  });
});

describe("a window signed in by QR whose device is not verified", () => {
  test("home says so; Link a new device ends on a screen that says why, and no flow runs", async () => {
    onNewController = (c) => {
      // What main's LoginFlowController does for such an account (test/unit/flow-controller.test.ts).
      c.onStart = () => {
        throw Object.assign(new Error("not verified"), { flowError: { code: "device_not_verified", message: "This device is signed in as @alice:localhost but is not verified." } });
      };
    };
    const w = await open(null, null, "Signed in as @alice:localhost, not verified");
    try {
      await onScreen(w.page, "home");
      await expect(w.page.locator("[data-field=verified]").textContent()).resolves.toMatch(/Not verified/);
      await expect(w.page.getByText(/kept in your system's keychain/).count()).resolves.toBe(0); // it is not saved
      await capture(w.page, "any-02-home-not-verified");
      await w.page.getByRole("button", { name: "Link a new device" }).click();
      await w.page.getByRole("button", { name: /^Desktop computer/ }).click();
      await onScreen(w.page, "prescan_warning");
      await w.page.getByRole("button", { name: "Ready to scan" }).click();
      await onScreen(w.page, "error");
      await expect(w.page.locator("h1").textContent()).resolves.toBe("This device is not verified");
      await expect(w.page.locator("[role=alert]").first().textContent()).resolves.toMatch(/no keys to give a new device/);
      await capture(w.page, "any-03-not-verified-cannot-link");
    } finally {
      onNewController = null;
      w.wc.destroy();
      await w.page.context().close();
    }
  });
});

describe("camera scanning, with a fake camera that films a QR code", () => {
  /** One Y4M frame (I420) of the QR on a white background: Chromium loops it as the camera picture. */
  async function qrY4m(bytes: Uint8Array): Promise<string> {
    const png = PNG.sync.read(await QRCode.toBuffer([{ data: bytes, mode: "byte" }], { errorCorrectionLevel: "Q", margin: 4, scale: 6 }));
    const W = 480;
    const H = 480;
    const y = Buffer.alloc(W * H, 235);
    const ox = Math.floor((W - png.width) / 2);
    const oy = Math.floor((H - png.height) / 2);
    for (let r = 0; r < png.height; r++) {
      for (let c = 0; c < png.width; c++) y[(oy + r) * W + ox + c] = png.data[(r * png.width + c) * 4]! < 128 ? 16 : 235;
    }
    const chroma = Buffer.alloc((W / 2) * (H / 2), 128);
    const file = path.join(tmpdir(), `qr-login-camera-${process.pid}.y4m`);
    writeFileSync(file, Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\nFRAME\n`), y, chroma, chroma]));
    return file;
  }

  test("the existing device reads the code from the camera and sends its bytes to main", async () => {
    const p = payload(9);
    const file = await qrY4m(p);
    const camBrowser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${file}`],
    });
    try {
      const w = await openWindow(camBrowser, server.url, (wc, fixed) => surface.attachWindow(wc as never, fixed), { role: "existing", side: "scan" });
      await onScreen(w.page, "prescan_warning");
      await w.page.getByRole("button", { name: "Ready to scan" }).click();
      await poll(() => controllers.filter((x) => x.role === "existing" && x.options?.side === "scan").length > 0).toBe(true);
      const c = latest("existing");
      await w.page.getByRole("button", { name: "Use the camera" }).click();
      await w.page.getByRole("button", { name: "Turn on the camera" }).click();
      await poll(() => c.calls.filter(([n]) => n === "submitQr").length, { timeout: 10_000 }).toBe(1);
      expect(Buffer.from(c.calls.find(([n]) => n === "submitQr")![1] as Uint8Array).toString("hex")).toBe(Buffer.from(p).toString("hex"));
      await capture(w.page, "existing-05b-camera-scanned");
      w.wc.destroy();
    } finally {
      await camBrowser.close();
      rmSync(file, { force: true });
    }
  });
});
