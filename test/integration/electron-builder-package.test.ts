// electron-builder's real Linux packaging of this project, offline. The one step that needs the network —
// downloading Electron — is replaced by a stand-in Electron distribution (electronDist): a file named
// `electron` that carries a fuse wire as Electron documents it (docs/tutorial/fuses.md, "The hard way":
// the sentinel dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX, a version byte, a length byte, one ASCII '0'/'1' per
// fuse) with Electron's documented defaults. Everything else is electron-builder 26's own code:
// collecting the production node_modules, the files patterns, the asar and what it unpacks, flipping the
// fuses (@electron/fuses), and for the AppImage and deb targets the desktop entry and the fpm metadata
// (captured through its effectiveOptionComputed hook, just before appimagetool/fpm would be downloaded).
import { describe, test, expect, beforeAll, afterAll } from "@jest/globals";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const builder = require("app-builder-lib") as {
  build(options: Json): Promise<string[]>;
  Platform: { LINUX: { createTarget(types: string[], ...archs: number[]): unknown } };
  Arch: { x64: number };
};
const asar = require("@electron/asar") as { listPackage(file: string): string[]; extractFile(file: string, name: string): Buffer };

const SENTINEL = "dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX";
// Fuse order of @electron/fuses FuseV1Options, defaults from docs/tutorial/fuses.md: runAsNode on,
// cookieEncryption off, nodeOptions on, nodeCliInspect on, embeddedAsarIntegrityValidation off,
// onlyLoadAppFromAsar off, loadBrowserProcessSpecificV8Snapshot off, grantFileProtocolExtraPrivileges on,
// and a ninth fuse newer than @electron/fuses (it must be left as it is).
const DEFAULT_WIRE = "101100011";

const work = mkdtempSync(path.join(tmpdir(), "qr-login-package-"));
const out = path.join(work, "release");
const unpacked = path.join(out, "linux-unpacked");
const captured: Json[] = [];
let appFiles: string[] = [];

beforeAll(async () => {
  const dist = path.join(work, "electron-dist");
  mkdirSync(path.join(dist, "locales"), { recursive: true });
  mkdirSync(path.join(dist, "resources"), { recursive: true });
  const binary = Buffer.concat([Buffer.from("\x7fELF stand-in for the Electron binary\0"), Buffer.from(SENTINEL, "latin1"), Buffer.from([1, DEFAULT_WIRE.length]), Buffer.from(DEFAULT_WIRE, "latin1"), Buffer.from("\0tail")]);
  writeFileSync(path.join(dist, "electron"), binary, { mode: 0o755 });
  writeFileSync(path.join(dist, "chrome-sandbox"), "stand-in", { mode: 0o755 });
  writeFileSync(path.join(dist, "LICENSE"), "MIT");
  writeFileSync(path.join(dist, "LICENSES.chromium.html"), "<p>licenses</p>");
  writeFileSync(path.join(dist, "version"), (require("electron/package.json") as Json).version);
  writeFileSync(path.join(dist, "locales", "en-US.pak"), "pak");
  await builder.build({
    projectDir: root,
    targets: builder.Platform.LINUX.createTarget(["AppImage", "deb"], builder.Arch.x64),
    config: { extends: "electron-builder.yml", electronDist: dist, directories: { output: out } },
    // Called by AppImageTarget and FpmTarget with what they would hand to appimagetool / fpm; true stops there.
    effectiveOptionComputed: async (o: Json) => {
      // FpmTarget passes [args, desktopFilePath]; the file is temporary, so read it now.
      captured.push(Array.isArray(o) && typeof o[1] === "string" ? [o[0], readFileSync(o[1], "utf8")] : o);
      return true;
    },
  });
  appFiles = asar.listPackage(path.join(unpacked, "resources", "app.asar")).map((f) => f.replace(/^[/\\]/, "").replace(/\\/g, "/"));
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).replace(/\\/g, "/"));
}

describe("app.asar", () => {
  test("holds the bundles and package.json, nothing else of the project", () => {
    const own = appFiles.filter((f) => !f.startsWith("node_modules/") && f !== "node_modules" && !statOfDir(f));
    expect(own.filter((f) => !/^dist\/main\/chunks\/[\w-]+\.js$/.test(f)).sort()).toEqual(
      ["dist/main/index.js", "dist/preload/index.cjs", "dist/renderer/index.html", "dist/renderer/renderer.js", "dist/renderer/styles.css", "package.json"].sort(),
    );
    expect(own.some((f) => f.startsWith("dist/main/chunks/"))).toBe(true);
    const shipped = JSON.parse(asar.extractFile(path.join(unpacked, "resources", "app.asar"), "package.json").toString("utf8")) as Json;
    expect(shipped.main).toBe("dist/main/index.js");
    expect(shipped.devDependencies).toBeUndefined();
  });

  test("node_modules: every run-time dependency, no build tool and no CLI- or renderer-only package", () => {
    const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as Json;
    const top = new Set(appFiles.filter((f) => f.startsWith("node_modules/")).map((f) => f.split("/").slice(1, f.split("/")[1]!.startsWith("@") ? 3 : 2).join("/")));
    for (const dep of Object.keys(pkg.dependencies)) expect(top).toContain(dep);
    for (const dev of ["electron", "electron-builder", "esbuild", "typescript", "jest", "playwright-core", "qrcode", "jsqr", "pngjs", "yaml", "node-addon-api"]) expect(top).not.toContain(dev);
    expect(appFiles.some((f) => /\.(ts|map|md)$/.test(f) && !f.endsWith(".d.ts"))).toBe(false);
  });

  test("better-sqlite3: its JavaScript and the one Linux x64 binary; no C sources, no other platform", () => {
    const bs = appFiles.filter((f) => f.startsWith("node_modules/better-sqlite3/") && !statOfDir(f));
    expect(bs.filter((f) => f.includes("/prebuilds/"))).toEqual(["node_modules/better-sqlite3/prebuilds/linux-x64.node"]);
    expect(bs.filter((f) => !f.startsWith("node_modules/better-sqlite3/lib/")).sort()).toEqual(
      ["node_modules/better-sqlite3/LICENSE", "node_modules/better-sqlite3/package.json", "node_modules/better-sqlite3/prebuilds/linux-x64.node"].sort(),
    );
  });

  test("only that binary is unpacked next to the asar", () => {
    expect(filesUnder(path.join(unpacked, "resources", "app.asar.unpacked"))).toEqual(["node_modules/better-sqlite3/prebuilds/linux-x64.node"]);
    // and it is the real prebuilt file, byte for byte
    const a = readFileSync(path.join(unpacked, "resources", "app.asar.unpacked", "node_modules/better-sqlite3/prebuilds/linux-x64.node"));
    expect(a.equals(readFileSync(path.join(root, "node_modules/better-sqlite3/prebuilds/linux-x64.node")))).toBe(true);
    expect(existsSync(path.join(unpacked, "resources", "app-update.yml"))).toBe(false);
  });
});

/** Directory entries are listed by listPackage too; they have no extension-less file twin we ship. */
function statOfDir(f: string): boolean {
  return appFiles.some((g) => g.startsWith(`${f}/`));
}

describe("the packaged binary", () => {
  test("electron-builder flipped the fuses: no run-as-node, NODE_OPTIONS, --inspect; asar only, with integrity; cookies encrypted", () => {
    const bin = readFileSync(path.join(unpacked, "qr-login"));
    const at = bin.indexOf(SENTINEL, 0, "latin1") + SENTINEL.length;
    expect(bin[at]).toBe(1); // wire version
    const wire = bin.subarray(at + 2, at + 2 + bin[at + 1]!).toString("latin1");
    expect(wire).toBe(
      [
        "0", // runAsNode
        "1", // cookieEncryption
        "0", // nodeOptions
        "0", // nodeCliInspect
        "1", // embeddedAsarIntegrityValidation
        "1", // onlyLoadAppFromAsar
        "0", // loadBrowserProcessSpecificV8Snapshot (default, not configured)
        "0", // grantFileProtocolExtraPrivileges
        "1", // the fuse @electron/fuses does not know: untouched
      ].join(""),
    );
    expect(statSync(path.join(unpacked, "qr-login")).mode & 0o111).not.toBe(0);
  });
});

describe("Linux targets (what appimagetool and fpm would receive)", () => {
  test("AppImage desktop entry starts the app with the Chromium sandbox (no --no-sandbox)", () => {
    const appImage = captured.find((c) => typeof c.desktop === "string");
    expect(appImage).toBeDefined();
    const exec = /^Exec=(.*)$/m.exec(appImage!.desktop as string)?.[1];
    expect(exec).toBe("AppRun %U");
    expect(appImage!.desktop).not.toContain("no-sandbox");
  });

  test("deb: maintainer, vendor and homepage come from package.json; its desktop entry has no --no-sandbox either", () => {
    const deb = captured.find((c) => Array.isArray(c) && Array.isArray(c[0])) as [string[], string] | undefined;
    expect(deb).toBeDefined();
    const args = deb![0];
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(value("--maintainer")).toBe("qr-login contributors <qr-login@users.noreply.github.com>");
    expect(value("--vendor")).toBe(value("--maintainer"));
    expect(value("--url")).toBe("https://github.com/qr-login/qr-login");
    expect(value("--name")).toBe("qr-login");
    expect(value("--license")).toBe("Apache-2.0");
    const desktop = deb![1];
    expect(/^Exec=(.*)$/m.exec(desktop)?.[1]).toBe("/opt/qr-login/qr-login %U");
    // electron-builder installs its AppArmor profile for Ubuntu >= 24.04 with the deb
    expect(existsSync(path.join(unpacked, "resources", "apparmor-profile"))).toBe(true);
  });
});
