// Store selection from one string: "memory" | "sqlite:PATH" | "redis://…" (or "rediss://…").
import type { RendezvousStore } from "./store.js";
import { MemoryStore } from "./store-memory.js";
import { RedisStore } from "./store-redis.js";
import { SqliteStore } from "./store-sqlite.js";

export async function openStore(spec: string, opts: { redisPrefix?: string } = {}): Promise<RendezvousStore> {
  if (spec === "memory") return new MemoryStore();
  if (spec.startsWith("sqlite:")) {
    const file = spec.slice("sqlite:".length);
    if (!file) throw new Error('store "sqlite:" needs a path, e.g. sqlite:./rendezvous.sqlite');
    return new SqliteStore(file);
  }
  if (spec.startsWith("redis://") || spec.startsWith("rediss://")) {
    const store = new RedisStore(spec, opts.redisPrefix);
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
