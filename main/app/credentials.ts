// The app's own Matrix credentials at rest, encrypted with Electron's safeStorage (OS keychain /
// DPAPI / libsecret). Without OS encryption nothing is written: the session then lasts until quit,
// rather than leaving a token in a plain file.
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/** The subset of Electron's safeStorage used here (injected: tests run without Electron). */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
}

export interface StoredCredentials {
  homeserverUrl: string;
  userId: string;
  deviceId: string;
  accessToken: string;
  refreshToken?: string;
}

function isCredentials(v: unknown): v is StoredCredentials {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    ["homeserverUrl", "userId", "deviceId", "accessToken"].every((k) => typeof o[k] === "string" && (o[k] as string).length > 0) &&
    (o.refreshToken === undefined || typeof o.refreshToken === "string")
  );
}

export class CredentialStore {
  constructor(
    private readonly file: string,
    private readonly safe: SafeStorageLike,
  ) {}

  /** false when the OS offers no encryption (nothing is then persisted). */
  async save(c: StoredCredentials): Promise<boolean> {
    if (!this.safe.isEncryptionAvailable()) return false;
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, this.safe.encryptString(JSON.stringify(c)), { mode: 0o600 });
    await rename(tmp, this.file);
    return true;
  }

  /** null when nothing is stored, or it cannot be decrypted / parsed (a different OS user, a corrupt file). */
  async load(): Promise<StoredCredentials | null> {
    if (!this.safe.isEncryptionAvailable()) return null;
    let data: Buffer;
    try {
      data = await readFile(this.file);
    } catch {
      return null;
    }
    try {
      const v: unknown = JSON.parse(this.safe.decryptString(data));
      return isCredentials(v) ? v : null;
    } catch {
      return null;
    }
  }

  async clear(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
