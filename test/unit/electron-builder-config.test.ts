// electron-builder cannot run here (it downloads Electron), so its configuration is checked instead:
// the packaging targets (AppImage, deb, NSIS, dmg), the app id, icons that exist with the sizes their names claim, and a
// files list that ships the bundles only (no sources, tests or dev dependencies).
import { describe, test, expect } from "@jest/globals";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cfg = parse(readFileSync(path.join(root, "electron-builder.yml"), "utf8")) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  main: string;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function pngSize(file: string): [number, number] {
  const b = readFileSync(file);
  expect(b.subarray(1, 4).toString("latin1")).toBe("PNG");
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

describe("electron-builder.yml", () => {
  test("identity and output", () => {
    expect(cfg.appId).toMatch(/^[a-z][a-z0-9]*(\.[a-z0-9-]+){2,}$/);
    expect(cfg.productName).toBe("qr-login");
    expect(cfg.directories).toEqual({ output: "release", buildResources: "build" });
    expect(pkg.scripts.dist).toContain("electron-builder --config electron-builder.yml");
    expect(pkg.scripts.dist).toMatch(/^node scripts\/build\.mjs && /);
  });

  test("targets: AppImage + deb, nsis, dmg", () => {
    expect(cfg.linux.target).toEqual(["AppImage", "deb"]);
    expect(cfg.win.target).toEqual(["nsis"]);
    expect(cfg.mac.target).toEqual(["dmg"]);
  });

  test("the entry point is the built Electron main, and it is shipped", () => {
    expect(cfg.extraMetadata.main).toBe(pkg.main);
    expect(pkg.main).toBe("dist/main/index.js");
    const files = cfg.files as string[];
    expect(files).toEqual(expect.arrayContaining(["dist/main/**/*", "dist/preload/**/*", "dist/renderer/**/*", "package.json"]));
  });

  test("files: bundles only — no sources, tests, maps, and nothing from devDependencies", () => {
    const files = cfg.files as string[];
    const included = files.filter((f) => !f.startsWith("!"));
    for (const f of included) expect(f === "package.json" || f.startsWith("dist/")).toBe(true);
    expect(included.some((f) => /node_modules|test|main\/|server\/|renderer\/[^*]/.test(f) && !f.startsWith("dist/"))).toBe(false);
    expect(files).toContain("!**/*.map");
    expect(files.some((f) => f.startsWith("!") && f.includes("test"))).toBe(true);
    // electron-builder packs "dependencies" only: the build tools must not be among them.
    for (const dev of ["electron", "esbuild", "jest", "typescript", "playwright-core", "axe-core", "eslint"]) {
      expect(pkg.dependencies[dev]).toBeUndefined();
    }
    expect(pkg.devDependencies.electron).toBeDefined(); // electron-builder reads the Electron version from here
    // the dist CLI bundle and the run directory stay out as well
    expect(included).not.toContain("dist/**/*");
  });

  test("icons exist with the sizes their names claim; mac/win icons are large enough", () => {
    const dir = path.join(root, cfg.linux.icon as string);
    const icons = readdirSync(dir).filter((f) => f.endsWith(".png"));
    expect(icons.length).toBeGreaterThanOrEqual(3);
    for (const f of icons) {
      const m = /^(\d+)x(\d+)\.png$/.exec(f);
      expect(m).not.toBeNull();
      expect(pngSize(path.join(dir, f))).toEqual([Number(m![1]), Number(m![2])]);
    }
    expect(pngSize(path.join(root, cfg.win.icon as string))[0]).toBeGreaterThanOrEqual(256);
    expect(pngSize(path.join(root, cfg.mac.icon as string))[0]).toBeGreaterThanOrEqual(512);
  });

  test("macOS: hardened runtime with the camera entitlement and a usage string", () => {
    expect(cfg.mac.hardenedRuntime).toBe(true);
    const ent = readFileSync(path.join(root, cfg.mac.entitlements as string), "utf8");
    expect(ent).toContain("com.apple.security.device.camera");
    expect(cfg.mac.extendInfo.NSCameraUsageDescription).toMatch(/camera/i);
  });

  test("native module is rebuilt and unpacked", () => {
    expect(cfg.npmRebuild).toBe(true);
    expect(cfg.asarUnpack).toContain("**/node_modules/better-sqlite3/**");
    expect(existsSync(path.join(root, "node_modules/better-sqlite3"))).toBe(true);
  });
});
