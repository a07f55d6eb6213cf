// "Check this server" in Chromium: an error whose cause may lie with the server offers the button; the
// main-process side is the real IPC surface (electron mocked) running the real checks
// (main/app/server-check.ts → main/doctor) against a real deployment — our rendezvous server behind
// nginx with `charset utf-8;` in the location, which breaks Element's 2024 sign-in. Screenshots of the
// running and finished screens (test-artifacts/screens/), axe on each, keyboard only.
import { jest, describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { electronMock, launchChromium, openWindow, serveDir, RENDERER_ORIGIN, type OpenedWindow, type StaticServer } from "../support/ui-bridge.js";
import { startNginx, type TestNginx } from "../support/nginx.js";
import { startRendezvousHomeserver, type RendezvousHomeserver } from "../support/rendezvous-homeserver.js";
import { REPO_ROOT } from "../support/fixtures.js";
import type { ControllerEvent, FlowController, IpcSurface as IpcSurfaceT } from "../../main/app/ipc.js";
import type { FlowError, StartOptions } from "../../contract/schemas.js";

jest.unstable_mockModule("electron", electronMock);
const { IpcSurface } = await import("../../main/app/ipc.js");
const { runServerCheck } = await import("../../main/app/server-check.js");
const { SERVER_CHECK_CHANNEL } = await import("../../contract/ipc.js");

const SHOTS = path.join(REPO_ROOT, "test-artifacts/screens");
const AXE = readFileSync(path.join(REPO_ROOT, "node_modules/axe-core/axe.min.js"), "utf8");
jest.setTimeout(60_000);

/** A flow that ends as told, and says which server it used. */
class EndingController implements FlowController {
  emit: (e: ControllerEvent) => void = () => undefined;
  cancels = 0;
  constructor(public target: string) {}
  async start(_o: StartOptions, emit: (e: ControllerEvent) => void): Promise<void> {
    this.emit = emit;
    emit({ type: "state", state: "connecting" });
  }
  async submitQr(): Promise<void> {}
  async submitCheckCode(): Promise<void> {}
  async confirmAccount(): Promise<void> {}
  async openVerificationUri(): Promise<void> {}
  async cancel(): Promise<void> {
    this.cancels++;
  }
  serverToCheck(): string {
    return this.target;
  }
}

let server: StaticServer;
let browser: Browser;
let surface: IpcSurfaceT;
let front: RendezvousHomeserver;
/** Holds GETs for 20 s: a check against it is still running when Back is pressed, however loaded the machine. */
let slow: RendezvousHomeserver;
let nginx: TestNginx;
const controllers: EndingController[] = [];
let w: OpenedWindow;

async function onScreen(page: Page, name: string): Promise<void> {
  await page.waitForSelector(`body[data-screen="${name}"]`, { timeout: 5000 });
}

async function capture(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(60);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) await page.evaluate(AXE);
  const violations = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact })))")) as { id: string; impact: string | null }[];
  expect({ screen: name, bad: violations.filter((v) => v.impact === "serious" || v.impact === "critical") }).toEqual({ screen: name, bad: [] });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  front = await startRendezvousHomeserver({ longPollMs: 2_500 });
  slow = await startRendezvousHomeserver({ longPollMs: 20_000 });
  nginx = await startNginx({ upstreams: [`127.0.0.1:${front.port}`], locationExtra: "charset utf-8;" });
  server = await serveDir(path.join(REPO_ROOT, "dist/renderer"));
  browser = await launchChromium();
  surface = new IpcSurface({
    rendererOrigin: RENDERER_ORIGIN,
    createController: () => {
      const c = new EndingController(`${nginx.url}/`);
      controllers.push(c);
      return c;
    },
    checkServer: runServerCheck,
  });
  surface.register();
  w = await openWindow(browser, server.url, (wc, fixed) => surface.attachWindow(wc as never, fixed), { role: "new", side: "show" });
});

afterAll(async () => {
  w?.wc.destroy();
  await browser?.close();
  await server?.close();
  surface?.unregister();
  await nginx?.stop();
  await front?.close();
  await slow?.close();
});

function endWith(error: FlowError): void {
  controllers.at(-1)!.emit({ type: "error", error });
}

describe("Check this server", () => {
  test("not offered where the cause lies with the devices (the numbers did not match)", async () => {
    await onScreen(w.page, "connecting");
    endWith({ code: "check_code_mismatch", message: "The code entered does not match." });
    await onScreen(w.page, "error");
    await expect(w.page.getByRole("button", { name: "Check this server" }).count()).resolves.toBe(0);
  });

  test("offered after an expiry: runs the checks with progress, then each one's status, summary and fix, and who can sign in", async () => {
    await w.page.getByRole("button", { name: "Try again" }).click();
    await onScreen(w.page, "connecting");
    endWith({ code: "expired", message: "The sign-in session expired.", checkServer: true });
    await onScreen(w.page, "error");
    await capture(w.page, "error-expired-check-server");
    // Keyboard only: Tab from the heading to Try again, then to Check this server.
    await w.page.keyboard.press("Tab");
    await w.page.keyboard.press("Tab");
    await expect(w.page.evaluate("document.activeElement?.textContent")).resolves.toBe("Check this server");
    await w.page.keyboard.press("Enter");
    await onScreen(w.page, "server_check");
    // The held GET makes the run last the server's 2.5 s bound: the running state is on screen meanwhile.
    await w.page.waitForSelector('[data-check="rendezvous.long-poll"][data-status="running"]', { timeout: 10_000 });
    await expect(w.page.locator(".waiting").textContent()).resolves.toMatch(/^Checking: /);
    await expect(w.page.locator("h1").textContent()).resolves.toBe("Checking the server");
    await capture(w.page, "server-check-01-running");
    await w.page.waitForSelector('[data-outcome="problems"]', { timeout: 20_000 });
    await expect(w.page.locator("h1").textContent()).resolves.toBe("Server check");
    const row = w.page.locator('[data-check="rendezvous-2024.content-type"]');
    await expect(row.getAttribute("data-status")).resolves.toBe("fail");
    await expect(row.locator(".check-state").textContent()).resolves.toBe("Problem");
    await expect(row.locator(".check-summary").textContent()).resolves.toMatch(/"text\/plain; charset=utf-8", not exactly "text\/plain"/);
    await expect(row.locator(".check-fix").textContent()).resolves.toMatch(/^Fix: .*remove charset utf-8;/);
    await expect(w.page.locator('[data-check="rendezvous.long-poll"]').getAttribute("data-status")).resolves.toBe("pass");
    await expect(w.page.locator('[data-check="tls"] .check-state').textContent()).resolves.toBe("Warning");
    await expect(w.page.locator("[data-check]").count()).resolves.toBe(18);
    await expect(w.page.locator(".verdict li").first().textContent()).resolves.toMatch(/^NoElement X and Element Web \(2024 version\): cannot sign in/);
    await expect(w.page.locator("#status").textContent()).resolves.toBe("Check finished: 1 problem found.");
    await capture(w.page, "server-check-02-done");
    await w.page.emulateMedia({ colorScheme: "dark" });
    await capture(w.page, "server-check-02b-done-dark");
    await w.page.emulateMedia({ colorScheme: "light" });
  });

  test("what crossed IPC is the checks' data, rebuilt field by field", async () => {
    const events = w.wc.sent.filter((s) => s.channel === SERVER_CHECK_CHANNEL).map((s) => s.data as Record<string, unknown>);
    expect(events[0]).toMatchObject({ type: "plan", target: `${nginx.url}/` });
    expect(events.at(-1)).toMatchObject({ type: "done", ok: false });
    const allowed: Record<string, string[]> = { plan: ["type", "target", "checks"], running: ["type", "id", "detail"], result: ["type", "check"], done: ["type", "ok", "verdict"] };
    for (const e of events) expect(Object.keys(e).filter((k) => !allowed[e.type as string]!.includes(k))).toEqual([]);
    for (const e of events.filter((x) => x.type === "result")) expect(Object.keys(e.check as object).sort()).toEqual(["fix", "id", "status", "summary"]);
  });

  test("Back returns to the error, and stops a check still running", async () => {
    await w.page.getByRole("button", { name: "Back" }).click();
    await onScreen(w.page, "error");
    await expect(w.page.getByRole("button", { name: "Check this server" }).count()).resolves.toBe(1);
    // A second check, left while it runs: main stops it, and its late events do not reach the screen.
    controllers.at(-1)!.target = slow.url;
    const before = w.wc.sent.length;
    await w.page.getByRole("button", { name: "Check this server" }).click();
    await onScreen(w.page, "server_check");
    await w.page.waitForSelector('[data-check="rendezvous.long-poll"][data-status="running"]', { timeout: 10_000 });
    await w.page.getByRole("button", { name: "Back" }).click();
    await onScreen(w.page, "error");
    const sentAtBack = w.wc.sent.length;
    await w.page.waitForTimeout(3_500);
    expect(w.wc.sent.length).toBe(sentAtBack);
    expect(w.wc.sent.slice(before).some((s) => (s.data as { type?: string }).type === "done")).toBe(false);
    // The stopped check still deleted the sessions it had created.
    expect(await slow.store.liveCount(Date.now())).toBe(0);
    expect(await front.store.liveCount(Date.now())).toBe(0);
  });
});
