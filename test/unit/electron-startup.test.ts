// Start-up failures are shown in a dialog, not only printed: an app started from a menu has no terminal.
// main/app/index.ts against the Electron fake with a command line it refuses; and the quit guard of
// main/app/quit.ts on its own: a cleanup that never ends does not keep the app from quitting.
import { jest, describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { createElectronFake } from "../support/electron-fake.js";
import { installQuitGuard } from "../../main/app/quit.js";
import { StartupError, describeStartupError } from "../../main/app/startup-error.js";

const fake = createElectronFake();
jest.unstable_mockModule("electron", () => fake.module);
const savedArgv = process.argv;
const errors: string[] = [];
const origError = console.error;

beforeAll(async () => {
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  process.argv = [process.argv[0]!, "main.js", "--homeserver", "https://hs.example.org", "--role", "all-of-them"];
  await import("../../main/app/index.js");
  // Electron documents that before ready on Linux showErrorBox only prints to stderr: the app must wait.
  await new Promise((r) => setTimeout(r, 50));
  expect(fake.record.showErrorBox).toBeUndefined();
  fake.ready();
  const end = Date.now() + 5000;
  while (!fake.app.exited && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
});

afterAll(() => {
  console.error = origError;
  process.argv = savedArgv;
});

describe("a start-up error", () => {
  test("is shown in an error dialog with what to do, then the app exits 1", () => {
    expect(fake.record.showErrorBox).toHaveLength(1);
    const [title, content] = fake.record.showErrorBox![0] as [string, string];
    expect(title).toBe("qr-login: wrong command line");
    expect(content).toContain("--role must be new, existing or both (got all-of-them).");
    expect(content).toContain("Leave --role out to choose in the window.");
    expect(fake.app.exited).toEqual({ code: 1, via: "exit" });
    expect(fake.BrowserWindow.getAllWindows()).toHaveLength(0);
    expect(errors.join("\n")).toContain("--role must be new, existing or both");
  });

  test("anything unexpected still gets a title and a hint", () => {
    const d = describeStartupError(new Error("EACCES: permission denied, mkdir '/x'"));
    expect(d).toEqual({ title: "qr-login could not start", message: "EACCES: permission denied, mkdir '/x'", hint: expect.stringMatching(/from a terminal/) });
    expect(describeStartupError(new StartupError("T", "M", "H"))).toEqual({ title: "T", message: "M", hint: "H" });
  });
});

describe("the quit guard", () => {
  function fakeApp() {
    const listeners: ((e: { preventDefault(): void }) => void)[] = [];
    let quits = 0;
    let exited = false;
    const app = {
      on: (_ev: "before-quit", l: (e: { preventDefault(): void }) => void) => listeners.push(l),
      quit: () => {
        quits++;
        let prevented = false;
        for (const l of listeners) l({ preventDefault: () => (prevented = true) });
        if (!prevented) exited = true;
      },
    };
    return { app, state: () => ({ quits, exited }) };
  }

  test("a cleanup that hangs is cut off at the bound", async () => {
    const { app, state } = fakeApp();
    let runs = 0;
    const t0 = Date.now();
    let timedOut = false;
    const guard = installQuitGuard(app, () => {
      runs++;
      return new Promise<void>(() => undefined);
    }, { timeoutMs: 200, onTimeout: () => (timedOut = true) });
    app.quit();
    app.quit(); // a second Cmd-Q while waiting: no second cleanup
    expect(state().exited).toBe(false);
    await guard.settled;
    expect(state().exited).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(runs).toBe(1);
    expect(timedOut).toBe(true);
  });

  test("a cleanup that fails still quits", async () => {
    const { app, state } = fakeApp();
    const guard = installQuitGuard(app, () => Promise.reject(new Error("dev stack close failed")), { timeoutMs: 5000 });
    app.quit();
    await guard.settled;
    expect(state().exited).toBe(true);
  });
});
