// In-process store: one Map in insertion order. Every session of a server gets the same TTL, so
// insertion order is expiry order and purging pops expired entries off the front of the Map
// without looking at the live ones.
import type { CreateParams, CreateResult, RendezvousStore, StoredSession, UpdateResult } from "./store.js";
import { newSessionId, sequenceToken } from "./store.js";

class Entry implements StoredSession {
  constructor(
    public data: string,
    public sequenceToken: string,
    public counter: number,
    public readonly expiresAt: number,
    public readonly owner: string,
  ) {}
}

export class MemoryStore implements RendezvousStore {
  readonly kind = "memory" as const;
  private readonly sessions = new Map<string, Entry>();
  /** Live session ids per owner, oldest first (for the per-owner cap and its retry hint). */
  private readonly byOwner = new Map<string, Set<string>>();

  async create(p: CreateParams): Promise<CreateResult> {
    this.purge(p.now);
    if (p.maxSessions > 0 && this.sessions.size >= p.maxSessions) {
      const oldest = this.sessions.values().next().value;
      return { ok: false, reason: "total", retryAfterMs: oldest ? Math.max(1, oldest.expiresAt - p.now) : 1000 };
    }
    const owned = this.byOwner.get(p.owner);
    if (p.maxSessionsPerOwner > 0 && owned && owned.size >= p.maxSessionsPerOwner) {
      const first = owned.values().next().value;
      const oldest = first === undefined ? undefined : this.sessions.get(first);
      return { ok: false, reason: "per_owner", retryAfterMs: oldest ? Math.max(1, oldest.expiresAt - p.now) : 1000 };
    }
    let id = newSessionId();
    while (this.sessions.has(id)) id = newSessionId(); // 128 random bits: practically never loops
    const entry = new Entry(p.data, sequenceToken(id, 0, p.data), 0, p.now + p.ttlMs, p.owner);
    this.sessions.set(id, entry);
    if (owned) owned.add(id);
    else this.byOwner.set(p.owner, new Set([id]));
    return { ok: true, id, sequenceToken: entry.sequenceToken, expiresAt: entry.expiresAt };
  }

  async get(id: string, now: number): Promise<StoredSession | null> {
    return this.live(id, now);
  }

  /** Synchronous lookup for the hot GET path (no promise allocation). */
  getSync(id: string, now: number): StoredSession | null {
    return this.live(id, now);
  }

  async update(id: string, token: string, data: string, now: number): Promise<UpdateResult> {
    const entry = this.live(id, now);
    if (!entry) return { kind: "not_found" };
    if (token === entry.sequenceToken) {
      entry.counter += 1;
      entry.data = data;
      entry.sequenceToken = sequenceToken(id, entry.counter, data);
      return { kind: "written", sequenceToken: entry.sequenceToken };
    }
    if (data === entry.data) return { kind: "unchanged", sequenceToken: entry.sequenceToken };
    return { kind: "conflict" };
  }

  async delete(id: string, now: number): Promise<boolean> {
    const entry = this.live(id, now);
    if (!entry) return false;
    this.remove(id, entry);
    return true;
  }

  async liveCount(now: number): Promise<number> {
    this.purge(now);
    return this.sessions.size;
  }

  async purgeExpired(now: number): Promise<number> {
    return this.purge(now);
  }

  async close(): Promise<void> {
    this.sessions.clear();
    this.byOwner.clear();
  }

  private live(id: string, now: number): Entry | null {
    const entry = this.sessions.get(id);
    if (!entry) return null;
    if (entry.expiresAt <= now) {
      this.remove(id, entry);
      return null;
    }
    return entry;
  }

  private remove(id: string, entry: Entry): void {
    this.sessions.delete(id);
    const owned = this.byOwner.get(entry.owner);
    if (owned) {
      owned.delete(id);
      if (owned.size === 0) this.byOwner.delete(entry.owner);
    }
  }

  private purge(now: number): number {
    let removed = 0;
    for (const [id, entry] of this.sessions) {
      if (entry.expiresAt > now) break;
      this.remove(id, entry);
      removed++;
    }
    return removed;
  }
}
