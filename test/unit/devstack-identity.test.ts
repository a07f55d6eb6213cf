// settleKeyBackup (main/devstack/identity.ts) against a stand-in for matrix-js-sdk's backup checks as
// lib/rust-crypto/backup.js has them: a forced check joins the one in flight or asks the server anew,
// and a check whose request failed, or that read the server before the backup existed, answers null
// and leaves the SDK's cached view saying there is no backup.
import { describe, expect, test } from "@jest/globals";
import { settleKeyBackup } from "../../main/devstack/identity.js";

/** The server's answers to the checks' GET /room_keys/version, in order: a version, 404, or a failure. */
function sdkChecks(answers: Array<string | "404" | "502">) {
  let active: string | null = null;
  let asked = 0;
  return {
    get asked() {
      return asked;
    },
    async checkKeyBackupAndEnable() {
      const answer = answers[Math.min(asked++, answers.length - 1)]!;
      if (answer === "502") return null; // "Error checking for active key backup": nothing enabled or disabled
      if (answer === "404") {
        active = null; // "No key backup present on server: disabling key backup"
        return null;
      }
      active = answer;
      return { backupInfo: { version: answer, algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", auth_data: {} }, trustInfo: { trusted: true, matchesDecryptionKey: true } } as never;
    },
    async getActiveSessionBackupVersion() {
      return active;
    },
  };
}

describe("settleKeyBackup", () => {
  test("the backup is found and active at the first check", async () => {
    const c = sdkChecks(["3"]);
    await expect(settleKeyBackup(c)).resolves.toBe("3");
    expect(c.asked).toBe(1);
  });

  test("a check that failed, or read the server before the backup existed, is asked again", async () => {
    const c = sdkChecks(["502", "404", "3"]);
    await expect(settleKeyBackup(c)).resolves.toBe("3");
    expect(c.asked).toBe(3);
  });

  test("a backup that never shows is a clear error after the rounds", async () => {
    const c = sdkChecks(["404"]);
    await expect(settleKeyBackup(c, 3)).rejects.toThrow("the new key backup is not on the server");
    expect(c.asked).toBe(3);
  });
});
