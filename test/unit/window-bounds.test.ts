// A window reopens where it was closed, but only on a display that is connected now: main/app/windows.ts
// against the Electron stand-in's `screen` (test/support/electron-fake.ts), with monitors unplugged
// between two runs, and main/app/window-bounds.ts on its own for the arithmetic.
import { jest, describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createElectronFake, DEFAULT_DISPLAY, type FakeDisplay, type FakeRect } from "../support/electron-fake.js";
import { fitToWorkArea } from "../../main/app/window-bounds.js";

// A laptop (1920×1080, panel at the top) with a second monitor to its right (2560×1440, no panel).
const LAPTOP = DEFAULT_DISPLAY;
const MONITOR: FakeDisplay = { id: 2, bounds: { x: 1920, y: 0, width: 2560, height: 1440 }, workArea: { x: 1920, y: 0, width: 2560, height: 1440 } };

const fake = createElectronFake({ displays: [LAPTOP, MONITOR] });
jest.unstable_mockModule("electron", () => fake.module);
const { openAppWindow } = await import("../../main/app/windows.js");

beforeAll(() => fake.ready());
afterAll(() => rmSync(fake.userData, { recursive: true, force: true }));

const SPEC = { role: "existing" as const, side: "scan" as const, index: 0, count: 1 };

/** Opens the window as the app does and returns where it put it; closing it saves its bounds. */
function open(): { bounds: FakeRect; close(): void } {
  const { window } = openAppWindow(SPEC, "/preload.cjs", () => {});
  const w = window as unknown as { opts: FakeRect; close(): void };
  return { bounds: { x: w.opts.x, y: w.opts.y, width: w.opts.width, height: w.opts.height }, close: () => w.close() };
}

function saveBounds(b: FakeRect): void {
  writeFileSync(path.join(fake.userData, "window-existing.json"), JSON.stringify(b));
}

function within(b: FakeRect, area: FakeRect): boolean {
  return b.x >= area.x && b.y >= area.y && b.x + b.width <= area.x + area.width && b.y + b.height <= area.y + area.height;
}

describe("window bounds restored on a connected display", () => {
  test("on the display it was closed on, it reopens exactly there", () => {
    fake.setDisplays([LAPTOP, MONITOR]);
    saveBounds({ x: 2400, y: 200, width: 560, height: 780 });
    const w = open();
    expect(w.bounds).toEqual({ x: 2400, y: 200, width: 560, height: 780 });
    w.close(); // saves the bounds, as on quit
  });

  test("closed on the second monitor, which is then unplugged: it opens on the laptop's screen, centred, whole", () => {
    fake.setDisplays([LAPTOP]);
    const w = open();
    expect(within(w.bounds, LAPTOP.workArea)).toBe(true);
    expect(w.bounds).toEqual({ x: (1920 - 560) / 2, y: 32 + Math.round((1048 - 780) / 2), width: 560, height: 780 });
    w.close();
  });

  test("partly off the screen (hanging off the right and bottom edges): moved just far enough to be whole", () => {
    fake.setDisplays([LAPTOP]);
    saveBounds({ x: 1700, y: 900, width: 560, height: 780 });
    const w = open();
    expect(w.bounds).toEqual({ x: 1920 - 560, y: 1080 - 780, width: 560, height: 780 });
    w.close();
  });

  test("above the top panel: moved below it", () => {
    saveBounds({ x: 100, y: -20, width: 560, height: 780 });
    const w = open();
    expect(w.bounds).toEqual({ x: 100, y: 32, width: 560, height: 780 });
    w.close();
  });

  test("bigger than the screen now: shrunk to its work area", () => {
    saveBounds({ x: 0, y: 0, width: 2400, height: 1400 });
    const w = open();
    expect(w.bounds).toEqual(LAPTOP.workArea);
    w.close();
  });

  test("mostly on the second monitor: kept on it, not pulled onto the laptop", () => {
    fake.setDisplays([LAPTOP, MONITOR]);
    saveBounds({ x: 1800, y: 100, width: 560, height: 780 });
    const w = open();
    expect(w.bounds).toEqual({ x: 1920, y: 100, width: 560, height: 780 });
    w.close();
  });

  test("no saved bounds, or a broken file: Electron's default place", () => {
    writeFileSync(path.join(fake.userData, "window-existing.json"), "{not json");
    const w = open();
    expect(w.bounds).toEqual({ x: undefined, y: undefined, width: 560, height: 780 });
    w.close();
  });
});

describe("fitToWorkArea", () => {
  const area = { x: 0, y: 0, width: 1000, height: 800 };
  test("inside: unchanged", () => expect(fitToWorkArea({ x: 10, y: 20, width: 300, height: 200 }, area)).toEqual({ x: 10, y: 20, width: 300, height: 200 }));
  test("off to the left and top: moved to the edge", () => expect(fitToWorkArea({ x: -250, y: -100, width: 300, height: 200 }, area)).toEqual({ x: 0, y: 0, width: 300, height: 200 }));
  test("not touching it at all: centred", () => expect(fitToWorkArea({ x: 5000, y: 5000, width: 300, height: 200 }, area)).toEqual({ x: 350, y: 300, width: 300, height: 200 }));
  test("fractional bounds come out whole", () => expect(fitToWorkArea({ x: 10.4, y: 20.6, width: 300.5, height: 200.2 }, area)).toEqual({ x: 10, y: 21, width: 301, height: 200 }));
});
