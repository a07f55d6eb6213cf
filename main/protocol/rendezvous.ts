// MSC4388 insecure rendezvous session: the HTTP client (discovery, create, open, and the one request
// loop every call goes through); a session's own calls (get, poll, put, delete) are in
// rendezvous-session.ts.
//
// No I/O but `fetch` (injectable), and no wall clock: expiry is tracked from the relative
// `expires_in_ms` against an injectable monotonic clock (matrix-js-sdk #5141: absolute times break
// with clock skew). The session object keeps the current `sequence_token`, which the secure channel
// binds into its AAD (docs/protocol.md "The sequence-token rule"): seal with the token this side is
// about to PUT with, open with the token this side got back from its own previous write.
//
// Long-poll (docs/protocol.md "Long-poll"): a server may advertise, in the body of discovery, create
// and session GETs, that it holds `GET …/{id}?since=<token>` until the session changes or a bound
// passes. The client then waits for a message with one held GET instead of a GET per interval; it
// falls back to plain polling whenever the latest answer from the server does not advertise it.

import { RENDEZVOUS_PATH_STABLE, RENDEZVOUS_PATH_UNSTABLE } from "./profile.js";
import { RendezvousError } from "./rendezvous-errors.js";
import { errcodeOf, httpError, parseJsonObject, retryAfterMs, type HttpResult } from "./rendezvous-http.js";
import { RendezvousSession } from "./rendezvous-session.js";

export { RendezvousError } from "./rendezvous-errors.js";
export type { RendezvousErrorCode } from "./rendezvous-errors.js";
export { RendezvousSession } from "./rendezvous-session.js";
export type { GetResult, PollOptions, PollPace } from "./rendezvous-session.js";

/** The stable (v1) and unstable API paths; which one is tried first is the wire profile's choice. */
export { RENDEZVOUS_PATH_STABLE as RENDEZVOUS_PATH_V1, RENDEZVOUS_PATH_UNSTABLE } from "./profile.js";

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** A monotonic clock: `now()` never jumps with the wall clock; `sleep` rejects when the signal aborts. */
export interface MonotonicClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortReason(signal: AbortSignal): RendezvousError {
  return new RendezvousError("cancelled", "cancelled", { cause: signal.reason });
}

export const systemClock: MonotonicClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal!));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/**
 * Poll timing. The floor (`minIntervalMs`) is a hard limit per session on polling, i.e. on GETs
 * (our rule: never more than one GET per 250 ms per session, docs/protocol.md "The rendezvous
 * transport"); the rest are targets. Writes are not paced: a PUT needs the token its GET just
 * fetched, and holding it back only delays the peer (and widens the window in which a third party
 * could write first). DELETE is a one-off.
 */
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

/** The body field by which a server advertises long-poll (qr-login's extension of MSC4388). */
export const LONG_POLL_FIELD = "io.github.qr_login.long_poll";

/** Long-poll as the server advertised it. */
export interface LongPollSupport {
  /** Query parameter that carries the sequence token the client already has (the server names it). */
  readonly queryParameter: string;
  /** The server's hold bound. */
  readonly maxWaitMs: number;
}

/** A longer advertised hold is not believed: a broken advertisement must not park a sign-in for minutes. */
const MAX_TRUSTED_HOLD_MS = 60_000;
const QUERY_PARAMETER = /^[A-Za-z0-9._~-]{1,64}$/;

/** The advertisement in a 200 body, if there is a well-formed one. */
export function parseLongPoll(body: Record<string, unknown> | null): LongPollSupport | undefined {
  const v = body?.[LONG_POLL_FIELD];
  if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
  const { query_parameter: name, max_wait_ms: wait } = v as Record<string, unknown>;
  if (typeof name !== "string" || !QUERY_PARAMETER.test(name)) return undefined;
  if (typeof wait !== "number" || !Number.isFinite(wait) || wait <= 0) return undefined;
  return { queryParameter: name, maxWaitMs: Math.min(wait, MAX_TRUSTED_HOLD_MS) };
}

export interface RendezvousClientOptions {
  /** Homeserver base URL (as carried in the QR; a trailing "/" is ignored when joining paths). */
  readonly baseUrl: string;
  /** API prefixes in order of preference; the first one that the server recognises is remembered. */
  readonly prefixes?: readonly string[];
  readonly fetch?: FetchLike;
  readonly clock?: MonotonicClock;
  /** Sent on discovery and create only (the MSC makes GET/PUT/DELETE unauthenticated). */
  readonly accessToken?: string;
  /** A request that has not answered after this long counts as a lost response (a held GET: this plus the hold bound). */
  readonly requestTimeoutMs?: number;
  readonly poll?: Partial<PollPolicy>;
  /** Attempts for requests that have no session deadline yet (discovery, create). */
  readonly maxAttempts?: number;
}

export interface Discovery {
  /** The rendezvous API answers at some prefix. */
  readonly available: boolean;
  /** The server says this requester may create sessions. */
  readonly createAvailable: boolean;
  readonly prefix?: string;
  /** The server holds GETs that name the token the client has (qr-login's long-poll extension). */
  readonly longPoll?: LongPollSupport;
}
interface RequestOptions {
  readonly body?: unknown;
  readonly auth?: boolean;
  readonly session?: RendezvousSession;
  readonly signal?: AbortSignal | undefined;
  /** Skip the per-session GET pacing (settling a 409 right away keeps the race window small). */
  readonly unpaced?: boolean;
  /** The server may hold this request this long (long-poll): added to the request timeout. */
  readonly holdMs?: number;
}

/** 404 M_UNRECOGNIZED (or a non-Matrix 404/405) means "this prefix is not served": try the next one. */
function isUnrecognizedPath(r: HttpResult): boolean {
  if (r.status === 405) return true;
  if (r.status !== 404) return false;
  const code = errcodeOf(r);
  return code === undefined || code === "M_UNRECOGNIZED";
}

/** Re-sends after a lost response without waiting. */
const IMMEDIATE_RESENDS = 4;

function lostBackoffMs(attempt: number): number {
  // The first re-sends of a request whose response was lost go out at once. For a PUT this matters:
  // if it landed, the peer may answer at its next poll, and the answer is sealed with the token our
  // write produced; if our re-send does not get that token back before the peer overwrites our
  // payload, the token is lost for good and the conversation cannot continue (rendezvous_concurrent_write).
  return attempt < IMMEDIATE_RESENDS ? 0 : Math.min(250 * 2 ** (attempt - IMMEDIATE_RESENDS), 4_000);
}

export class RendezvousClient {
  readonly baseUrl: string;
  readonly prefixes: readonly string[];
  readonly clock: MonotonicClock;
  readonly policy: PollPolicy;
  private readonly fetchImpl: FetchLike;
  private readonly accessToken: string | undefined;
  private readonly requestTimeoutMs: number;
  private readonly maxAttempts: number;
  private confirmedPrefix: string | undefined;
  private longPollSupport: LongPollSupport | undefined;

  constructor(options: RendezvousClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new RendezvousError("rendezvous_bad_request", `not a URL: ${options.baseUrl}`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new RendezvousError("rendezvous_bad_request", `not an http(s) URL: ${options.baseUrl}`);
    }
    this.baseUrl = url.href.replace(/\/+$/, "");
    this.prefixes = options.prefixes?.length ? [...options.prefixes] : [RENDEZVOUS_PATH_STABLE, RENDEZVOUS_PATH_UNSTABLE];
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.clock = options.clock ?? systemClock;
    this.accessToken = options.accessToken;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.policy = { ...DEFAULT_POLL_POLICY, ...options.poll };
  }

  /** Sleep on the client's clock; an abort always surfaces as a typed `cancelled` error. */
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    try {
      await this.clock.sleep(ms, signal);
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal);
      throw err;
    }
  }

  /** The prefix that worked, once one has. */
  get prefix(): string | undefined {
    return this.confirmedPrefix;
  }

  /** Long-poll as the server's latest answer advertised it; undefined: poll. */
  get longPoll(): LongPollSupport | undefined {
    return this.longPollSupport;
  }

  /**
   * @internal Every 200 of discovery, create and session GETs says whether the server holds GETs: the
   * latest one wins, so a server (or instance behind a balancer) that stops advertising is polled again.
   */
  noteAdvertisement(body: Record<string, unknown> | null): void {
    this.longPollSupport = parseLongPoll(body);
  }

  /** `GET /rendezvous`: is the API there, and may we create sessions? */
  async discover(signal?: AbortSignal): Promise<Discovery> {
    let r: { result: HttpResult; prefix: string };
    try {
      r = await this.withPrefix("GET", "", { auth: true, signal });
    } catch (err) {
      if (err instanceof RendezvousError && err.code === "rendezvous_unavailable") {
        return { available: false, createAvailable: false };
      }
      throw err;
    }
    const { result, prefix } = r;
    if (result.status === 401 || result.status === 403) return { available: true, createAvailable: false, prefix };
    if (result.status !== 200) throw httpError(result, "discovery");
    const create = result.body?.["create_available"];
    this.noteAdvertisement(result.body);
    return { available: true, createAvailable: create === true, prefix, ...(this.longPollSupport ? { longPoll: this.longPollSupport } : {}) };
  }

  /** `POST /rendezvous`: create a session with an initial payload (MSC sequence diagram: `""`). */
  async create(data = "", signal?: AbortSignal): Promise<RendezvousSession> {
    const startedAt = this.clock.now();
    const { result } = await this.withPrefix("POST", "", { body: { data }, auth: true, signal });
    if (result.status !== 200) throw httpError(result, "create");
    const id = result.body?.["id"];
    const token = result.body?.["sequence_token"];
    const expires = result.body?.["expires_in_ms"];
    if (typeof id !== "string" || id.length === 0 || typeof token !== "string" || token.length === 0) {
      throw new RendezvousError("rendezvous_bad_response", "create: response lacks id or sequence_token");
    }
    if (typeof expires !== "number" || !Number.isFinite(expires) || expires < 0) {
      throw new RendezvousError("rendezvous_bad_response", "create: response lacks a valid expires_in_ms");
    }
    this.noteAdvertisement(result.body);
    const session = new RendezvousSession(this, id);
    session.adopt(token, data, startedAt + expires);
    session.markOwnWrite(startedAt);
    return session;
  }

  /** Join an existing session (scanner side): one GET, which gives the current token and payload. */
  async open(id: string, signal?: AbortSignal): Promise<RendezvousSession> {
    if (id.length === 0) throw new RendezvousError("rendezvous_bad_request", "empty rendezvous id");
    const session = new RendezvousSession(this, id);
    await session.get(signal);
    return session;
  }

  /** @internal Request on the confirmed prefix, or discover it by trying each in turn. */
  async withPrefix(method: string, suffix: string, opts: RequestOptions): Promise<{ result: HttpResult; prefix: string }> {
    const candidates = this.confirmedPrefix ? [this.confirmedPrefix] : this.prefixes;
    let last: HttpResult | undefined;
    for (const prefix of candidates) {
      const result = await this.send(method, prefix + suffix, opts);
      if (!this.confirmedPrefix && isUnrecognizedPath(result)) {
        last = result;
        continue;
      }
      this.confirmedPrefix ??= prefix;
      return { result, prefix };
    }
    throw new RendezvousError(
      "rendezvous_unavailable",
      `the rendezvous API is not served at ${this.baseUrl} (tried ${candidates.join(", ")})`,
      { status: last?.status, errcode: last ? errcodeOf(last) : undefined },
    );
  }

  /** One logical request: paced, retried on lost responses / 5xx, backing off on 429. */
  private async send(method: string, path: string, opts: RequestOptions): Promise<HttpResult> {
    const { session, signal } = opts;
    const headers: Record<string, string> = { Accept: "application/json" };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    if (opts.auth && this.accessToken) headers["Authorization"] = `Bearer ${this.accessToken}`;
    const url = this.baseUrl + path;
    let lost = 0;
    let limited = 0;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw abortReason(signal);
      const immediate = lost > 0 && attempt > 0 && lostBackoffMs(lost - 1) === 0;
      const paced = method === "GET" && !immediate && !(opts.unpaced && attempt === 0);
      if (session && paced) await session.pace(signal);
      session?.checkExpiry();
      if (!session && attempt >= this.maxAttempts) {
        throw new RendezvousError("rendezvous_network", `${method} ${path}: gave up after ${attempt} attempts`);
      }
      if (method === "GET") session?.noteGet();
      // A held GET may take the server's bound before it answers; it must not count as lost for that.
      // It never outlives the session, though: at our expiry it is cut, and the loop reports expiry.
      let timeoutMs = this.requestTimeoutMs + (opts.holdMs ?? 0);
      if (session && opts.holdMs !== undefined) timeoutMs = Math.min(timeoutMs, Math.max(1, Math.ceil(session.remainingMs)));
      const timeout = AbortSignal.timeout(timeoutMs);
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      let response: Response;
      let text: string;
      try {
        response = await this.fetchImpl(url, { method, headers, body, signal: combined, redirect: "error" });
        text = await response.text();
      } catch (err) {
        if (signal?.aborted) throw abortReason(signal);
        // Network error or timeout: the response is lost. Every request here is safe to repeat:
        // GET/DELETE trivially, PUT because the server treats an identical re-send as idempotent,
        // POST at worst orphans a session that expires on its own.
        void err;
        await this.wait(lostBackoffMs(lost++), session, signal);
        continue;
      }
      // `lost` counts the lost answers and the 5xx ones: either way the server may have acted.
      const result: HttpResult = { status: response.status, body: parseJsonObject(text), headers: response.headers, uncertain: lost > 0 };
      if (response.status === 429) {
        const wait = retryAfterMs(result) ?? Math.min(1_000 * 2 ** limited, 10_000);
        limited++;
        if (!session && limited >= this.maxAttempts) {
          throw new RendezvousError("rendezvous_rate_limited", `${method} ${path}: still rate limited`, { status: 429, errcode: errcodeOf(result) });
        }
        await this.wait(wait, session, signal);
        continue;
      }
      if (response.status >= 500) {
        await this.wait(Math.max(250, lostBackoffMs(lost++)), session, signal);
        continue;
      }
      return result;
    }
  }

  private async wait(ms: number, session: RendezvousSession | undefined, signal: AbortSignal | undefined): Promise<void> {
    if (session) {
      await session.sleepWithinLife(ms, signal);
      return;
    }
    if (ms > 0) await this.sleep(ms, signal);
  }
}
