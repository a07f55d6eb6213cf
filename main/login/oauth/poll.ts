// Polling a device code's token endpoint (RFC 8628 §3.4, §3.5): pollDeviceToken, and PollSchedule, the
// pure answer to "when next". The server's numbers are not trusted to be sane: `interval: 0` and
// 5xx answers made the old loop send ~1,700 requests in 2 s, and an interval past setTimeout's 2^31-1 ms
// fired at once. So:
// - the interval has a floor of 1 s (our development homeserver's own interval) and defaults to 5 s;
// - `slow_down` adds 5 s to it for the rest of the grant;
// - 5xx, 429 and network failures back off exponentially from the interval (RFC 8628 §3.5 asks for it
//   on connection timeouts), up to a minute, until an answer comes;
// - no wait goes past the code's expiry, and none is longer than a timer can hold: the loop wakes at
//   the expiry and stops there, never polling with an expired code.

import { setTimeout as sleep } from "node:timers/promises";
import * as o from "oauth4webapi";
import { OAuthError, type AuthMetadata, type DeviceAuthorization, type PollResult } from "../flows/ports.js";
import { asServer, isNetworkError, libOptions, tokensOf, viaLibrary, type FetchOptions } from "./http.js";

export const MIN_INTERVAL_S = 1;
export const DEFAULT_INTERVAL_S = 5;
export const SLOW_DOWN_S = 5;
export const MAX_BACKOFF_MS = 60_000;
/** setTimeout's largest delay; a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export class PollSchedule {
  private intervalMs: number;
  private failures = 0;

  constructor(
    serverInterval: number | undefined,
    /** When the device code expires, on the clock `now` reads. */
    readonly deadline: number,
  ) {
    const seconds = typeof serverInterval === "number" && Number.isFinite(serverInterval) ? serverInterval : DEFAULT_INTERVAL_S;
    this.intervalMs = Math.max(MIN_INTERVAL_S, seconds) * 1000;
  }

  /** The interval in force, in seconds. */
  get intervalSeconds(): number {
    return this.intervalMs / 1000;
  }

  /** `authorization_pending`: the interval stays; a run of failures is over. */
  pending(): void {
    this.failures = 0;
  }

  /** `slow_down`: 5 s more for every later request. */
  slowDown(): void {
    this.failures = 0;
    this.intervalMs += SLOW_DOWN_S * 1000;
  }

  /** A 5xx, 429 or network failure: the next waits double (from the interval, at most a minute). */
  transientFailure(): void {
    this.failures++;
  }

  /** How long to wait before the next request from `now`: never past the deadline, never past a timer's range. */
  nextWaitMs(now: number): number {
    const backoff = this.failures === 0 ? this.intervalMs : Math.max(this.intervalMs, Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** this.failures));
    return Math.max(0, Math.min(backoff, this.deadline - now, MAX_TIMER_MS));
  }

  expired(now: number): boolean {
    return now >= this.deadline;
  }
}

export interface TokenPollOptions extends FetchOptions {
  /** Called on every authorization_pending / slow_down, with the interval now in force (seconds). */
  onPending?: (info: { slowDown: boolean; intervalSeconds: number }) => void;
  /** Injected for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(Math.min(ms, MAX_TIMER_MS), undefined, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) throw new OAuthError("aborted", "aborted");
    throw err;
  }
}

/** What one device-code token request came to. */
type PollAnswer = PollResult | { kind: "pending" } | { kind: "slow_down" } | { kind: "transient" };

async function pollOnce(md: AuthMetadata, clientId: string, deviceCode: string, opts: FetchOptions): Promise<PollAnswer> {
  const as = asServer(md);
  const client = { client_id: clientId };
  try {
    const response = await o.deviceCodeGrantRequest(as, client, o.None(), deviceCode, libOptions(md.token_endpoint, opts));
    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel();
      return { kind: "transient" };
    }
    return { kind: "tokens", tokens: tokensOf(await o.processDeviceCodeResponse(as, client, response)) };
  } catch (err) {
    if (opts.signal?.aborted) throw new OAuthError("aborted", "aborted");
    if (err instanceof o.ResponseBodyError) {
      // MAS answers pending/denied/expired with 403 instead of 400: the error code decides, not the status.
      switch (err.error) {
        case "authorization_pending":
          return { kind: "pending" };
        case "slow_down":
          return { kind: "slow_down" };
        case "access_denied":
          return err.error_description ? { kind: "denied", description: err.error_description } : { kind: "denied" };
        case "expired_token":
          return { kind: "expired" };
      }
    }
    if (isNetworkError(err)) return { kind: "transient" };
    return viaLibrary("token_request_failed", "token request", opts, () => Promise.reject(err));
  }
}

/**
 * Polls the token endpoint (RFC 8628 §3.4–3.5) until the user approves, denies, or the code expires.
 * The first request goes out at once; then as PollSchedule says: at the interval
 * (at least 1 s), +5 s after each `slow_down`, backing off on 5xx, 429 and network failures, and never
 * past the code's lifetime.
 */
export async function pollDeviceToken(
  md: AuthMetadata,
  clientId: string,
  authorization: DeviceAuthorization,
  opts: TokenPollOptions = {},
): Promise<PollResult> {
  const wait = opts.sleep ?? abortableSleep;
  const now = opts.now ?? Date.now;
  const schedule = new PollSchedule(authorization.interval, now() + authorization.expires_in * 1000);
  for (let first = true; ; first = false) {
    if (!first) await wait(schedule.nextWaitMs(now()), opts.signal);
    if (opts.signal?.aborted) throw new OAuthError("aborted", "aborted");
    if (schedule.expired(now())) return { kind: "expired" };
    const answer = await pollOnce(md, clientId, authorization.device_code, opts);
    switch (answer.kind) {
      case "pending":
        schedule.pending();
        opts.onPending?.({ slowDown: false, intervalSeconds: schedule.intervalSeconds });
        continue;
      case "slow_down":
        schedule.slowDown();
        opts.onPending?.({ slowDown: true, intervalSeconds: schedule.intervalSeconds });
        continue;
      case "transient":
        schedule.transientFailure();
        continue;
      default:
        return answer;
    }
  }
}
