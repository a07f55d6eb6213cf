// This app's own session at rest: the AccountSession of main/login/account/account-session.ts (tokens, and the private
// cross-signing and backup keys the existing device sends in MSC4108), encrypted with Electron's
// safeStorage (Keychain on macOS, DPAPI on Windows, libsecret / KWallet on Linux; docs/api/safe-storage.md).
//
// Where safeStorage has no real key store — Linux without a keyring, where getSelectedStorageBackend()
// is "basic_text" and items are "encrypted via hardcoded plaintext password" — nothing is written: the
// session lasts until quit, and the app says so on screen (StorageStatus "no_keyring") instead of
// pretending to keep it. The same holds when encryption is not available at all ("unavailable").
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { AccountSession } from "../login/account/account-session.js";
import type { StorageStatus } from "../../contract/account.js";

/** The subset of Electron's safeStorage used here (injected: tests run without Electron). */
export interface SafeStorageLike {
  isAsyncEncryptionAvailable(): Promise<boolean>;
  encryptStringAsync(plain: string): Promise<Buffer>;
  decryptStringAsync(encrypted: Buffer): Promise<{ result: string; shouldReEncrypt: boolean }>;
  getSelectedStorageBackend?(): string;
}

export class AccountSessionVault {
  private status: StorageStatus | null = null;

  constructor(
    private readonly file: string,
    private readonly safe: SafeStorageLike,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  /** How a session is kept here. Call after app ready (before it, Linux reports the backend "unknown"). */
  async storage(): Promise<StorageStatus> {
    if (this.status) return this.status;
    if (!(await this.safe.isAsyncEncryptionAvailable().catch(() => false))) return (this.status = "unavailable");
    if (this.platform === "linux" && this.safe.getSelectedStorageBackend?.() === "basic_text") return (this.status = "no_keyring");
    return (this.status = "keychain");
  }

  /** Writes the session when it can be protected; returns how it is kept. */
  async save(session: AccountSession): Promise<StorageStatus> {
    const status = await this.storage();
    if (status !== "keychain") return status;
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, await this.safe.encryptStringAsync(JSON.stringify(session)), { mode: 0o600 });
    await rename(tmp, this.file);
    return status;
  }

  /**
   * The stored session, or null: nothing stored, no protected storage here, content the keychain does
   * not decrypt now (kept: a locked or refused keychain may decrypt it next time), or content that is
   * not a session (removed: it can never be used).
   */
  async load(): Promise<AccountSession | null> {
    if ((await this.storage()) !== "keychain") return null;
    let data: Buffer;
    try {
      data = await readFile(this.file);
    } catch {
      return null;
    }
    let decrypted: { result: string; shouldReEncrypt: boolean };
    try {
      decrypted = await this.safe.decryptStringAsync(data);
    } catch {
      return null;
    }
    let session: AccountSession;
    try {
      // Loaded here, not at start-up: account-session.ts brings matrix-js-sdk with it.
      const { parseAccountSession } = await import("../login/account/account-session.js");
      session = parseAccountSession(decrypted.result, "stored session");
    } catch {
      await this.clear();
      return null;
    }
    if (decrypted.shouldReEncrypt) await this.save(session);
    return session;
  }

  async clear(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
