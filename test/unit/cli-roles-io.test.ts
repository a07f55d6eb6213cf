// Pieces of the headless sign-in CLI that need no server: the summary line, progress lines, stdin
// queue, hex parsing, the terminal QR, and the session file format (parse, 0600 write).
import { describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describeEvent, hexToBytes, LineQueue, summarise, terminalQr } from "../../main/cli/role-io.js";
import { UsageError } from "../../main/cli/args.js";
import { parseAccountSession, readAccountSessionFile, ACCOUNT_SESSION_FORMAT, AccountSessionError, writeAccountSessionFile } from "../../main/login/account/account-session.js";

const KEY = Buffer.alloc(32, 1).toString("base64").replace(/=+$/, "");
const SEEDED = {
  format: ACCOUNT_SESSION_FORMAT,
  homeserverUrl: "http://127.0.0.1:8008",
  userId: "@alice:localhost",
  deviceId: "DEMOEXISTING",
  accessToken: "at",
  refreshToken: "rt",
  secrets: { cross_signing: { master_key: KEY, self_signing_key: KEY, user_signing_key: KEY }, backup: { algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", key: KEY, backup_version: "1" } },
  createdAt: "2026-11-23T00:00:00.000Z",
};

describe("summary line", () => {
  test("success carries who, which device and the verified state", () => {
    expect(summarise({ outcome: "success", userId: "@a:x", deviceId: "ABCDEFGHIJ", crossSigned: true, backup: false })).toEqual({
      outcome: "success", userId: "@a:x", deviceId: "ABCDEFGHIJ", crossSigned: true, backup: false,
    });
  });
  test("failures carry the MSC reason and side; errors their code; never crossSigned", () => {
    expect(summarise({ outcome: "failure", reason: "device_already_exists", side: "peer" }, { deviceId: "ABCDEFGHIJ" })).toEqual({
      outcome: "failure", reason: "device_already_exists", side: "peer", deviceId: "ABCDEFGHIJ", crossSigned: false, backup: false,
    });
    expect(summarise({ outcome: "declined", side: "local" })).toEqual({ outcome: "declined", side: "local", crossSigned: false, backup: false });
    expect(summarise({ outcome: "error", code: "import_failed", detail: "x" })).toEqual({ outcome: "error", reason: "import_failed", detail: "x", crossSigned: false, backup: false });
  });
});

describe("progress lines", () => {
  test("messages and states are described; what the command prints itself is not", () => {
    expect(describeEvent({ type: "message_sent", messageType: "m.login.protocol" })).toBe("→ m.login.protocol");
    expect(describeEvent({ type: "state", state: "waiting_for_consent" })).toBe("… waiting for consent");
    expect(describeEvent({ type: "check_code", code: "42" })).toBeUndefined();
    expect(describeEvent({ type: "qr", hex: "00" })).toBeUndefined();
  });
});

describe("stdin queue", () => {
  test("lines in order, blank lines skipped, undefined at EOF", async () => {
    const input = new PassThrough();
    const q = new LineQueue(input);
    input.write("42\n\n  y  \n");
    input.end();
    expect(await q.next()).toBe("42");
    expect(await q.next()).toBe("y");
    expect(await q.next()).toBeUndefined();
  });
  test("an aborted wait returns undefined; the line typed later is still there", async () => {
    const input = new PassThrough();
    const q = new LineQueue(input);
    const ctl = new AbortController();
    const waiting = q.next(ctl.signal);
    ctl.abort();
    expect(await waiting).toBeUndefined();
    input.write("17\n");
    expect(await q.next()).toBe("17");
    input.end();
  });
});

describe("hex and terminal QR", () => {
  test("hex: whitespace tolerated; odd length or non-hex is a usage error", () => {
    expect([...hexToBytes("4d 41\n54", "--scan")]).toEqual([0x4d, 0x41, 0x54]);
    expect(() => hexToBytes("4d4", "--scan")).toThrow(UsageError);
    expect(() => hexToBytes("zz", "--scan")).toThrow(UsageError);
  });
  test("terminal QR: half-block rows, more modules for a longer payload", async () => {
    const small = await terminalQr(new Uint8Array(20));
    const large = await terminalQr(new Uint8Array(200).fill(0xff));
    expect(small).toMatch(/[▀▄█]/);
    expect(large.split("\n").length).toBeGreaterThan(small.split("\n").length);
  });
});

describe("session file", () => {
  test("reads the dev stack seed's format; the base URL gets its trailing slash", () => {
    const s = parseAccountSession(JSON.stringify(SEEDED));
    expect(s.homeserverUrl).toBe("http://127.0.0.1:8008/");
    expect(s.refreshToken).toBe("rt");
    expect(s.clientId).toBeUndefined();
  });
  test.each([
    ["another format", { ...SEEDED, format: "other" }],
    ["no access token", { ...SEEDED, accessToken: "" }],
    ["no cross-signing keys", { ...SEEDED, secrets: { backup: SEEDED.secrets.backup } }],
    // Checked as a received m.login.secrets is: a bundle that could never be sent is refused on loading.
    ["a cross-signing key that is not 32 bytes", { ...SEEDED, secrets: { ...SEEDED.secrets, cross_signing: { ...SEEDED.secrets.cross_signing, master_key: "AAAA" } } }],
    ["a homeserver that is no URL", { ...SEEDED, homeserverUrl: "nope" }],
  ])("refuses %s", (_name, content) => {
    expect(() => parseAccountSession(JSON.stringify(content))).toThrow(AccountSessionError);
  });
  test("written atomically with mode 0600, also over an older world-readable file", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "qr-session-"));
    try {
      const file = path.join(dir, "sub", "session.json");
      writeAccountSessionFile(file, parseAccountSession(JSON.stringify(SEEDED)));
      writeFileSync(file, "{}", { mode: 0o644 });
      writeAccountSessionFile(file, parseAccountSession(JSON.stringify(SEEDED)));
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readAccountSessionFile(file).deviceId).toBe("DEMOEXISTING");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
