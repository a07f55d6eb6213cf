// main/app/display-media.ts installed on the Electron fake's session (test/support/electron-fake.ts):
// the source offered for "Capture a screen or window", through getDisplayMedia as a page calls it.
// The callback is Electron's (DisplayMediaDeviceChosen): null refuses, {} throws for a video request.
import { describe, test, expect } from "@jest/globals";
import { createElectronFake } from "../support/electron-fake.js";
import { createDisplayMediaHandler, type DisplayMediaDeps } from "../../main/app/display-media.js";

type Fake = ReturnType<typeof createElectronFake>;
type Win = InstanceType<Fake["BrowserWindow"]>;

function setup(opts: Parameters<typeof createElectronFake>[0] & { scanning?: (w: Win) => boolean; paired?: boolean; chooser?: (names: string[]) => number | null } = {}) {
  const fake = createElectronFake(opts);
  fake.ready();
  const a = new fake.BrowserWindow({ title: "Existing device" });
  const b = new fake.BrowserWindow({ title: "New device" });
  void a.loadURL("app://qr-login/index.html");
  void b.loadURL("app://qr-login/index.html");
  const ours = [a, b];
  const chooses: string[][] = [];
  const explained: number[] = [];
  const deps: DisplayMediaDeps = {
    platform: opts.platform ?? "linux",
    fromFrame: (frame) => fake.module.webContents.fromFrame(frame as never) as never,
    isScanning: (wc) => (opts.scanning ?? (() => true))(ours.find((w) => w.webContents === (wc as unknown))!),
    sourceIdOf: (wc) => ours.find((w) => w.webContents === (wc as unknown))?.getMediaSourceId() ?? null,
    partnerOf: (wc) => (opts.paired === false ? null : ((ours.find((w) => w.webContents !== (wc as unknown))?.webContents as never) ?? null)),
    getSources: (o) => fake.module.desktopCapturer.getSources(o) as never,
    screenAccess: () => fake.module.systemPreferences.getMediaAccessStatus("screen") as never,
    choose: async (_wc, sources) => {
      chooses.push(sources.map((s) => s.name));
      const i = opts.chooser?.(sources.map((s) => s.name)) ?? null;
      return i === null ? null : sources[i]!;
    },
    explainScreenAccess: async () => {
      explained.push(1);
    },
  };
  fake.session.setDisplayMediaRequestHandler(createDisplayMediaHandler(deps));
  // the request handler would allow it (the permission part is tested in electron-main.test.ts)
  return { fake, a, b, chooses, explained };
}

describe("which source", () => {
  test("the other window of the pair, whichever of the two asks", async () => {
    const { fake, a, b } = setup();
    await expect(fake.page.getDisplayMedia(b.webContents)).resolves.toEqual({ video: { id: a.getMediaSourceId(), name: "Existing device" } });
    await expect(fake.page.getDisplayMedia(a.webContents)).resolves.toEqual({ video: { id: b.getMediaSourceId(), name: "New device" } });
  });

  test("even when the asking window is the one titled “New device” (the old choice was by that name)", async () => {
    const { fake, a, b } = setup();
    const got = (await fake.page.getDisplayMedia(b.webContents)) as { video: { id: string } };
    expect(got.video.id).not.toBe(b.getMediaSourceId());
    expect(got.video.id).toBe(a.getMediaSourceId());
  });

  test("a single window (no pair): the user picks among the others, its own window is not offered", async () => {
    const { fake, a, b, chooses } = setup({ paired: false, foreignWindows: [{ id: "window:9:0", name: "Element" }], chooser: (names) => names.indexOf("Element") });
    await expect(fake.page.getDisplayMedia(b.webContents)).resolves.toEqual({ video: { id: "window:9:0", name: "Element" } });
    expect(chooses[0]).toEqual(["Entire screen", "Existing device", "Element"]);
    expect(chooses[0]).not.toContain("New device");
    void a;
  });

  test("the user cancels the choice: refused with null, no exception in main", async () => {
    const { fake, b } = setup({ paired: false, chooser: () => null });
    await expect(fake.page.getDisplayMedia(b.webContents)).rejects.toMatchObject({ name: "NotAllowedError" });
    expect(fake.session.callbackErrors).toEqual([]);
  });

  test("one source only (a desktop portal picked it already): taken as it is", async () => {
    const fake = createElectronFake({ screens: [{ id: "screen:0:0", name: "Portal choice" }] });
    fake.ready();
    const only = new fake.BrowserWindow({ title: "qr-login" });
    void only.loadURL("app://qr-login/index.html");
    fake.session.setDisplayMediaRequestHandler(
      createDisplayMediaHandler({
        platform: "linux",
        fromFrame: (f) => fake.module.webContents.fromFrame(f as never) as never,
        isScanning: () => true,
        sourceIdOf: () => only.getMediaSourceId(),
        partnerOf: () => null,
        getSources: (o) => fake.module.desktopCapturer.getSources(o) as never,
        screenAccess: () => "granted",
        choose: async () => {
          throw new Error("must not ask");
        },
        explainScreenAccess: async () => undefined,
      }),
    );
    await expect(fake.page.getDisplayMedia(only.webContents)).resolves.toEqual({ video: { id: "screen:0:0", name: "Portal choice" } });
  });
});

describe("refusals", () => {
  test("a window that is not scanning: refused in the form Electron accepts", async () => {
    const { fake, b } = setup({ scanning: () => false });
    await expect(fake.page.getDisplayMedia(b.webContents)).rejects.toMatchObject({ name: "NotAllowedError" });
    expect(fake.session.callbackErrors).toEqual([]);
  });

  test("audio is never captured", async () => {
    const { fake, b } = setup();
    await expect(fake.page.getDisplayMedia(b.webContents, { video: true, audio: true })).rejects.toMatchObject({ name: "NotAllowedError" });
    expect(fake.session.callbackErrors).toEqual([]);
  });

  test("the fake is Electron's: callback({}) for a video request throws in main", async () => {
    const fake = createElectronFake();
    fake.ready();
    const w = new fake.BrowserWindow({});
    void w.loadURL("app://qr-login/index.html");
    let thrown: unknown = null;
    fake.session.setDisplayMediaRequestHandler((_req: unknown, cb: (s: unknown) => void) => {
      try {
        cb({});
      } catch (err) {
        thrown = err;
      }
    });
    await expect(fake.page.getDisplayMedia(w.webContents)).rejects.toThrow();
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toBe("Video was requested, but no video stream was provided");
  });
});

describe("macOS Screen Recording permission", () => {
  test.each(["denied", "restricted"] as const)("%s: explained (how to allow it), then refused", async (access) => {
    const { fake, b, explained } = setup({ platform: "darwin", screenAccess: access });
    await expect(fake.page.getDisplayMedia(b.webContents)).rejects.toMatchObject({ name: "NotAllowedError" });
    expect(explained).toHaveLength(1);
    expect(fake.record.getSources).toBeUndefined(); // sources are not even listed
  });

  test.each(["granted", "not-determined"] as const)("%s: capture goes ahead (macOS asks the user itself when not determined)", async (access) => {
    const { fake, a, b, explained } = setup({ platform: "darwin", screenAccess: access });
    await expect(fake.page.getDisplayMedia(b.webContents)).resolves.toEqual({ video: { id: a.getMediaSourceId(), name: "Existing device" } });
    expect(explained).toHaveLength(0);
  });

  test("not checked on other platforms", async () => {
    const { fake, b, explained } = setup({ platform: "linux", screenAccess: "denied" });
    await expect(fake.page.getDisplayMedia(b.webContents)).resolves.toBeDefined();
    expect(explained).toHaveLength(0);
  });
});
