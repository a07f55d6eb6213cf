// Local password accounts of the development homeserver. Passwords are hashed with scrypt (per-user
// random salt) and compared in constant time; the plain password exists only in the caller's hands.
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type { DevhomeDb } from "../storage.js";

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;
const KEY_LENGTH = 32;

/** Matrix user id grammar for localparts (spec: historical users aside, [a-z0-9._=/+-]). */
const LOCALPART = /^[a-z0-9._=/+-]+$/;

export class AccountError extends Error {
  override readonly name = "AccountError";
  constructor(readonly reason: "invalid_localpart" | "exists" | "weak_password", message: string) {
    super(message);
  }
}

export interface Accounts {
  readonly serverName: string;
  /** Creates the account; throws AccountError("exists") if the localpart is taken. Returns the Matrix user id. */
  create(localpart: string, password: string): Promise<string>;
  /** Sets or replaces the password, creating the account if needed. Returns the user id. */
  upsert(localpart: string, password: string): Promise<string>;
  /** The user id if the password matches, else null. Accepts a localpart or a full user id on this server. */
  verify(username: string, password: string): Promise<string | null>;
  exists(userId: string): boolean;
  userId(localpart: string): string;
}

export function openAccounts(db: DevhomeDb, serverName: string): Accounts {
  db.exec(`CREATE TABLE IF NOT EXISTS devhome_accounts (
    localpart TEXT PRIMARY KEY,
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    created_at INTEGER NOT NULL
  )`);
  const select = db.prepare<[string], { salt: Buffer; hash: Buffer }>("SELECT salt, hash FROM devhome_accounts WHERE localpart = ?");
  const insert = db.prepare("INSERT INTO devhome_accounts (localpart, salt, hash, created_at) VALUES (?, ?, ?, ?)");
  const replace = db.prepare(
    "INSERT INTO devhome_accounts (localpart, salt, hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (localpart) DO UPDATE SET salt = excluded.salt, hash = excluded.hash",
  );

  const userId = (localpart: string): string => `@${localpart}:${serverName}`;
  const localpartOf = (username: string): string | null => {
    const name = username.trim();
    if (name.startsWith("@")) {
      const suffix = `:${serverName}`;
      if (!name.endsWith(suffix)) return null;
      return name.slice(1, -suffix.length);
    }
    return name;
  };
  const check = (localpart: string, password: string): void => {
    if (!LOCALPART.test(localpart)) throw new AccountError("invalid_localpart", `invalid localpart "${localpart}"`);
    if (password.length < 8) throw new AccountError("weak_password", "password must have at least 8 characters");
  };
  const hash = async (password: string): Promise<[Buffer, Buffer]> => {
    const salt = randomBytes(16);
    return [salt, await scrypt(password.normalize("NFC"), salt, KEY_LENGTH)];
  };

  return {
    serverName,
    userId,
    async create(localpart, password) {
      check(localpart, password);
      if (select.get(localpart)) throw new AccountError("exists", `${userId(localpart)} already exists`);
      const [salt, h] = await hash(password);
      insert.run(localpart, salt, h, Date.now());
      return userId(localpart);
    },
    async upsert(localpart, password) {
      check(localpart, password);
      const [salt, h] = await hash(password);
      replace.run(localpart, salt, h, Date.now());
      return userId(localpart);
    },
    async verify(username, password) {
      const localpart = localpartOf(username)?.toLowerCase();
      const row = localpart ? select.get(localpart) : undefined;
      // Hash even for unknown users so timing does not reveal which accounts exist.
      const candidate = await scrypt(password.normalize("NFC"), row?.salt ?? Buffer.alloc(16), KEY_LENGTH);
      if (!row || !localpart || !timingSafeEqual(candidate, row.hash)) return null;
      return userId(localpart);
    },
    exists(id) {
      const localpart = localpartOf(id);
      return localpart !== null && id.startsWith("@") && select.get(localpart) !== undefined;
    },
  };
}
