// In-process store. Sessions live in one insertion-ordered Map per lifetime ("lane"): within a
// lane every session got the same TTL, so insertion order is expiry order and purging pops expired
// entries off the front of each lane without looking at the live ones. A server has one lane per
// API lifetime (two at most), so a lookup is one Map probe, or two when both APIs have their own.
import type { CreateParams, CreateResult, RendezvousApi, RendezvousStore, StoredSession, UpdateResult } from "./store.js";
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
    public modifiedAt: number,
    public readonly owner: Owner,
    public readonly api: RendezvousApi,
    public readonly lane: Lane,
  ) {}
}

type Lane = Map<string, Entry>;

export class MemoryStore implements RendezvousStore {
  readonly kind = "memory" as const;
  /** Lanes by TTL in ms, and the same lanes as an array for the lookup on every poll. */
  private readonly lanes = new Map<number, Lane>();
  private readonly laneList: Lane[] = [];
  private readonly byOwner = new Map<string, Owner>();

  async create(p: CreateParams): Promise<CreateResult> {
    this.purge(p.now);
    if (p.maxSessions > 0 && this.size() >= p.maxSessions) {
      const oldest = this.oldestExpiry();
      return { ok: false, reason: "total", retryAfterMs: oldest !== undefined ? Math.max(1, oldest - p.now) : 1000 };
    }
    let owner = this.byOwner.get(p.owner);
    if (p.maxSessionsPerOwner > 0 && owner && owner.ids.size >= p.maxSessionsPerOwner) {
      let oldest: number | undefined;
      for (const id of owner.ids) {
        const e = this.find(id);
        if (e && (oldest === undefined || e.expiresAt < oldest)) oldest = e.expiresAt;
        if (this.lanes.size === 1) break; // one lane: the owner's first id is its oldest
      }
      return { ok: false, reason: "per_owner", retryAfterMs: oldest !== undefined ? Math.max(1, oldest - p.now) : 1000 };
    }
    let id = newSessionId();
    while (this.find(id)) id = newSessionId(); // 128 random bits: practically never loops
    if (!owner) this.byOwner.set(p.owner, (owner = { address: p.owner, ids: new Set() }));
    let lane = this.lanes.get(p.ttlMs);
    if (!lane) {
      this.lanes.set(p.ttlMs, (lane = new Map()));
      this.laneList.push(lane);
    }
    const entry = new Entry(p.data, sequenceToken(id, 0, p.data), 0, p.now + p.ttlMs, p.now, owner, p.api, lane);
    lane.set(id, entry);
    owner.ids.add(id);
    return { ok: true, id, sequenceToken: entry.sequenceToken, expiresAt: entry.expiresAt };
  }

  async get(api: RendezvousApi, id: string, now: number): Promise<StoredSession | null> {
    return this.live(api, id, now);
  }

  /** Synchronous lookup for the hot GET path (no promise allocation). */
  getSync(api: RendezvousApi, id: string, now: number): StoredSession | null {
    return this.live(api, id, now);
  }

  async update(api: RendezvousApi, id: string, token: string, data: string, now: number): Promise<UpdateResult> {
    const entry = this.live(api, id, now);
    if (!entry) return { kind: "not_found" };
    if (token === entry.sequenceToken) {
      entry.counter += 1;
      entry.data = data;
      entry.modifiedAt = now;
      entry.sequenceToken = sequenceToken(id, entry.counter, data);
      return { kind: "written", sequenceToken: entry.sequenceToken, expiresAt: entry.expiresAt };
    }
    if (data === entry.data) return { kind: "unchanged", sequenceToken: entry.sequenceToken, expiresAt: entry.expiresAt };
    return { kind: "conflict" };
  }

  async delete(api: RendezvousApi, id: string, now: number): Promise<boolean> {
    const entry = this.live(api, id, now);
    if (!entry) return false;
    this.remove(id, entry);
    return true;
  }

  async liveCount(now: number): Promise<number> {
    this.purge(now);
    return this.size();
  }

  async purgeExpired(now: number): Promise<number> {
    return this.purge(now);
  }

  async close(): Promise<void> {
    this.lanes.clear();
    this.laneList.length = 0;
    this.byOwner.clear();
  }

  private size(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.size;
    return n;
  }

  private oldestExpiry(): number | undefined {
    let oldest: number | undefined;
    for (const lane of this.lanes.values()) {
      const first = lane.values().next().value;
      if (first && (oldest === undefined || first.expiresAt < oldest)) oldest = first.expiresAt;
    }
    return oldest;
  }

  private find(id: string): Entry | undefined {
    const lanes = this.laneList;
    for (let i = 0; i < lanes.length; i++) {
      const entry = lanes[i]!.get(id);
      if (entry) return entry;
    }
    return undefined;
  }

  private live(api: RendezvousApi, id: string, now: number): Entry | null {
    const entry = this.find(id);
    if (!entry) return null;
    if (entry.expiresAt <= now) {
      this.remove(id, entry);
      return null;
    }
    return entry.api === api ? entry : null;
  }

  private remove(id: string, entry: Entry): void {
    entry.lane.delete(id);
    const owner = entry.owner;
    owner.ids.delete(id);
    if (owner.ids.size === 0) this.byOwner.delete(owner.address);
  }

  private purge(now: number): number {
    let removed = 0;
    for (const lane of this.lanes.values()) {
      for (const [id, entry] of lane) {
        if (entry.expiresAt > now) break;
        this.remove(id, entry);
        removed++;
      }
    }
    return removed;
  }
}
