// In-process store: one Map in insertion order. Every session of a server gets the same TTL, so
// insertion order is expiry order and purging pops expired entries off the front of the Map
// without looking at the live ones.
import type { CreateParams, CreateResult, RendezvousStore, StoredSession, UpdateResult } from "./store.js";
import { newSessionId, sequenceToken } from "./store.js";

/** One per client address: sessions point at it, so the address string is stored once. */
interface Owner {
  readonly address: string;
  /** Live session ids, oldest first (for the per-owner cap and its retry hint). */
  readonly ids: Set<string>;
}

class Entry implements StoredSession {
  constructor(
    public data: string,
    public sequenceToken: string,
    public counter: number,
    public readonly expiresAt: number,
    public readonly owner: Owner,
  ) {}
}

export class MemoryStore implements RendezvousStore {
  readonly kind = "memory" as const;
  private readonly sessions = new Map<string, Entry>();
  private readonly byOwner = new Map<string, Owner>();

  async create(p: CreateParams): Promise<CreateResult> {
    this.purge(p.now);
    if (p.maxSessions > 0 && this.sessions.size >= p.maxSessions) {
      const oldest = this.sessions.values().next().value;
      return { ok: false, reason: "total", retryAfterMs: oldest ? Math.max(1, oldest.expiresAt - p.now) : 1000 };
    }
    let owner = this.byOwner.get(p.owner);
    if (p.maxSessionsPerOwner > 0 && owner && owner.ids.size >= p.maxSessionsPerOwner) {
      const first = owner.ids.values().next().value;
      const oldest = first === undefined ? undefined : this.sessions.get(first);
      return { ok: false, reason: "per_owner", retryAfterMs: oldest ? Math.max(1, oldest.expiresAt - p.now) : 1000 };
    }
    let id = newSessionId();
    while (this.sessions.has(id)) id = newSessionId(); // 128 random bits: practically never loops
    if (!owner) this.byOwner.set(p.owner, (owner = { address: p.owner, ids: new Set() }));
    const entry = new Entry(p.data, sequenceToken(id, 0, p.data), 0, p.now + p.ttlMs, owner);
    this.sessions.set(id, entry);
    owner.ids.add(id);
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
    const owner = entry.owner;
    owner.ids.delete(id);
    if (owner.ids.size === 0) this.byOwner.delete(owner.address);
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
