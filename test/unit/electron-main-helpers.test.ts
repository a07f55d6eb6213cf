// main/app/external-url.ts (what shell.openExternal may open) and main/app/credentials.ts (safeStorage at rest).
import { describe, test, expect, afterAll } from "@jest/globals";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { isAllowedExternalUrl, providerOrigins } from "../../main/app/external-url.js";
import { CredentialStore, type SafeStorageLike } from "../../main/app/credentials.js";

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

describe("credential store", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "qr-login-creds-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // A reversible stand-in for the OS keychain: XOR with a key, so the file is not plaintext.
  const fakeSafe = (available: boolean, key = 0x5a): SafeStorageLike => ({
    isEncryptionAvailable: () => available,
    encryptString: (s) => Buffer.from(Buffer.from(s, "utf8").map((b) => b ^ key)),
    decryptString: (b) => Buffer.from(b.map((x) => x ^ key)).toString("utf8"),
  });
  const creds = { homeserverUrl: "https://hs.example.org", userId: "@alice:example.org", deviceId: "DEV", accessToken: "syt_SECRET_TOKEN", refreshToken: "REFRESH" };

  test("round trip; the file holds no plaintext token and is private", async () => {
    const file = path.join(dir, "a", "credentials.bin");
    const store = new CredentialStore(file, fakeSafe(true));
    expect(await store.save(creds)).toBe(true);
    expect(readFileSync(file).toString("latin1")).not.toContain("syt_SECRET_TOKEN");
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(await store.load()).toEqual(creds);
    await store.clear();
    expect(await store.load()).toBeNull();
  });

  test("without OS encryption nothing is written or read", async () => {
    const file = path.join(dir, "b.bin");
    const store = new CredentialStore(file, fakeSafe(false));
    expect(await store.save(creds)).toBe(false);
    expect(() => statSync(file)).toThrow();
  });

  test("undecryptable or malformed content loads as null", async () => {
    const file = path.join(dir, "c.bin");
    await new CredentialStore(file, fakeSafe(true, 0x11)).save(creds);
    expect(await new CredentialStore(file, fakeSafe(true, 0x22)).load()).toBeNull();
    writeFileSync(file, fakeSafe(true).encryptString(JSON.stringify({ userId: "@a:b" })));
    expect(await new CredentialStore(file, fakeSafe(true)).load()).toBeNull();
  });
});
