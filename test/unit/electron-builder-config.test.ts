// electron-builder.yml and package.json, checked with electron-builder's own code where it has a check:
// the configuration is loaded by app-builder-lib's getConfig (the loader `electron-builder --config`
// uses) and validated by its validateConfiguration (the JSON schema scheme.json + its deprecation
// checks); package.json goes through its checkMetadata. The rest states what this project decided: the
// run-time package list, the fuses, the sandbox, the native module, the macOS entitlements.
// test/integration/electron-builder-package.test.ts then runs electron-builder's real Linux packaging.
import { describe, test, expect, beforeAll } from "@jest/globals";
import { readFileSync, readdirSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface BuilderConfigModule {
  getConfig(projectDir: string, configPath: string | null, configFromOptions: Json | null): Promise<Json>;
  validateConfiguration(config: Json, debugLogger: { isEnabled: boolean; add(key: string, value: unknown): void }): Promise<void>;
}
const builderConfig = require("app-builder-lib/out/util/config/config.js") as BuilderConfigModule;
const { checkMetadata } = require("app-builder-lib/out/util/packageMetadata.js") as { checkMetadata(m: Json, dev: Json, file: string, devFile: string): void };
const quietLogger = { isEnabled: false, add: () => undefined };

const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as Json;
let cfg: Json;

beforeAll(async () => {
  cfg = await builderConfig.getConfig(root, "electron-builder.yml", null);
});

function pngSize(file: string): [number, number] {
  const b = readFileSync(file);
  expect(b.subarray(1, 4).toString("latin1")).toBe("PNG");
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

/** The keys of a plist <dict> whose value is <true/>. */
function plistTrueKeys(xml: string): string[] {
  return [...xml.replace(/<!--[\s\S]*?-->/g, "").matchAll(/<key>([^<]+)<\/key>\s*<true\/>/g)].map((m) => m[1]!);
}

describe("electron-builder itself", () => {
  test("is a pinned 26.x devDependency, and the installed one is that version", () => {
    expect(pkg.devDependencies["electron-builder"]).toMatch(/^26\.\d+\.\d+$/);
    expect((require("electron-builder/package.json") as Json).version).toBe(pkg.devDependencies["electron-builder"]);
    expect((require("app-builder-lib/package.json") as Json).version).toBe(pkg.devDependencies["electron-builder"]);
    expect(pkg.scripts.dist).toBe("node scripts/build.mjs && electron-builder --config electron-builder.yml");
  });

  test("its install-script package stays denied: it only serves the Squirrel.Windows target, which is not built", () => {
    // electron-winstaller's install script copies a 7-Zip binary for Squirrel.Windows (electron-builder-squirrel-windows).
    expect(pkg.allowScripts["electron-winstaller"]).toBe(false);
    expect(cfg.win.target).not.toContain("squirrel");
  });

  test("electron-builder.yml passes electron-builder's own schema validation", async () => {
    await expect(builderConfig.validateConfiguration(cfg, quietLogger)).resolves.toBeUndefined();
  });

  test.each([
    ["a misspelt key", (c: Json) => (c.asar.smartUnpakc = false)],
    ["an unknown fuse", (c: Json) => (c.electronFuses.runAsNod = false)],
    ["executableArgs as a string", (c: Json) => (c.linux.executableArgs = "--no-sandbox")],
  ])("the same validator rejects %s (it is not a rubber stamp)", async (_what, spoil) => {
    const bad = structuredClone(cfg);
    spoil(bad);
    await expect(builderConfig.validateConfiguration(bad, quietLogger)).rejects.toThrow(/does not match the API schema/);
  });

  test("package.json passes electron-builder's metadata check, with what the deb target needs", () => {
    expect(() => checkMetadata(pkg, pkg, "package.json", "package.json")).not.toThrow();
    // FpmTarget (deb) stops without a maintainer: it takes "name <email>" from author, and the URL from homepage.
    expect(pkg.author).toEqual({ name: expect.any(String), email: expect.stringMatching(/^[^@\s]+@[^@\s]+\.[a-z]+$/) });
    expect(pkg.homepage).toMatch(/^https:\/\//);
    expect(pkg.repository).toEqual({ type: "git", url: expect.stringMatching(/^git\+https:\/\/.+\.git$/) });
    expect(cfg.publish).toBeNull(); // no update feed invented from the repository field
  });
});

describe("what ships", () => {
  test("identity, output and targets", () => {
    expect(cfg.appId).toMatch(/^[a-z][a-z0-9]*(\.[a-z0-9-]+){2,}$/);
    expect(cfg.productName).toBe("qr-login");
    expect(cfg.directories).toEqual({ output: "release", buildResources: "build" });
    expect(cfg.linux.target).toEqual(["AppImage", "deb"]);
    expect(cfg.win.target).toEqual(["nsis"]);
    expect(cfg.mac.target).toEqual(["dmg"]);
    expect(cfg.extraMetadata.main).toBe(pkg.main);
    expect(pkg.main).toBe("dist/main/index.js");
    expect(readFileSync(path.join(root, ".gitignore"), "utf8").split("\n")).toContain("release/");
  });

  test("files: the bundles and package.json only", () => {
    const filters = (cfg.files as { filter: string[] }[]).flatMap((f) => f.filter);
    const included = filters.filter((f) => !f.startsWith("!"));
    expect(included.sort()).toEqual(["dist/main/**/*", "dist/preload/**/*", "dist/renderer/**/*", "package.json"]);
    expect(filters).toContain("!**/*.map");
  });

  test("dependencies are exactly the packages the packaged main process loads; the CLI needs no others", () => {
    // esbuild's metafiles (scripts/build.mjs) list every package a bundle imports at run time.
    const packagesOf = (meta: string, filter: (file: string) => boolean = () => true): Set<string> => {
      const m = JSON.parse(readFileSync(path.join(root, "dist/meta", meta), "utf8")) as { outputs: Record<string, { imports: { path: string; external?: boolean }[] }> };
      const out = new Set<string>();
      for (const [file, o] of Object.entries(m.outputs)) {
        if (!filter(file)) continue;
        for (const i of o.imports) {
          if (!i.external || i.path.startsWith("node:") || builtinModules.includes(i.path)) continue;
          out.add(i.path.startsWith("@") ? i.path.split("/").slice(0, 2).join("/") : i.path.split("/")[0]!);
        }
      }
      return out;
    };
    const main = packagesOf("main.json");
    main.delete("electron"); // provided by the Electron binary, never a dependency
    expect([...main].sort()).toEqual(Object.keys(pkg.dependencies).sort());
    // Which is (so a change to this list is a decision, not an accident):
    expect(Object.keys(pkg.dependencies).sort()).toEqual([
      // the app: secure channel and OAuth (protocol core), the Matrix client with its crypto
      "@noble/ciphers", "@noble/curves", "@noble/hashes", "matrix-js-sdk",
      // the OAuth 2.0 client (device grant, authorization code + PKCE, refresh, revocation)
      "oauth4webapi",
      // the 2024 version's QR codes and ECIES channel (imported directly; it loads its .wasm from its own
      // folder at run time, so it can never be bundled)
      "@matrix-org/matrix-sdk-crypto-wasm",
      // the development stack (`npm start`, --dev): homeserver, OAuth provider, rendezvous stores
      "@fastify/cors", "@fastify/rate-limit", "better-sqlite3", "fastify", "ioredis", "oidc-provider",
    ].sort());
    for (const p of packagesOf("cli.json")) expect(Object.keys(pkg.dependencies)).toContain(p);
    // Used only by the CLI, the renderer or the preload, or small enough to bundle (valibot, the IPC
    // table's schemas, in main and the preload): bundled there, so not shipped in the installer.
    for (const p of ["qrcode", "jsqr", "pngjs", "yaml", "pino", "valibot"]) expect(pkg.dependencies[p]).toBeUndefined();
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
});

describe("hardening", () => {
  test("fuses: no run-as-node, NODE_OPTIONS or --inspect; only the app.asar, with integrity; encrypted cookies", () => {
    expect(cfg.electronFuses).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
      enableEmbeddedAsarIntegrityValidation: true,
      enableCookieEncryption: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  test("Linux: the Chromium sandbox stays on (an empty executableArgs, so no --no-sandbox default)", () => {
    expect(cfg.linux.executableArgs).toEqual([]);
    expect(cfg.appImage.executableArgs).toBeUndefined(); // would override linux.executableArgs for the AppImage
  });

  test("native module: no rebuild; one prebuilt binary per platform, the only file outside the asar", () => {
    expect(cfg.npmRebuild).toBe(false);
    expect(cfg.asar).toEqual({ smartUnpack: false });
    expect(cfg.asarUnpack).toEqual(["**/node_modules/better-sqlite3/prebuilds/*.node"]);
    const names = { linux: "linux", win: "win32", mac: "darwin" } as const;
    for (const [section, platform] of Object.entries(names)) {
      expect(cfg[section].files).toEqual([{ filter: ["package.json", `!**/node_modules/better-sqlite3/prebuilds/!(${platform}-\${arch}).node`] }]);
    }
    // The binary is Node-API: the same file loads in Node and Electron without a rebuild.
    const bs = JSON.parse(readFileSync(path.join(root, "node_modules/better-sqlite3/package.json"), "utf8")) as Json;
    expect(bs.gypfile).toBe(false);
    expect(readdirSync(path.join(root, "node_modules/better-sqlite3/prebuilds")).sort()).toEqual(
      ["darwin-arm64", "darwin-x64", "linux-arm64", "linux-x64", "linuxmusl-arm64", "linuxmusl-x64", "win32-arm64", "win32-x64"].map((p) => `${p}.node`),
    );
  });

  test("macOS: hardened runtime with what an ad-hoc signed developer build needs, and the camera", () => {
    expect(cfg.mac.hardenedRuntime).toBe(true);
    expect(cfg.mac.entitlementsInherit).toBe(cfg.mac.entitlements);
    const keys = plistTrueKeys(readFileSync(path.join(root, cfg.mac.entitlements as string), "utf8"));
    expect(keys.sort()).toEqual(
      [
        "com.apple.security.cs.allow-jit",
        "com.apple.security.cs.allow-unsigned-executable-memory",
        // without a Team ID (ad-hoc signature) library validation kills the app when it loads Electron Framework
        "com.apple.security.cs.disable-library-validation",
        "com.apple.security.device.camera",
      ].sort(),
    );
    expect(cfg.mac.extendInfo.NSCameraUsageDescription).toMatch(/camera/i);
  });
});
