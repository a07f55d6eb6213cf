// Store selection from one string: "memory" | "sqlite:PATH" | "redis://…" (or "rediss://…").
import type { RendezvousStore } from "./store.js";
import { MemoryStore } from "./store-memory.js";
import { RedisStore } from "./store-redis.js";
import { SqliteStore } from "./store-sqlite.js";

export interface OpenStoreOptions {
  redisPrefix?: string;
  /** Bound on a Redis command or connection attempt (see RedisStoreOptions). */
  redisTimeoutMs?: number;
  /** Bound on waiting for another connection's lock on the SQLite file (see SqliteStoreOptions). */
  sqliteBusyTimeoutMs?: number;
}

export async function openStore(spec: string, opts: OpenStoreOptions = {}): Promise<RendezvousStore> {
  if (spec === "memory") return new MemoryStore();
  if (spec.startsWith("sqlite:")) {
    const file = spec.slice("sqlite:".length);
    if (!file) throw new Error('store "sqlite:" needs a path, e.g. sqlite:./rendezvous.sqlite');
    return new SqliteStore(file, opts.sqliteBusyTimeoutMs !== undefined ? { busyTimeoutMs: opts.sqliteBusyTimeoutMs } : {});
  }
  if (spec.startsWith("redis://") || spec.startsWith("rediss://")) {
    const store = new RedisStore(spec, opts.redisPrefix, opts.redisTimeoutMs !== undefined ? { timeoutMs: opts.redisTimeoutMs } : {});
    try {
      await store.ready();
    } catch (err) {
      await store.close();
      throw new Error(`cannot reach Redis at ${redactUrl(spec)}: ${(err as Error).message}`);
    }
    return store;
  }
  throw new Error(`unknown store "${spec}": use memory, sqlite:PATH or redis://HOST:PORT`);
}

/** A store URL for logs: any password is replaced. */
export function redactUrl(spec: string): string {
  try {
    const u = new URL(spec);
    if (u.password) u.password = "***";
    return u.href;
  } catch {
    return spec;
  }
}
