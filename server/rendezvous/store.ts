// The session store interface shared by the memory, SQLite and Redis stores, and the two pure
// functions every store uses so that ids and sequence tokens are made the same way everywhere.
import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

/**
 * Which API a session belongs to: "2025" (MSC4388, JSON bodies and sequence tokens) or "2024"
 * (MSC4108 2024, text/plain bodies and ETags). Both may live in one store and share its caps, but
 * every lookup, write and delete names its API, so a session is invisible to the other one.
 */
export type RendezvousApi = "2025" | "2024";

export interface StoredSession {
  /** 2025: the `data` string. 2024: the body's bytes, one char per byte (latin1), so any bytes round-trip. */
  readonly data: string;
  /** The sequence token (2025), or the opaque part of the ETag (2024). */
  readonly sequenceToken: string;
  /** Absolute expiry, ms since the epoch (fixed at creation; writes never extend it). */
  readonly expiresAt: number;
  /** When the creating POST or the last write happened, ms since the epoch (the 2024 Last-Modified). */
  readonly modifiedAt: number;
}

export interface CreateParams {
  readonly api: RendezvousApi;
  readonly data: string;
  readonly now: number;
  readonly ttlMs: number;
  /** Who created the session (client IP): the per-owner cap counts live sessions per owner. */
  readonly owner: string;
  /** 0 = no cap. */
  readonly maxSessions: number;
  /** 0 = no cap. */
  readonly maxSessionsPerOwner: number;
}

export type CreateResult =
  | { readonly ok: true; readonly id: string; readonly sequenceToken: string; readonly expiresAt: number }
  /** Refused at a cap (never evicts a live session). `retryAfterMs`: until the oldest counted session expires. */
  | { readonly ok: false; readonly reason: "total" | "per_owner"; readonly retryAfterMs: number };

export type UpdateResult =
  | { readonly kind: "written"; readonly sequenceToken: string; readonly expiresAt: number }
  /** Stale token but byte-identical data: the MSC4388 idempotent retry, acknowledged with the current token. */
  | { readonly kind: "unchanged"; readonly sequenceToken: string; readonly expiresAt: number }
  | { readonly kind: "conflict" }
  | { readonly kind: "not_found" };

export interface RendezvousStore {
  readonly kind: "memory" | "sqlite" | "redis";
  create(params: CreateParams): Promise<CreateResult>;
  /** null when unknown, deleted, expired (`expiresAt <= now`) or of the other API. */
  get(api: RendezvousApi, id: string, now: number): Promise<StoredSession | null>;
  /** Compare-and-swap on the sequence token; atomic in every store. A session of the other API is not_found. */
  update(api: RendezvousApi, id: string, sequenceToken: string, data: string, now: number): Promise<UpdateResult>;
  /** false when unknown, already expired (MSC: after expiry every request MUST fail) or of the other API. */
  delete(api: RendezvousApi, id: string, now: number): Promise<boolean>;
  liveCount(now: number): Promise<number>;
  /** Drops expired sessions; touches only expired entries (no scan of the live ones). */
  purgeExpired(now: number): Promise<number>;
  /**
   * Why session writes fail although the store answers (SQLite: disk full, read-only file), or null.
   * /health reports it. Absent: the store has no such state of its own (its failures fail requests).
   */
  writeProblem?(now: number): Promise<string | null>;
  close(): Promise<void>;
  /** The Redis connection, so the rate limiter can share counters between server processes. */
  readonly redis?: Redis;
  /**
   * Tells about writes and deletes that other server processes make on the shared store, so their
   * held long-poll GETs wake here (Redis: pub/sub; SQLite: the file's data_version). `null`: something
   * changed, the store cannot say what. Absent in the memory store (one process only). Resolves to
   * a function that stops watching.
   */
  watch?(listener: (api: RendezvousApi | null, id: string | null) => void): Promise<() => Promise<void>>;
}

/** 128 random bits, base64url: 22 characters of the opaque-identifier grammar. */
export function newSessionId(): string {
  return randomBytes(16).toString("base64url");
}

const TOKEN_BYTES = 20;

/**
 * Sequence token for write number `counter` (0 = the creating POST) of session `id` with `data`:
 * base64url(counter as u32 BE ‖ first 16 bytes of SHA-256(len(id) ‖ id ‖ counter u64 BE ‖ data)).
 * The MSC's recommended derivation (id, monotonic counter, data). The counter is carried in clear
 * so that a store can compute the next token from the token a client presents, before an atomic
 * compare-and-swap (Redis cannot run SHA-256 inside a script). The counter always advances, so the
 * token changes on every write, even of identical data. 27 characters, all in the opaque-id grammar.
 */
export function sequenceToken(id: string, counter: number, data: string): string {
  const head = Buffer.allocUnsafe(4 + 2 + 8);
  head.writeUInt32BE(counter >>> 0, 0);
  const idBytes = Buffer.from(id, "utf8");
  head.writeUInt16BE(idBytes.length, 4);
  head.writeBigUInt64BE(BigInt(counter), 6);
  const digest = createHash("sha256").update(head.subarray(4, 6)).update(idBytes).update(head.subarray(6)).update(data, "utf8").digest();
  const out = Buffer.allocUnsafe(TOKEN_BYTES);
  head.copy(out, 0, 0, 4);
  digest.copy(out, 4, 0, TOKEN_BYTES - 4);
  return out.toString("base64url");
}

/** The write counter carried by a token of ours, or null for anything else (garbage, foreign). */
export function tokenCounter(token: string): number | null {
  if (token.length !== 27 || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
  const bytes = Buffer.from(token, "base64url");
  if (bytes.length !== TOKEN_BYTES) return null;
  return bytes.readUInt32BE(0);
}

/** The token the next write would get, if `presented` is the current token of session `id`. */
export function nextTokenFor(id: string, presented: string, data: string): string | null {
  const counter = tokenCounter(presented);
  if (counter === null || counter >= 0xffff_ffff) return null;
  return sequenceToken(id, counter + 1, data);
}
