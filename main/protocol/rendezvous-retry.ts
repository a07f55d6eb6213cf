// One logical rendezvous request, sent until it is answered (docs/protocol.md "The rendezvous
// transport", Retries). A lost answer (a network error, or none within the timeout) is re-sent, at
// once for the first few, then backing off; a 5xx after a pause; a 429 after the server's
// `retry_after_ms` or Retry-After. Every request here is safe to repeat: GET and DELETE trivially, PUT
// because the server treats an identical re-send as idempotent, POST at worst orphans a session that
// expires on its own. Inside a session, GETs keep its polling floor and every wait is bounded by its
// life; outside one (discovery, create) the loop gives up after `maxAttempts`.
import { cancelledBy, type MonotonicClock, sleepOn } from "./clock.js";
import { RendezvousError } from "./rendezvous-errors.js";
import { errcodeOf, parseJsonObject, retryAfterMs, type FetchLike, type HttpResult } from "./rendezvous-http.js";

/** How requests are sent: with what, and how long an attempt and a request may take. */
export interface Attempts {
  readonly fetch: FetchLike;
  readonly clock: MonotonicClock;
  /** An attempt not answered after this long counts as lost (a held GET: this plus the hold bound). */
  readonly requestTimeoutMs: number;
  /** Attempts of a request that belongs to no session yet (discovery, create). */
  readonly maxAttempts: number;
}

/** What the loop needs of the session a request belongs to: its polling floor and its life. */
export interface RequestScope {
  /** Wait until the polling floor allows the next GET. */
  pace(signal?: AbortSignal): Promise<void>;
  /** A GET goes out now. */
  noteGet(): void;
  /** Throw if the session is closed or past its expiry. */
  checkExpiry(): void;
  /** Milliseconds left before the session expires (monotonic). */
  readonly remainingMs: number;
  /** Sleep, but never past the session's expiry (then fail as expired). */
  sleepWithinLife(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface Request {
  readonly method: string;
  /** The path after the base URL, for messages. */
  readonly path: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body?: string | undefined;
  /** The session the request belongs to (none for discovery and create). */
  readonly scope?: RequestScope | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Skip the polling floor on the first attempt (settling a 409 right away keeps the race window small). */
  readonly unpaced?: boolean | undefined;
  /** The server may hold this request this long (long-poll): added to the attempt's timeout. */
  readonly holdMs?: number | undefined;
}

/** Re-sends after a lost answer that go out without waiting. */
const IMMEDIATE_RESENDS = 4;

/**
 * The wait before the re-send after the `lost`-th lost answer (counting from 0). The first ones go out
 * at once. For a PUT this matters: if it landed, the peer may answer at its next poll, sealed with the
 * token our write produced; if our re-send does not get that token back before the peer overwrites our
 * payload, the token is lost for good (docs/protocol.md "Lost answers").
 */
export function lostBackoffMs(lost: number): number {
  return lost < IMMEDIATE_RESENDS ? 0 : Math.min(250 * 2 ** (lost - IMMEDIATE_RESENDS), 4_000);
}

/** Send `req` until it is answered with anything but a 429 or a 5xx. */
export async function sendRetried(attempts: Attempts, req: Request): Promise<HttpResult> {
  const { method, path, scope, signal } = req;
  let lost = 0;
  let limited = 0;
  const wait = async (ms: number): Promise<void> => {
    if (scope) await scope.sleepWithinLife(ms, signal);
    else if (ms > 0) await sleepOn(attempts.clock, ms, signal);
  };
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw cancelledBy(signal);
    const immediate = lost > 0 && attempt > 0 && lostBackoffMs(lost - 1) === 0;
    const paced = method === "GET" && !immediate && !(req.unpaced && attempt === 0);
    if (scope && paced) await scope.pace(signal);
    scope?.checkExpiry();
    if (!scope && attempt >= attempts.maxAttempts) {
      throw new RendezvousError("rendezvous_network", `${method} ${path}: gave up after ${attempt} attempts`);
    }
    if (method === "GET") scope?.noteGet();
    // A held GET may take the server's bound before it answers; it must not count as lost for that.
    // It never outlives the session, though: at our expiry it is cut, and the loop reports expiry.
    let timeoutMs = attempts.requestTimeoutMs + (req.holdMs ?? 0);
    let cutAtExpiry = false;
    if (scope && req.holdMs !== undefined) {
      const untilExpiry = Math.max(1, Math.ceil(scope.remainingMs));
      cutAtExpiry = untilExpiry <= timeoutMs;
      timeoutMs = Math.min(timeoutMs, untilExpiry);
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await attempts.fetch(req.url, {
        method,
        headers: req.headers,
        body: req.body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        redirect: "error",
      });
      text = await response.text();
    } catch {
      if (signal?.aborted) throw cancelledBy(signal);
      // Our own deadline cut the held GET: the session is over. (Timers may fire a little before the
      // monotonic clock reaches the expiry, so checkExpiry() alone would send one more GET.)
      if (cutAtExpiry && timeout.aborted) throw new RendezvousError("rendezvous_expired", "the rendezvous session has expired");
      // A network error or the timeout: the answer is lost.
      await wait(lostBackoffMs(lost++));
      continue;
    }
    // `lost` counts the lost answers and the 5xx ones: either way the server may have acted.
    const result: HttpResult = { status: response.status, body: parseJsonObject(text), headers: response.headers, uncertain: lost > 0 };
    if (response.status === 429) {
      const ms = retryAfterMs(result) ?? Math.min(1_000 * 2 ** limited, 10_000);
      limited++;
      if (!scope && limited >= attempts.maxAttempts) {
        throw new RendezvousError("rendezvous_rate_limited", `${method} ${path}: still rate limited`, { status: 429, errcode: errcodeOf(result) });
      }
      await wait(ms);
      continue;
    }
    if (response.status >= 500) {
      await wait(Math.max(250, lostBackoffMs(lost++)));
      continue;
    }
    return result;
  }
}
