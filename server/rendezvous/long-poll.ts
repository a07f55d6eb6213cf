// Long-poll (our extension of both rendezvous APIs, docs/protocol.md "Long-poll"): a GET that
// names the state the client already has is held until the session changes, is deleted, expires,
// or the bound passes, then answered exactly as a normal GET would be at that moment.
//
// This module is the registry of held GETs: who is waiting on which session, the caps, and the
// deadlines. It knows nothing about HTTP: a route holds a request as a Held object, and the
// registry calls its recheck() when the session may have changed (a local write, a store
// notification from another instance), at the request's deadline, or when the server closes.
// recheck() then either answers (and releases) or keeps holding.
//
// Memory matters (thousands may wait at once), so a held request is one object: no closures, no
// timer of its own. Every hold gets the same bound, so bound deadlines come in insertion order and
// sit in one FIFO with one timer; only a session that expires before the bound needs its own
// timer. Waiters are keyed by session id alone: ids are unique in a store, whatever the API.
import { performance } from "node:perf_hooks";

/** The query parameter that opts a GET in, and the body field that advertises the extension. */
export const LONG_POLL_PARAM = "since";
export const LONG_POLL_FIELD = "io.github.qr_login.long_poll";
/** The bound's default and maximum: below the 30 s and 60 s read timeouts common proxies have. */
export const DEFAULT_LONG_POLL_MS = 20_000;
export const MAX_LONG_POLL_MS = 25_000;

/** Why a held request is being rechecked. */
export type WakeReason = "changed" | "deadline" | "closing";

/**
 * How a held request ended. `immediate`: the first read already showed a change, so it was not
 * held; `error`: the store failed (answered 503).
 */
export type HeldOutcome = "immediate" | "changed" | "bound" | "gone" | "client_closed" | "closing" | "error";

export interface HeldStats {
  /** Requests held right now. */
  readonly held: number;
  /** Requests answered at once because a cap was reached. */
  readonly refused: number;
  readonly outcomes: Readonly<Record<HeldOutcome, number>>;
}

const PRIORITY: Record<WakeReason, number> = { changed: 1, deadline: 2, closing: 3 };

/** One held GET; a route subclasses it with what recheck() needs to answer. */
export abstract class Held {
  /** Bound deadline, performance.now() ms; set by hold(). */
  deadline = 0;
  /** Own timer when the session expires before the bound. */
  expiryTimer: NodeJS.Timeout | undefined = undefined;
  /**
   * Waiting for a wake-up. False right after hold() and while a recheck runs: the route then either
   * arms again (keep holding) or releases (it answered).
   */
  armed = false;
  /** The strongest wake-up that came while not armed; delivered by the next arm(). */
  pending: WakeReason | undefined = undefined;
  released = false;

  constructor(
    /** The session id. */
    readonly key: string,
    readonly ip: string,
  ) {}

  /** Re-read the session: answer and release, or arm() again to keep holding. */
  abstract recheck(reason: WakeReason): void;
}

export class HeldRequests {
  /** Waiters by session id: one, or several (both devices of a sign-in may wait on one session). */
  private readonly byKey = new Map<string, Held | Held[]>();
  private readonly perIp = new Map<string, number>();
  /** Every held request in deadline order (they all got the same bound). */
  private readonly queue = new Set<Held>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closing = false;
  private count = 0;
  private refusedCount = 0;
  private readonly outcomeCounts: Record<HeldOutcome, number> = { immediate: 0, changed: 0, bound: 0, gone: 0, client_closed: 0, closing: 0, error: 0 };

  constructor(
    readonly boundMs: number,
    private readonly maxHeld: number,
    private readonly maxHeldPerIp: number,
  ) {}

  get stats(): HeldStats {
    return { held: this.count, refused: this.refusedCount, outcomes: { ...this.outcomeCounts } };
  }

  /**
   * Registers a held request, before the route reads the store (so a write landing between the read
   * and the registration cannot be missed). false: a cap is reached or the server is closing; the
   * route answers at once.
   */
  hold(h: Held): boolean {
    const mine = this.perIp.get(h.ip) ?? 0;
    if (this.closing || (this.maxHeld > 0 && this.count >= this.maxHeld) || (this.maxHeldPerIp > 0 && mine >= this.maxHeldPerIp)) {
      this.refusedCount++;
      return false;
    }
    const there = this.byKey.get(h.key);
    if (there === undefined) this.byKey.set(h.key, h);
    else if (Array.isArray(there)) there.push(h);
    else this.byKey.set(h.key, [there, h]);
    this.perIp.set(h.ip, mine + 1);
    this.count++;
    h.deadline = performance.now() + this.boundMs;
    this.queue.add(h);
    return true;
  }

  /** Whether the request's bound has passed (then a recheck answers, changed or not). */
  boundPassed(h: Held): boolean {
    return performance.now() >= h.deadline;
  }

  /**
   * The route read the session and it is unchanged: wait. `expiresInMs`: time left until the session
   * expires; when that comes before the bound, the request is rechecked then (and answers 404).
   */
  arm(h: Held, expiresInMs: number): void {
    if (h.released) return;
    if (h.expiryTimer === undefined && performance.now() + expiresInMs < h.deadline) {
      // +1: wake at or after the expiry instant, never just before it.
      h.expiryTimer = setTimeout(() => { h.expiryTimer = undefined; this.fire(h, "deadline"); }, Math.max(0, expiresInMs) + 1);
      h.expiryTimer.unref();
    }
    h.armed = true;
    if (this.timer === undefined || this.timerAt > h.deadline) this.schedule();
    const pending = h.pending;
    if (pending !== undefined) {
      h.pending = undefined;
      this.fire(h, pending);
    }
  }

  /** Removes a held request (answered, or its client went away). */
  release(h: Held, outcome: HeldOutcome): void {
    if (h.released) return;
    h.released = true;
    h.armed = false;
    if (h.expiryTimer !== undefined) clearTimeout(h.expiryTimer);
    this.queue.delete(h);
    const there = this.byKey.get(h.key);
    if (there === h) this.byKey.delete(h.key);
    else if (Array.isArray(there)) {
      const i = there.indexOf(h);
      if (i >= 0) there.splice(i, 1);
      if (there.length === 1) this.byKey.set(h.key, there[0]!);
    }
    const n = (this.perIp.get(h.ip) ?? 1) - 1;
    if (n > 0) this.perIp.set(h.ip, n);
    else this.perIp.delete(h.ip);
    this.count--;
    this.outcomeCounts[outcome]++;
  }

  /** The session may have changed: recheck everyone waiting on it. */
  wake(id: string): void {
    const there = this.byKey.get(id);
    if (there === undefined) return;
    if (Array.isArray(there)) for (const h of [...there]) this.fire(h, "changed");
    else this.fire(there, "changed");
  }

  /** Anything may have changed (a store that cannot say what): recheck everyone. */
  wakeAll(): void {
    for (const h of [...this.queue]) this.fire(h, "changed");
  }

  /** The server is closing: answer everyone now, hold nobody new. */
  closeAll(): void {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    for (const h of [...this.queue]) this.fire(h, "closing");
  }

  private fire(h: Held, reason: WakeReason): void {
    if (h.released) return;
    if (!h.armed) {
      if (h.pending === undefined || PRIORITY[reason] > PRIORITY[h.pending]) h.pending = reason;
      return;
    }
    h.armed = false;
    h.recheck(reason);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.closing) return;
    // The first request whose bound is still to be delivered (one already told sits at the head
    // until its route answers).
    let next: Held | undefined;
    for (const h of this.queue) {
      if (h.pending !== "deadline" && h.pending !== "closing") { next = h; break; }
    }
    if (!next) return;
    this.timerAt = next.deadline;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, next.deadline - performance.now()) + 1);
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const t = performance.now();
    // Iterating the Set while fire() deletes the current entry (an answered request) is safe.
    for (const h of this.queue) {
      if (h.deadline > t) break;
      this.fire(h, "deadline");
    }
    this.schedule();
  }
}
