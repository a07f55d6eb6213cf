// Redis store: several server processes share sessions. A session is a hash with a Redis expiry
// (so Redis itself drops it), plus sorted sets of live ids by expiry — one global, one per owner —
// which give the caps in O(log n) and are trimmed with ZREMRANGEBYSCORE, touching expired members
// only. Create, compare-and-swap and delete are Lua scripts, so each is atomic across processes.
import { Redis } from "ioredis";
import type { CreateParams, CreateResult, RendezvousApi, RendezvousStore, StoredSession, UpdateResult } from "./store.js";
import { newSessionId, nextTokenFor, sequenceToken } from "./store.js";

// Hash fields: d data, t token, c write counter, e expiry, o owner, a API ("2024"; absent in hashes
// written before the 2024 API existed, which are all "2025"), m last write.
// KEYS: session, all-live zset, owner zset. ARGV: id, data, token, expiresAt, now, owner, maxTotal, maxOwner, api.
// Returns {0} created, {1, oldestExpiry} total cap, {2, oldestExpiry} owner cap, {3} id collision.
const CREATE_LUA = `
local now = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local maxTotal = tonumber(ARGV[7])
if maxTotal > 0 and redis.call('ZCARD', KEYS[2]) >= maxTotal then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {1, oldest[2] or '0'}
end
local maxOwner = tonumber(ARGV[8])
if maxOwner > 0 and redis.call('ZCARD', KEYS[3]) >= maxOwner then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {2, oldest[2] or '0'}
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {3} end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 't', ARGV[3], 'c', 0, 'e', ARGV[4], 'o', ARGV[6], 'a', ARGV[9], 'm', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('PEXPIREAT', KEYS[3], ARGV[4])
return {0}
`;

// Every write and delete is published on the changes channel (message: api ‖ id) from inside its
// script, so it reaches the other instances only once it is committed; they wake their held GETs.
// KEYS: session. ARGV: presented token, data, candidate next token ('' if the presented token is
// not one of ours), now, api, changes channel, message. Returns {1, token, expiry} written,
// {2, token, expiry} idempotent replay, {3} conflict, {0} not found (or the other API's session).
const UPDATE_LUA = `
local s = redis.call('HMGET', KEYS[1], 't', 'd', 'e', 'a')
if not s[1] or tonumber(s[3]) <= tonumber(ARGV[4]) or (s[4] or '2025') ~= ARGV[5] then return {0} end
if s[1] == ARGV[1] and ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 't', ARGV[3], 'd', ARGV[2], 'm', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'c', 1)
  redis.call('PUBLISH', ARGV[6], ARGV[7])
  return {1, ARGV[3], s[3]}
end
if s[2] == ARGV[2] then return {2, s[1], s[3]} end
return {3}
`;

// KEYS: session, all-live zset. ARGV: id, now, owner-key prefix, api, changes channel, message.
// Returns 1 if a live session of that API was deleted; the other API's sessions are left alone.
const DELETE_LUA = `
local s = redis.call('HMGET', KEYS[1], 'e', 'o', 'a')
if not s[1] or (s[3] or '2025') ~= ARGV[4] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', ARGV[3] .. s[2], ARGV[1])
if tonumber(s[1]) <= tonumber(ARGV[2]) then return 0 end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`;

type ScriptReply = [number, string?, string?];

/** Bound on one Redis command, and on connecting (default). */
export const DEFAULT_REDIS_TIMEOUT_MS = 2_000;

export interface RedisStoreOptions {
  /**
   * A command that gets no answer within this many ms fails (503), and so does a connection attempt.
   * A Redis that stops answering without closing its connections (stopped, swapping, a network that
   * drops packets) would otherwise leave every request waiting for good.
   */
  timeoutMs?: number;
}

interface ScriptedRedis extends Redis {
  rzCreate(k1: string, k2: string, k3: string, ...argv: (string | number)[]): Promise<ScriptReply>;
  rzUpdate(k1: string, ...argv: (string | number)[]): Promise<ScriptReply>;
  rzDelete(k1: string, k2: string, ...argv: (string | number)[]): Promise<number>;
}

export class RedisStore implements RendezvousStore {
  readonly kind = "redis" as const;
  readonly redis: Redis;
  private readonly r: ScriptedRedis;
  private readonly liveKey: string;
  private readonly changesChannel: string;
  private subscriber: Redis | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  lastError: Error | undefined;

  /** `prefix` namespaces every key, so one Redis can hold several independent deployments. */
  constructor(url: string, private readonly prefix = "qrl:rz:", opts: RedisStoreOptions = {}) {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    // No offline queue: while Redis is down a command fails at once (503) instead of piling up.
    // Auto-pipelining sends the commands issued in one tick as one write (many polls per tick).
    // A hung Redis: each command fails after timeoutMs (commandTimeout), and a connection that
    // receives nothing for that long while commands wait is taken for dead (socketTimeout): it is
    // dropped and reconnected, and until Redis answers again every command fails at once instead of
    // waiting out its own timeout. Reconnecting backs off to 1 s (not ioredis's 5 s), so a Redis that
    // comes back is used again within about a second.
    this.redis = new Redis(url, {
      lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, enableAutoPipelining: true,
      commandTimeout: timeoutMs, socketTimeout: timeoutMs, connectTimeout: timeoutMs,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times - 1, 5), 1000) + Math.floor(Math.random() * 100),
    });
    // ioredis reconnects by itself; a failed command rejects, and the plugin answers 503. Without
    // a listener every reconnect attempt would print an "Unhandled error event".
    this.redis.on("error", (err: Error) => { this.lastError = err; });
    this.redis.defineCommand("rzCreate", { numberOfKeys: 3, lua: CREATE_LUA });
    this.redis.defineCommand("rzUpdate", { numberOfKeys: 1, lua: UPDATE_LUA });
    this.redis.defineCommand("rzDelete", { numberOfKeys: 2, lua: DELETE_LUA });
    this.r = this.redis as ScriptedRedis;
    this.liveKey = `${prefix}live`;
    this.changesChannel = `${prefix}changes`;
    // An idle server would notice a hung Redis only when a request comes, and a held GET would then
    // wait out a command timeout at its bound: a PING a second keeps the verdict current, so held
    // GETs are answered at their bound and /health turns 503 within about timeoutMs + 1 s.
    this.heartbeat = setInterval(() => {
      if (this.redis.status === "ready") this.redis.ping().catch(() => undefined);
    }, 1000);
    this.heartbeat.unref();
  }

  /** Resolves once connected (and fails fast with a clear error if Redis is unreachable). */
  async ready(): Promise<void> {
    if (this.redis.status === "wait") await this.redis.connect();
    await this.redis.ping();
  }

  private sessionKey(id: string): string {
    return `${this.prefix}s:${id}`;
  }

  private ownerKey(owner: string): string {
    return `${this.prefix}o:${owner}`;
  }

  async create(p: CreateParams): Promise<CreateResult> {
    const expiresAt = p.now + p.ttlMs;
    for (;;) {
      const id = newSessionId();
      const token = sequenceToken(id, 0, p.data);
      const [code, oldest] = await this.r.rzCreate(this.sessionKey(id), this.liveKey, this.ownerKey(p.owner),
        id, p.data, token, expiresAt, p.now, p.owner, p.maxSessions, p.maxSessionsPerOwner, p.api);
      if (code === 0) return { ok: true, id, sequenceToken: token, expiresAt };
      if (code === 1 || code === 2) {
        const retryAfterMs = Math.max(1, Number(oldest ?? 0) - p.now || 1000);
        return { ok: false, reason: code === 1 ? "total" : "per_owner", retryAfterMs };
      }
      // code 3: id collision (128 random bits: practically never); draw again.
    }
  }

  async get(api: RendezvousApi, id: string, now: number): Promise<StoredSession | null> {
    const [data, token, expires, sessionApi, modified] = await this.redis.hmget(this.sessionKey(id), "d", "t", "e", "a", "m");
    if (typeof data !== "string" || typeof token !== "string" || typeof expires !== "string") return null;
    if ((sessionApi ?? "2025") !== api) return null;
    const expiresAt = Number(expires);
    return expiresAt > now ? { data, sequenceToken: token, expiresAt, modifiedAt: Number(modified ?? 0) } : null;
  }

  async update(api: RendezvousApi, id: string, token: string, data: string, now: number): Promise<UpdateResult> {
    const candidate = nextTokenFor(id, token, data) ?? "";
    const [code, current, expires] = await this.r.rzUpdate(this.sessionKey(id), token, data, candidate, now, api, this.changesChannel, api + id);
    switch (code) {
      case 1: return { kind: "written", sequenceToken: current!, expiresAt: Number(expires) };
      case 2: return { kind: "unchanged", sequenceToken: current!, expiresAt: Number(expires) };
      case 3: return { kind: "conflict" };
      default: return { kind: "not_found" };
    }
  }

  async delete(api: RendezvousApi, id: string, now: number): Promise<boolean> {
    return (await this.r.rzDelete(this.sessionKey(id), this.liveKey, id, now, `${this.prefix}o:`, api, this.changesChannel, api + id)) === 1;
  }

  /**
   * Subscribes to the changes channel on a second connection (a subscribed connection can do
   * nothing else). After a reconnect messages may have been missed, so everything is rechecked.
   */
  async watch(listener: (api: RendezvousApi | null, id: string | null) => void): Promise<() => Promise<void>> {
    const sub = this.redis.duplicate({ lazyConnect: true, enableAutoPipelining: false });
    this.subscriber = sub;
    sub.on("error", (err: Error) => { this.lastError = err; });
    let connectedBefore = false;
    sub.on("ready", () => {
      if (connectedBefore) listener(null, null);
      connectedBefore = true;
    });
    sub.on("message", (_channel: string, message: string) => {
      const api = message.slice(0, 4);
      if (api === "2025" || api === "2024") listener(api, message.slice(4));
    });
    await sub.connect();
    await sub.subscribe(this.changesChannel);
    return async () => {
      this.subscriber = undefined;
      await quit(sub);
    };
  }

  async liveCount(now: number): Promise<number> {
    return this.redis.zcount(this.liveKey, `(${now}`, "+inf");
  }

  async purgeExpired(now: number): Promise<number> {
    // Session hashes expire in Redis by themselves; this trims the index of live ids.
    return this.redis.zremrangebyscore(this.liveKey, "-inf", now);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    if (this.subscriber) await quit(this.subscriber);
    this.subscriber = undefined;
    await quit(this.redis);
  }
}

async function quit(r: Redis): Promise<void> {
  if (r.status === "ready") await r.quit().catch(() => r.disconnect());
  else r.disconnect();
}
