// Small modules of the Electron main process: main/app/external-url.ts (what shell.openExternal may
// open), main/app/origin.ts (origins in every spelling Electron uses), main/app/permissions.ts (the two
// permission handlers' answers), main/app/homeserver-input.ts (the homeserver field), main/app/config.ts
// (the command line) and main/app/credentials.ts (the session at rest, with safeStorage).
import { describe, test, expect, afterAll } from "@jest/globals";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { guardedOpener, isAllowedExternalUrl, providerOrigins } from "../../main/app/external-url.js";
import { AccountSessionVault, type SafeStorageLike } from "../../main/app/credentials.js";
import { isAppOrigin, originOf } from "../../main/app/origin.js";
import { allowCheck, allowRequest } from "../../main/app/permissions.js";
import { HomeserverInputError, parseHomeserverInput, resolveHomeserver } from "../../main/app/homeserver-input.js";
import { readConfig } from "../../main/app/config.js";
import { StartupError } from "../../main/app/startup-error.js";
import { ACCOUNT_SESSION_FORMAT, type AccountSession } from "../../main/login/account/account-session.js";
import { fakeSecrets } from "./login-fakes.js";

describe("external URL policy", () => {
  const md = {
    issuer: "https://auth.example.org/",
    authorization_endpoint: "https://auth.example.org/authorize",
    device_authorization_endpoint: "https://login.example.org:8443/device",
    token_endpoint: "https://internal.example.org/token",
    account_management_uri: "not a url",
  };
  const origins = providerOrigins(md);

  test("origins come from the user-facing endpoints only", () => {
    expect(origins.sort()).toEqual(["https://auth.example.org", "https://login.example.org:8443"]);
  });

  test.each([
    ["https://auth.example.org/device?user_code=ABCD", true],
    ["https://login.example.org:8443/device", true],
    ["https://login.example.org/device", false], // other port
    ["https://auth.example.org.evil.com/device", false],
    ["https://internal.example.org/token", false], // not user-facing
    ["http://auth.example.org/device", false], // downgrade
    ["https://user:pw@auth.example.org/device", false],
    ["javascript:alert(1)", false],
    ["file:///etc/passwd", false],
    ["not a url", false],
  ])("%s → %s", (url, ok) => {
    expect(isAllowedExternalUrl(url, { origins, allowLoopbackHttp: true })).toBe(ok);
  });

  test("http only to loopback, only with the development stack", () => {
    const dev = providerOrigins({ issuer: "http://127.0.0.1:8008/" });
    expect(isAllowedExternalUrl("http://127.0.0.1:8008/oauth2/device", { origins: dev, allowLoopbackHttp: true })).toBe(true);
    expect(isAllowedExternalUrl("http://127.0.0.1:8008/oauth2/device", { origins: dev, allowLoopbackHttp: false })).toBe(false);
    expect(isAllowedExternalUrl("http://192.168.1.2:8008/x", { origins: providerOrigins({ issuer: "http://192.168.1.2:8008/" }), allowLoopbackHttp: true })).toBe(false);
  });
});

describe("the one opener (guardedOpener)", () => {
  test.each([
    ["smb://evil.example/share/x.exe", false],
    ["file:///etc/passwd", false],
    ["http://evil.example/authorize", false],
    ["https://user:pw@auth.example.org/", false],
    ["https://auth.example.org/a\nb", false],
    ["https://auth.example.org/authorize?a=1&b=2", true],
    ["http://localhost:8008/authorize", true],
    ["x-apple.systempreferences:com.apple.preference.security?Privacy_ScreenCapture", true], // our own constant
    ["x-apple.systempreferences:com.apple.preference.security?Privacy_Camera", false],
  ])("%s opened: %s", async (url, ok) => {
    const opened: string[] = [];
    const open = guardedOpener(async (u) => void opened.push(u));
    if (ok) await open(url);
    else await expect(open(url)).rejects.toMatchObject({ name: "UnsafeUrlError" });
    expect(opened).toEqual(ok ? [url] : []);
  });

  test("main calls shell.openExternal in one place, behind guardedOpener", () => {
    const dir = path.join(import.meta.dirname, "../../main");
    const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
    const calls = files.flatMap((f) => (readFileSync(path.join(dir, f), "utf8").match(/^.*shell\.openExternal\(.*$/gm) ?? []).map((line) => `${f}: ${line.trim()}`));
    expect(calls).toEqual([expect.stringMatching(/^app[/\\]index\.ts: const openExternal = guardedOpener\(\(url\) => shell\.openExternal\(url\)\);$/)]);
  });
});

describe("origins", () => {
  test.each([
    ["app://qr-login/", true], // a permission check's requestingOrigin (Electron passes the slash)
    ["app://qr-login", true],
    ["app://qr-login/index.html", true], // a request's requestingUrl, a frame's url
    ["APP://QR-LOGIN/", true],
    ["app://qr-login.evil/", false],
    ["app://qr-loginx/", false],
    ["https://qr-login/", false],
    ["app://user@qr-login/", false],
    ["", false],
    ["not a url", false],
  ])("%s is ours: %s", (value, ours) => {
    expect(isAppOrigin(value)).toBe(ours);
  });

  test("originOf keeps ports and drops paths", () => {
    expect(originOf("http://127.0.0.1:8008/oauth2/device")).toBe("http://127.0.0.1:8008");
    expect(originOf(null)).toBeNull();
  });
});

describe("permission answers", () => {
  const scanning = { isScanning: () => true };
  const idle = { isScanning: () => false };
  const page = { requestingUrl: "app://qr-login/index.html", isMainFrame: true };
  test("check handler: the origin as Electron sends it, with the slash", () => {
    expect(allowCheck(scanning, null, "media", "app://qr-login/", { mediaType: "video" })).toBe(true);
    expect(allowCheck(scanning, null, "media", "app://qr-login/", { mediaType: "audio" })).toBe(false);
    expect(allowCheck(idle, null, "media", "app://qr-login/", { mediaType: "video" })).toBe(false);
    expect(allowCheck(idle, null, "clipboard-sanitized-write", "app://qr-login/", {})).toBe(true);
    expect(allowCheck(scanning, null, "clipboard-sanitized-write", "https://evil.example/", {})).toBe(false);
    expect(allowCheck(scanning, null, "media", "app://qr-login/", { mediaType: "video", embeddingOrigin: "https://evil.example/" })).toBe(false);
    expect(allowCheck(scanning, null, "clipboard-read", "app://qr-login/", {})).toBe(false);
  });

  test("request handler: our main frame only; camera video only while scanning; screen capture has no device types", () => {
    expect(allowRequest(scanning, null, "media", { ...page, mediaTypes: ["video"] })).toBe(true);
    expect(allowRequest(scanning, null, "media", { ...page, mediaTypes: [] })).toBe(true); // getDisplayMedia
    expect(allowRequest(scanning, null, "media", { ...page, mediaTypes: ["video", "audio"] })).toBe(false);
    expect(allowRequest(idle, null, "media", { ...page, mediaTypes: ["video"] })).toBe(false);
    expect(allowRequest(scanning, null, "media", { ...page, isMainFrame: false, mediaTypes: ["video"] })).toBe(false);
    expect(allowRequest(scanning, null, "media", { requestingUrl: "https://evil.example/", mediaTypes: ["video"] })).toBe(false);
    expect(allowRequest(idle, null, "clipboard-sanitized-write", page)).toBe(true);
    for (const p of ["notifications", "geolocation", "clipboard-read", "openExternal", "fullscreen"]) expect(allowRequest(scanning, null, p, page)).toBe(false);
  });
});

describe("the homeserver field", () => {
  test.each([
    ["matrix.org", "https://matrix.org/"],
    ["  matrix.example.org  ", "https://matrix.example.org/"],
    ["https://matrix.example.org", "https://matrix.example.org/"],
    ["https://example.org/matrix", "https://example.org/matrix/"],
    ["http://127.0.0.1:8008", "http://127.0.0.1:8008/"],
    ["http://localhost:8008/", "http://localhost:8008/"],
  ])("%s → %s", (input, url) => {
    expect(parseHomeserverInput(input).href).toBe(url);
  });

  test.each(["", "http://matrix.example.org", "ftp://example.org", "https://user:pw@example.org", "https://example.org/?x=1", "exa mple"])("%s is refused with a reason", (input) => {
    expect(() => parseHomeserverInput(input)).toThrow(HomeserverInputError);
  });

  test("a server name resolves through /.well-known/matrix/client; without one the address is used as typed", async () => {
    const seen: string[] = [];
    const fetchWith = (body: unknown, status = 200) =>
      (async (url: URL | string) => {
        seen.push(String(url));
        return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
      }) as typeof fetch;
    expect(await resolveHomeserver("example.org", { fetch: fetchWith({ "m.homeserver": { base_url: "https://matrix-client.example.org" } }) })).toBe("https://matrix-client.example.org/");
    expect(seen).toEqual(["https://example.org/.well-known/matrix/client"]);
    expect(await resolveHomeserver("example.org", { fetch: fetchWith("not found", 404) })).toBe("https://example.org/");
    expect(await resolveHomeserver("example.org", { fetch: fetchWith("<html>") })).toBe("https://example.org/");
    const offline = (async () => {
      throw new TypeError("fetch failed");
    }) as typeof fetch;
    expect(await resolveHomeserver("example.org", { fetch: offline })).toBe("https://example.org/");
    // a well-known pointing at plain http elsewhere is refused, not followed
    await expect(resolveHomeserver("example.org", { fetch: fetchWith({ "m.homeserver": { base_url: "http://evil.example" } }) })).rejects.toThrow(HomeserverInputError);
  });
});

describe("the command line", () => {
  test("an installed app is in account mode with one free window; npm start is the development pair", () => {
    expect(readConfig([], { isPackaged: true })).toEqual({ dev: false, homeserver: null, rendezvous: null, roles: null, profile: undefined, protocol: "auto" });
    expect(readConfig([], { isPackaged: false })).toMatchObject({ dev: true, roles: ["existing", "new"] });
    expect(readConfig(["--dev"], { isPackaged: true })).toMatchObject({ dev: true, roles: ["existing", "new"] });
    expect(readConfig(["--homeserver", "https://hs.example.org"], { isPackaged: false })).toMatchObject({ dev: false, homeserver: "https://hs.example.org/", roles: null });
    expect(readConfig(["--role", "new", "--no-sandbox-ignored"], { isPackaged: true })).toMatchObject({ roles: ["new"] });
    expect(readConfig(["--protocol", "2024"], { isPackaged: true })).toMatchObject({ protocol: "2024" });
    expect(readConfig(["--protocol", "2025", "--dev"], { isPackaged: true })).toMatchObject({ protocol: "2025", dev: true });
  });

  test("mistakes are start-up errors with a hint", () => {
    for (const argv of [["--role", "x"], ["--homeserver", "matrix.org"], ["--rendezvous", "ftp://x"], ["--profile", "element-2099"], ["--protocol", "2023"]]) {
      expect(() => readConfig(argv, { isPackaged: true })).toThrow(StartupError);
    }
  });
});

describe("the session at rest (safeStorage)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "qr-login-vault-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // A reversible stand-in for the OS keychain: XOR with a key, so the file is not plaintext.
  const fakeSafe = (o: { available?: boolean; backend?: string; key?: number; reEncrypt?: boolean } = {}): SafeStorageLike & { encrypted: number } => {
    const key = o.key ?? 0x5a;
    const safe = {
      encrypted: 0,
      isAsyncEncryptionAvailable: async () => o.available ?? true,
      getSelectedStorageBackend: () => o.backend ?? "gnome_libsecret",
      encryptStringAsync: async (s: string) => {
        safe.encrypted++;
        return Buffer.concat([Buffer.from([key]), Buffer.from(Buffer.from(s, "utf8").map((b) => b ^ key))]);
      },
      decryptStringAsync: async (b: Buffer) => {
        if (b[0] !== key) throw new Error("Error while decrypting the ciphertext provided to safeStorage.decryptString.");
        return { result: Buffer.from(b.subarray(1).map((x) => x ^ key)).toString("utf8"), shouldReEncrypt: o.reEncrypt === true };
      },
    };
    return safe;
  };
  const session: AccountSession = {
    format: ACCOUNT_SESSION_FORMAT,
    homeserverUrl: "https://hs.example.org/",
    userId: "@alice:example.org",
    deviceId: "DEV",
    accessToken: "syt_SECRET_TOKEN",
    refreshToken: "REFRESH",
    clientId: "client",
    secrets: fakeSecrets(),
    createdAt: "2026-01-01T00:00:00.000Z",
  };

  test("round trip through the keychain; the file holds no plaintext token or key and is private", async () => {
    const file = path.join(dir, "a", "session.bin");
    const vault = new AccountSessionVault(file, fakeSafe(), "linux");
    expect(await vault.storage()).toBe("keychain");
    expect(await vault.save(session)).toBe("keychain");
    const raw = readFileSync(file).toString("latin1");
    expect(raw).not.toContain("syt_SECRET_TOKEN");
    expect(raw).not.toContain(session.secrets.cross_signing.master_key);
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(await vault.load()).toEqual(session);
    await vault.clear();
    expect(await vault.load()).toBeNull();
  });

  test("Linux without a keyring (basic_text): nothing is written, and the status says so", async () => {
    const file = path.join(dir, "b.bin");
    const safe = fakeSafe({ backend: "basic_text" });
    const vault = new AccountSessionVault(file, safe, "linux");
    expect(await vault.storage()).toBe("no_keyring");
    expect(await vault.save(session)).toBe("no_keyring");
    expect(existsSync(file)).toBe(false);
    expect(safe.encrypted).toBe(0);
    // basic_text is a Linux backend name: elsewhere the keychain is used as it reports
    expect(await new AccountSessionVault(file, fakeSafe({ backend: "basic_text" }), "darwin").storage()).toBe("keychain");
  });

  test("no encryption at all: nothing is written or read", async () => {
    const file = path.join(dir, "c.bin");
    const vault = new AccountSessionVault(file, fakeSafe({ available: false }), "win32");
    expect(await vault.save(session)).toBe("unavailable");
    expect(existsSync(file)).toBe(false);
    expect(await vault.load()).toBeNull();
  });

  test("content the keychain cannot decrypt now is kept; content that is no session is removed", async () => {
    const file = path.join(dir, "d.bin");
    await new AccountSessionVault(file, fakeSafe({ key: 0x11 }), "linux").save(session);
    expect(await new AccountSessionVault(file, fakeSafe({ key: 0x22 }), "linux").load()).toBeNull();
    expect(existsSync(file)).toBe(true);
    writeFileSync(file, await fakeSafe().encryptStringAsync(JSON.stringify({ userId: "@a:b" })));
    expect(await new AccountSessionVault(file, fakeSafe(), "linux").load()).toBeNull();
    expect(existsSync(file)).toBe(false);
  });

  test("a rotated keychain key re-encrypts on load", async () => {
    const file = path.join(dir, "e.bin");
    await new AccountSessionVault(file, fakeSafe(), "linux").save(session);
    const safe = fakeSafe({ reEncrypt: true });
    expect(await new AccountSessionVault(file, safe, "linux").load()).toEqual(session);
    expect(safe.encrypted).toBe(1);
  });
});
