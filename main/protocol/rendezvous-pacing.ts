// How often the client polls one rendezvous session (docs/protocol.md "The rendezvous transport",
// Polling). The floor is a hard limit on GETs: never more than one per `minIntervalMs` per session.
// Beyond it, a side that wrote last expects an answer soon and polls fast, easing off; a side waiting
// for a person polls once a second; a generator showing its QR polls at the floor. Writes are not
// paced: a PUT needs the token its GET just fetched, and holding it back only delays the peer (and
// widens the window in which a third party could write first).
import type { MonotonicClock } from "./clock.js";

export interface PollPolicy {
  /** Never start two GETs of one session closer than this (the 1 request / 250 ms limit). */
  readonly minIntervalMs: number;
  /** Interval right after our own write, while the peer's reply is due; also the delay of the first poll after that write. */
  readonly fastMs: number;
  /** How long after our own write we stay at `fastMs` before easing off. */
  readonly fastWindowMs: number;
  /** Interval when idle (waiting for a human, e.g. for the user to consent on the other device). */
  readonly idleMs: number;
}

export const DEFAULT_POLL_POLICY: PollPolicy = { minIntervalMs: 250, fastMs: 250, fastWindowMs: 5_000, idleMs: 1_000 };

/**
 * How soon an answer is expected:
 * - `"reply"`: a reply to our own write is due: fast (`fastMs`) for `fastWindowMs`, then easing off to idle;
 * - `"idle"`: waiting for a human (e.g. consent on the other device): `idleMs`;
 * - `"eager"`: someone may write at any moment and must not wait (the generator showing its QR):
 *   at the floor for the whole wait, which the session's expiry bounds.
 */
export type PollPace = "reply" | "idle" | "eager";

/** One session's polling rhythm: when its last GET went out, and when it last wrote. */
export class PollPacer {
  private lastGetAt = Number.NEGATIVE_INFINITY;
  private lastOwnWriteAt: number | undefined;
  private ownWriteLast = false;

  constructor(
    readonly policy: PollPolicy,
    private readonly clock: MonotonicClock,
  ) {}

  /** Our last action on the session was a write (no one else has written since). */
  get lastWasOwnWrite(): boolean {
    return this.ownWriteLast;
  }

  /** A GET of the session goes out now. */
  noteGet(): void {
    this.lastGetAt = this.clock.now();
  }

  /** Our write, sent at `at`, landed. */
  noteOwnWrite(at: number): void {
    this.lastOwnWriteAt = at;
    this.ownWriteLast = true;
  }

  /** A GET found someone else's write. */
  noteTheirWrite(): void {
    this.ownWriteLast = false;
  }

  /** Milliseconds until the floor allows the next GET (zero or less: now). */
  untilNextGet(): number {
    return this.lastGetAt + this.policy.minIntervalMs - this.clock.now();
  }

  /**
   * Milliseconds until the first plain poll of a wait. Right after our own write a GET cannot see an
   * answer yet: it goes `fastMs` after the write (never later, so a quick reply is seen at once).
   */
  untilFirstPoll(): number {
    if (!this.ownWriteLast || this.lastOwnWriteAt === undefined) return 0;
    return this.lastOwnWriteAt + this.policy.fastMs - this.clock.now();
  }

  /** The pace of a wait: as asked, else `"reply"` iff our last action was a write. */
  paceFor(options: { pace?: PollPace; replyDue?: boolean }): PollPace {
    return options.pace ?? ((options.replyDue ?? this.ownWriteLast) ? "reply" : "idle");
  }

  /** The interval before the next GET of a wait at `pace` whose last GET found nothing new. */
  interval(pace: PollPace): number {
    const p = this.policy;
    if (pace === "eager") return p.minIntervalMs;
    if (pace === "idle" || this.lastOwnWriteAt === undefined) return p.idleMs;
    const since = this.clock.now() - this.lastOwnWriteAt;
    if (since < p.fastWindowMs) return p.fastMs;
    if (since < 3 * p.fastWindowMs) return Math.min(p.idleMs, 2 * p.fastMs);
    return p.idleMs;
  }
}
