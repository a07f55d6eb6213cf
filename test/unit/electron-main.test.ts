// main/app/index.ts in plain Node against test/support/electron-fake.ts (Electron 45's behaviour where
// this app depends on it, each with its source): account mode (--homeserver) with a signed-in session
// in the fake keychain and the pair of windows (--role both). Pages act through the fake's `page`
// helpers — getUserMedia, clipboard writes, getDisplayMedia, IPC — so every request goes through the
// handlers main installed, with the arguments Electron really passes (the origin with its slash).
import { jest, describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createElectronFake } from "../support/electron-fake.js";
import { startRendezvousServer, type RunningRendezvousServer } from "../../server/rendezvous/index.js";
import { MemoryStore } from "../../server/rendezvous/index.js";
import { fakeSecrets } from "./login-fakes.js";

const fake = createElectronFake({ keyring: "gnome_libsecret", foreignWindows: [{ id: "window:77:0", name: "Terminal" }] });
jest.unstable_mockModule("electron", () => fake.module);

const USER = "@alice:hs.example";
const store = new MemoryStore();
const deleted: string[] = [];
let rendezvous: RunningRendezvousServer;
const savedArgv = process.argv;

beforeAll(async () => {
  const origDelete = store.delete.bind(store);
  store.delete = async (api, id, now) => {
    deleted.push(id);
    return origDelete(api, id, now);
  };
  rendezvous = await startRendezvousServer({ host: "127.0.0.1", port: 0, mode: "open", store: "memory", storeInstance: store, logLevel: false });
  // A session this app signed in with earlier, in the (fake) keychain: its homeserver refuses
  // connections, so start-up keeps it without renewing it.
  const session = { format: "qr-login.existing-device.v1", homeserverUrl: "http://127.0.0.1:9/", userId: USER, deviceId: "APPDEVICE", accessToken: "syt_SECRET", clientId: "c1", refreshToken: "r1", secrets: fakeSecrets(), createdAt: new Date().toISOString() };
  mkdirSync(fake.userData, { recursive: true });
  writeFileSync(path.join(fake.userData, "session.bin"), await fake.module.safeStorage.encryptStringAsync(JSON.stringify(session)));
  process.argv = [process.argv[0]!, "main.js", "--homeserver", "https://hs.example.org", "--rendezvous", rendezvous.url, "--role", "both"];
  await import("../../main/app/index.js");
  fake.ready();
  const end = Date.now() + 10_000;
  while (fake.BrowserWindow.getAllWindows().length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}, 20_000);

afterAll(async () => {
  process.argv = savedArgv;
  await rendezvous?.close();
  rmSync(fake.userData, { recursive: true, force: true });
});

const win = (role: "existing" | "new") => fake.BrowserWindow.getAllWindows().find((w) => (w.opts.webPreferences.additionalArguments as string[]).includes(`--qr-login-role=${role}`))!;
const start = (role: "existing" | "new", side: "show" | "scan") => fake.page.invoke(win(role).webContents, "qr-login:start", { role, side });

describe("windows", () => {
  test("a privileged app:// scheme, registered before ready, and a single-instance lock", () => {
    expect(fake.record.registerSchemesAsPrivileged?.[0]?.[0]).toEqual([{ scheme: "app", privileges: { standard: true, secure: true } }]);
    expect(fake.app.exited).toBeNull();
  });

  test("two windows side by side: existing scans, new shows", () => {
    const e = win("existing");
    const n = win("new");
    expect(e.opts.title).toBe("Existing device");
    expect(n.opts.title).toBe("New device");
    expect(e.opts.webPreferences.additionalArguments).toEqual(["--qr-login-role=existing", "--qr-login-side=scan"]);
    expect(n.opts.webPreferences.additionalArguments).toEqual(["--qr-login-role=new", "--qr-login-side=show"]);
    expect(e.opts.x + e.opts.width).toBeLessThanOrEqual(n.opts.x);
    for (const w of fake.BrowserWindow.getAllWindows()) expect(w.webContents.getURL()).toBe("app://qr-login/index.html");
  });

  test("no Matrix user id on a renderer's command line; the window learns it over IPC", async () => {
    for (const w of fake.BrowserWindow.getAllWindows()) {
      // additionalArguments end up on the renderer process's command line, which `ps` shows every local user.
      expect(JSON.stringify(w.opts.webPreferences.additionalArguments)).not.toContain("@");
      expect(w.opts.title).not.toContain("@");
    }
    const r = (await fake.page.invoke(win("existing").webContents, "qr-login:get-app-info")) as { ok: true; info: { label: string; account: unknown; storage: string } };
    expect(r.info.label).toBe(`Existing device — signed in as ${USER}`);
    expect(r.info.account).toEqual({ userId: USER, homeserver: "http://127.0.0.1:9/" });
    expect(r.info.storage).toBe("keychain");
    expect(JSON.stringify(r)).not.toContain("syt_SECRET");
  });

  test("hardened webPreferences", () => {
    for (const w of fake.BrowserWindow.getAllWindows()) {
      const p = w.opts.webPreferences;
      expect(p).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInSubFrames: false, webSecurity: true, allowRunningInsecureContent: false, webviewTag: false });
      expect(p.preload).toMatch(/dist[\\/]preload[\\/]index\.cjs$/);
      expect(p.experimentalFeatures).toBeUndefined();
      expect(p.enableBlinkFeatures).toBeUndefined();
    }
  });

  test("a second instance focuses a window", () => {
    const before = fake.BrowserWindow.getAllWindows().reduce((n, w) => n + w.focused, 0);
    fake.app.emit("second-instance");
    expect(fake.BrowserWindow.getAllWindows().reduce((n, w) => n + w.focused, 0)).toBe(before + 1);
  });
});

describe("app:// protocol and navigation", () => {
  test("serves the renderer and nothing outside it", async () => {
    const ok = await fake.page.fetch("app://qr-login/index.html");
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("Content-Security-Policy");
    for (const bad of ["app://qr-login/../../package.json", "app://qr-login/%2e%2e/%2e%2e/package.json", "app://other/index.html"]) {
      expect((await fake.page.fetch(bad)).status).toBe(404);
    }
  });

  test("navigation, redirects, webviews and new windows are refused", () => {
    const contents = win("new").webContents;
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
  test("the camera works for a scanning window (the check handler gets app://qr-login/ with the slash)", async () => {
    const n = win("new").webContents;
    await expect(fake.page.getUserMedia(n, { video: true, audio: false })).rejects.toMatchObject({ name: "NotFoundError" }); // not scanning yet
    expect(await start("new", "scan")).toMatchObject({ ok: true });
    await expect(fake.page.getUserMedia(n, { video: true, audio: false })).resolves.toBe("stream");
    await expect(fake.page.getUserMedia(n, { video: true, audio: true })).rejects.toThrow(); // never the microphone
    // the other window is not scanning
    await expect(fake.page.getUserMedia(win("existing").webContents, { video: true, audio: false })).rejects.toThrow();
    // only our origin: a checked origin from elsewhere is refused, whatever the window
    expect(fake.session.checkHandler!(n, "media", "https://evil.example/", { mediaType: "video" })).toBe(false);
    expect(fake.session.checkHandler!(n, "media", "app://qr-login.evil/", { mediaType: "video" })).toBe(false);
  });

  test("“Copy code as text” can write to the clipboard (check and request both allow it), nothing else is granted", async () => {
    const n = win("new").webContents;
    await expect(fake.page.clipboardWriteText(n)).resolves.toBeUndefined();
    for (const p of ["clipboard-read", "notifications", "geolocation", "midi", "openExternal"]) {
      await expect(fake.session.requestPermission(n, p)).resolves.toBe(false);
      expect(fake.session.checkPermission(n, p)).toBe(false);
    }
  });

  test("screen capture offers the other window of the pair, never the one asking", async () => {
    // The new device scans (it asked above), so the existing window — the one showing the QR — is offered.
    const picked = await fake.page.getDisplayMedia(win("new").webContents);
    expect(picked).toEqual({ video: { id: win("existing").getMediaSourceId(), name: "Existing device" } });
    expect(fake.session.callbackErrors).toEqual([]);
  });

  test("the existing window scans: the new one is offered", async () => {
    await fake.page.invoke(win("new").webContents, "qr-login:cancel");
    // an existing-device flow needs the account: restoring it runs matrix-js-sdk, so give it time
    expect(await start("existing", "scan")).toMatchObject({ ok: true });
    const picked = await fake.page.getDisplayMedia(win("existing").webContents);
    expect(picked).toEqual({ video: { id: win("new").getMediaSourceId(), name: "New device" } });
  }, 20_000);

  test("a window that is not scanning is refused in the form Electron accepts (no exception in main)", async () => {
    await fake.page.invoke(win("existing").webContents, "qr-login:cancel");
    await expect(fake.page.getDisplayMedia(win("new").webContents)).rejects.toMatchObject({ name: "NotAllowedError" });
    expect(fake.session.callbackErrors).toEqual([]);
  });
});

describe("quitting", () => {
  test("waits for the running flow to DELETE its rendezvous session, then quits", async () => {
    const r = (await start("new", "show")) as { ok: boolean };
    expect(r.ok).toBe(true);
    const n = win("new").webContents;
    const end = Date.now() + 5000;
    while (!n.sent.some((m) => (m.args[0] as { type?: string })?.type === "qr") && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
    expect(n.sent.some((m) => (m.args[0] as { type?: string })?.type === "qr")).toBe(true);
    expect(deleted).toEqual([]);
    fake.app.quit(); // Electron: before-quit first
    expect(fake.app.exited).toBeNull(); // held while the flow says goodbye
    while (fake.app.exited === null && Date.now() < end + 8000) await new Promise((res) => setTimeout(res, 20));
    expect(deleted).toHaveLength(1); // the session was deleted before the process ended
    expect(fake.app.exited).toEqual({ code: 0, via: "quit" });
  }, 20_000);
});
