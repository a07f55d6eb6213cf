// One SQLite database for the whole development homeserver: the OAuth server's records and the
// Client-Server API's data live in separate tables of the same file, so `--data DIR` is one file
// to keep or delete. "Memory" (tests) is SQLite's in-memory database: same code path, nothing on disk.
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";

export type DevhomeDb = Database.Database;

export const DEVHOME_DB_FILE = "devhome.sqlite";

/** Opens the database in `dataDir` (created if missing), or in memory when `dataDir` is undefined. */
export function openDevhomeDb(dataDir?: string): DevhomeDb {
  let db: DevhomeDb;
  if (dataDir === undefined) {
    db = new Database(":memory:");
  } else {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    db = new Database(path.join(dataDir, DEVHOME_DB_FILE));
    db.pragma("journal_mode = WAL");
  }
  db.pragma("foreign_keys = ON");
  return db;
}
