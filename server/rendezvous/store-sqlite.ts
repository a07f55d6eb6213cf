// SQLite store (better-sqlite3): sessions survive a restart of `qr-login server`. Expiry is an
// indexed column, so purging deletes just the expired rows and counting live sessions is an
// index range. Creates and compare-and-swaps run in IMMEDIATE transactions, so they stay atomic
// even if two processes open the same file.
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { CreateParams, CreateResult, RendezvousApi, RendezvousStore, StoredSession, UpdateResult } from "./store.js";
import { newSessionId, sequenceToken } from "./store.js";

interface Row {
  data: string;
  token: string;
  counter: number;
  expires_at: number;
  modified_at: number;
}

export class SqliteStore implements RendezvousStore {
  readonly kind = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly createTx;
  private readonly updateTx;
  private readonly watchers = new Set<NodeJS.Timeout>();

  constructor(file: string) {
    if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS rendezvous_sessions (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        token TEXT NOT NULL,
        counter INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        owner TEXT NOT NULL,
        api TEXT NOT NULL DEFAULT '2025',
        modified_at INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS rendezvous_sessions_expiry ON rendezvous_sessions (expires_at);
      CREATE INDEX IF NOT EXISTS rendezvous_sessions_owner ON rendezvous_sessions (owner, expires_at);
    `);
    // Files written before the 2024 API existed hold 2025 sessions only: add the columns in place.
    const columns = new Set(this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('rendezvous_sessions')").all().map((c) => c.name));
    if (!columns.has("api")) this.db.exec("ALTER TABLE rendezvous_sessions ADD COLUMN api TEXT NOT NULL DEFAULT '2025'");
    if (!columns.has("modified_at")) this.db.exec("ALTER TABLE rendezvous_sessions ADD COLUMN modified_at INTEGER NOT NULL DEFAULT 0");
    const db = this.db;
    this.stmt = {
      get: db.prepare<[string, string, number], Row>(
        "SELECT data, token, counter, expires_at, modified_at FROM rendezvous_sessions WHERE id = ? AND api = ? AND expires_at > ?"),
      insert: db.prepare<[string, string, string, number, string, string, number]>(
        "INSERT INTO rendezvous_sessions (id, data, token, counter, expires_at, owner, api, modified_at) VALUES (?, ?, ?, 0, ?, ?, ?, ?)"),
      write: db.prepare<[string, string, number, number, string]>(
        "UPDATE rendezvous_sessions SET data = ?, token = ?, counter = ?, modified_at = ? WHERE id = ?"),
      delete: db.prepare<[string, string, number]>("DELETE FROM rendezvous_sessions WHERE id = ? AND api = ? AND expires_at > ?"),
      deleteExpired: db.prepare<[string, number]>("DELETE FROM rendezvous_sessions WHERE id = ? AND expires_at <= ?"),
      purge: db.prepare<[number]>("DELETE FROM rendezvous_sessions WHERE expires_at <= ?"),
      count: db.prepare<[number], { n: number; oldest: number | null }>(
        "SELECT COUNT(*) AS n, MIN(expires_at) AS oldest FROM rendezvous_sessions WHERE expires_at > ?"),
      countOwner: db.prepare<[string, number], { n: number; oldest: number | null }>(
        "SELECT COUNT(*) AS n, MIN(expires_at) AS oldest FROM rendezvous_sessions WHERE owner = ? AND expires_at > ?"),
      exists: db.prepare<[string], { one: number }>("SELECT 1 AS one FROM rendezvous_sessions WHERE id = ?"),
    };
    this.createTx = db.transaction((p: CreateParams): CreateResult => {
      this.stmt.purge.run(p.now);
      if (p.maxSessions > 0) {
        const total = this.stmt.count.get(p.now)!;
        if (total.n >= p.maxSessions) {
          return { ok: false, reason: "total", retryAfterMs: Math.max(1, (total.oldest ?? p.now + 1000) - p.now) };
        }
      }
      if (p.maxSessionsPerOwner > 0) {
        const mine = this.stmt.countOwner.get(p.owner, p.now)!;
        if (mine.n >= p.maxSessionsPerOwner) {
          return { ok: false, reason: "per_owner", retryAfterMs: Math.max(1, (mine.oldest ?? p.now + 1000) - p.now) };
        }
      }
      let id = newSessionId();
      while (this.stmt.exists.get(id)) id = newSessionId();
      const token = sequenceToken(id, 0, p.data);
      const expiresAt = p.now + p.ttlMs;
      this.stmt.insert.run(id, p.data, token, expiresAt, p.owner, p.api, p.now);
      return { ok: true, id, sequenceToken: token, expiresAt };
    });
    this.updateTx = db.transaction((api: RendezvousApi, id: string, token: string, data: string, now: number): UpdateResult => {
      const row = this.stmt.get.get(id, api, now);
      if (!row) return { kind: "not_found" };
      if (row.token === token) {
        const counter = row.counter + 1;
        const next = sequenceToken(id, counter, data);
        this.stmt.write.run(data, next, counter, now, id);
        return { kind: "written", sequenceToken: next, expiresAt: row.expires_at };
      }
      if (row.data === data) return { kind: "unchanged", sequenceToken: row.token, expiresAt: row.expires_at };
      return { kind: "conflict" };
    });
  }

  async create(p: CreateParams): Promise<CreateResult> {
    return this.createTx.immediate(p);
  }

  async get(api: RendezvousApi, id: string, now: number): Promise<StoredSession | null> {
    const row = this.stmt.get.get(id, api, now);
    return row ? { data: row.data, sequenceToken: row.token, expiresAt: row.expires_at, modifiedAt: row.modified_at } : null;
  }

  async update(api: RendezvousApi, id: string, token: string, data: string, now: number): Promise<UpdateResult> {
    return this.updateTx.immediate(api, id, token, data, now);
  }

  async delete(api: RendezvousApi, id: string, now: number): Promise<boolean> {
    if (this.stmt.delete.run(id, api, now).changes > 0) return true;
    this.stmt.deleteExpired.run(id, now); // an expired row: gone either way, still a 404
    return false;
  }

  async liveCount(now: number): Promise<number> {
    return this.stmt.count.get(now)!.n;
  }

  async purgeExpired(now: number): Promise<number> {
    return this.stmt.purge.run(now).changes;
  }

  /**
   * Two processes on one file: SQLite cannot notify, but `PRAGMA data_version` changes whenever
   * another connection committed, so it is polled (a few times a second, one cheap statement) and a
   * change wakes every held GET of this process to re-read.
   */
  async watch(listener: (api: RendezvousApi | null, id: string | null) => void, intervalMs = 200): Promise<() => Promise<void>> {
    const read = () => this.db.pragma("data_version", { simple: true }) as number;
    let version = read();
    const timer = setInterval(() => {
      if (!this.db.open) return;
      const v = read();
      if (v !== version) { version = v; listener(null, null); }
    }, intervalMs);
    timer.unref();
    this.watchers.add(timer);
    return async () => { clearInterval(timer); this.watchers.delete(timer); };
  }

  async close(): Promise<void> {
    for (const t of this.watchers) clearInterval(t);
    this.watchers.clear();
    if (this.db.open) this.db.close();
  }
}
