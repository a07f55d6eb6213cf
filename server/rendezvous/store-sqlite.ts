// SQLite store (better-sqlite3): sessions survive a restart of `qr-login server`. Expiry is an
// indexed column, so purging deletes just the expired rows and counting live sessions is an
// index range. Creates and compare-and-swaps run in IMMEDIATE transactions, so they stay atomic
// even if two processes open the same file.
//
// Another process may hold the file's write lock (two servers on one file, a backup, an operator's
// sqlite3 shell). better-sqlite3 is synchronous: with a busy_timeout SQLite would sleep on the event
// loop until the lock is free, and every request of the server (discovery, /metrics, other sessions)
// would wait behind it. So the connection has no busy_timeout after opening, and a statement that
// finds the file locked is retried from a timer (backing off to 50 ms) until `busyTimeoutMs` has
// passed, then fails (503). Reads rarely meet a lock (WAL: readers do not wait for the writer).
// The alternative, a worker thread owning the connection, keeps the event loop free as well, but
// costs every statement a message round trip each way. Measured on a GET poll of a 10,000-session
// file (fastify, autocannon with 100 connections, five alternating rounds on a shared, loaded 2-core
// machine): the worker cost about 1.5× the server CPU per request (27 µs against 18 µs), served about
// 15 % fewer requests per second and had the worse p99 in four rounds of five. The retry loop costs
// nothing until the file is locked.
import Database from "better-sqlite3";
import { closeSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { CreateParams, CreateResult, RendezvousApi, RendezvousStore, StoredSession, UpdateResult } from "./store.js";
import { newSessionId, sequenceToken } from "./store.js";

/** How long a statement keeps retrying while another connection holds the lock (default). */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 2_000;

export interface SqliteStoreOptions {
  /** Bound on waiting for another connection's lock, per statement; then it fails (503). */
  busyTimeoutMs?: number;
}

/** A statement that could not run because another connection held the lock for the whole bound. */
export class SqliteBusyError extends Error {
  override readonly name = "SqliteBusyError";
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

/** How often /health may try a write of its own (each is one small committed transaction). */
const PROBE_INTERVAL_MS = 5_000;

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
  private readonly busyTimeoutMs: number;
  /** Why the last session write failed (other than a lock), until a write succeeds again. */
  private writeFailure: string | undefined;
  private probedAt = -Infinity;

  constructor(file: string, opts: SqliteStoreOptions = {}) {
    this.busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_SQLITE_BUSY_TIMEOUT_MS;
    if (file !== ":memory:") createPrivately(path.resolve(file));
    this.db = new Database(file);
    // Opening may wait for a lock (the server is not serving yet); afterwards nothing waits (above).
    this.db.pragma(`busy_timeout = ${Math.max(this.busyTimeoutMs, 1000)}`);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
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
      CREATE TABLE IF NOT EXISTS rendezvous_probe (k INTEGER PRIMARY KEY, v BLOB NOT NULL);
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
      probeWrite: db.prepare("INSERT OR REPLACE INTO rendezvous_probe (k, v) VALUES (1, zeroblob(4096))"),
      probeClear: db.prepare("DELETE FROM rendezvous_probe"),
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
    this.probeTx = db.transaction(() => {
      this.stmt.probeWrite.run();
      this.stmt.probeClear.run();
    });
    // Set up: from now on a locked file is retried from a timer, never waited for in SQLite.
    this.db.pragma("busy_timeout = 0");
  }

  private readonly probeTx;

  create(p: CreateParams): Promise<CreateResult> {
    return this.run(() => this.createTx.immediate(p), true);
  }

  get(api: RendezvousApi, id: string, now: number): Promise<StoredSession | null> {
    return this.run(() => {
      const row = this.stmt.get.get(id, api, now);
      return row ? { data: row.data, sequenceToken: row.token, expiresAt: row.expires_at, modifiedAt: row.modified_at } : null;
    }, false);
  }

  update(api: RendezvousApi, id: string, token: string, data: string, now: number): Promise<UpdateResult> {
    return this.run(() => this.updateTx.immediate(api, id, token, data, now), true);
  }

  delete(api: RendezvousApi, id: string, now: number): Promise<boolean> {
    return this.run(() => {
      if (this.stmt.delete.run(id, api, now).changes > 0) return true;
      this.stmt.deleteExpired.run(id, now); // an expired row: gone either way, still a 404
      return false;
    }, false);
  }

  liveCount(now: number): Promise<number> {
    return this.run(() => this.stmt.count.get(now)!.n, false);
  }

  purgeExpired(now: number): Promise<number> {
    return this.run(() => this.stmt.purge.run(now).changes, false);
  }

  /**
   * Whether session writes fail for a reason other than a lock (disk full, read-only file, I/O
   * error): what the last create or update met, or, at most every 5 s, a probe write of its own (a
   * 4 KiB row written and removed in one transaction), so that an idle server notices too and a
   * recovered one reports so without waiting for a client. null when writes work.
   */
  async writeProblem(now: number): Promise<string | null> {
    if (now - this.probedAt >= PROBE_INTERVAL_MS || now < this.probedAt) {
      this.probedAt = now;
      try {
        this.probeTx.immediate();
        this.writeFailure = undefined;
      } catch (err) {
        if (!isBusy(err)) this.writeFailure = describe(err);
      }
    }
    return this.writeFailure ?? null;
  }

  /**
   * Runs a statement (or transaction) now; if the file is locked, again from a timer until the
   * bound has passed. `sessionWrite`: its success or failure is what writeProblem() reports.
   */
  private run<T>(op: () => T, sessionWrite: boolean): Promise<T> {
    try {
      const value = op();
      if (sessionWrite) this.writeFailure = undefined;
      return Promise.resolve(value);
    } catch (err) {
      if (isBusy(err)) return this.retry(op, sessionWrite);
      if (sessionWrite) this.writeFailure = describe(err);
      return Promise.reject(err as Error);
    }
  }

  private async retry<T>(op: () => T, sessionWrite: boolean): Promise<T> {
    const started = performance.now();
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      const left = this.busyTimeoutMs - (performance.now() - started);
      if (left <= 0) throw new SqliteBusyError(`SQLite file locked by another connection for ${this.busyTimeoutMs} ms`);
      await sleep(Math.min(delay, left));
      if (!this.db.open) throw new Error("SQLite store closed");
      try {
        const value = op();
        if (sessionWrite) this.writeFailure = undefined;
        return value;
      } catch (err) {
        if (isBusy(err)) continue;
        if (sessionWrite) this.writeFailure = describe(err);
        throw err;
      }
    }
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
      let v: number;
      try {
        v = read();
      } catch {
        return; // locked or failing: the next tick tries again
      }
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

/**
 * Session data is between the two devices only: a file we create is readable by its owner alone
 * (0600; SQLite gives the -wal and -shm files the same mode), in a directory we create for it (0700).
 * Existing files and directories keep the modes the operator gave them.
 */
function createPrivately(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return `${typeof code === "string" ? `${code}: ` : ""}${(err as Error).message}`;
}
