// MSC4388 insecure rendezvous session: the HTTP client (discovery, create, get, poll, put, delete).
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

export { RendezvousError } from "./rendezvous-errors.js";
export type { RendezvousErrorCode } from "./rendezvous-errors.js";

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

interface HttpResult {
  readonly status: number;
  readonly body: Record<string, unknown> | null;
  readonly headers: Headers;
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

const CONCURRENT_WRITE_ERRCODES = new Set(["M_CONCURRENT_WRITE", "IO_ELEMENT_MSC4388_CONCURRENT_WRITE"]);

function errcodeOf(r: HttpResult): string | undefined {
  const e = r.body?.["errcode"];
  return typeof e === "string" ? e : undefined;
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
      const result: HttpResult = { status: response.status, body: parseJsonObject(text), headers: response.headers };
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

function parseJsonObject(text: string): Record<string, unknown> | null {
  if (text.length === 0) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** `retry_after_ms` from the Matrix error body, else a `Retry-After` header in seconds. */
function retryAfterMs(r: HttpResult): number | undefined {
  const fromBody = r.body?.["retry_after_ms"];
  if (typeof fromBody === "number" && Number.isFinite(fromBody) && fromBody >= 0) return fromBody;
  const header = r.headers.get("retry-after");
  if (header !== null && /^\d+$/.test(header.trim())) return Number(header.trim()) * 1_000;
  return undefined;
}

function httpError(r: HttpResult, what: string): RendezvousError {
  const errcode = errcodeOf(r);
  const detail = typeof r.body?.["error"] === "string" ? `: ${r.body["error"] as string}` : "";
  const info = { status: r.status, errcode };
  switch (r.status) {
    case 401:
    case 403:
      return new RendezvousError("rendezvous_forbidden", `${what}: ${r.status} ${errcode ?? ""}${detail}`, info);
    case 413:
      return new RendezvousError("rendezvous_too_large", `${what}: payload too large${detail}`, info);
    default:
      return new RendezvousError("rendezvous_http_error", `${what}: unexpected HTTP ${r.status} ${errcode ?? ""}${detail}`, info);
  }
}

export interface GetResult {
  readonly data: string;
  readonly sequenceToken: string;
  /** The token differs from the one we held: someone (not us) wrote since. */
  readonly changed: boolean;
}

export interface PollOptions {
  readonly signal?: AbortSignal;
  /**
   * How soon an answer is expected:
   * - `"reply"`: a reply to our own write is due: fast (`fastMs`) for `fastWindowMs`, then easing off to idle;
   * - `"idle"`: waiting for a human (e.g. consent on the other device): `idleMs`;
   * - `"eager"`: someone may write at any moment and must not wait (the generator showing its QR):
   *   at the floor for the whole wait, which the session's expiry bounds.
   * Default: `"reply"` iff our last action was a write, else `"idle"`.
   */
  readonly pace?: PollPace;
  /** Shorthand: `true` = `pace: "reply"`, `false` = `pace: "idle"` (`pace` wins when both are given). */
  readonly replyDue?: boolean;
}

export type PollPace = "reply" | "idle" | "eager";

/** One rendezvous session. Holds the current sequence token: the token of the last GET or own write. */
export class RendezvousSession {
  readonly client: RendezvousClient;
  readonly id: string;
  private token: string | undefined;
  private lastData: string | undefined;
  private expiresAt = Number.POSITIVE_INFINITY;
  private lastGetAt = Number.NEGATIVE_INFINITY;
  private lastOwnWriteAt: number | undefined;
  private lastWasOwnWrite = false;
  private closed = false;
  /** The server answered 404 for the session: a DELETE would only be answered 404 too. */
  private goneOnServer = false;

  /** @internal use RendezvousClient.create / open */
  constructor(client: RendezvousClient, id: string) {
    this.client = client;
    this.id = id;
  }

  get baseUrl(): string {
    return this.client.baseUrl;
  }

  /** The current sequence token (the AAD of the next seal, and of the open after our next write). */
  get sequenceToken(): string {
    if (this.token === undefined) throw new RendezvousError("rendezvous_bad_request", "session has no sequence token yet");
    return this.token;
  }

  /** The payload as of the last GET or own write. */
  get data(): string | undefined {
    return this.lastData;
  }

  /** Milliseconds left before the session expires (monotonic), Infinity if unknown. */
  get remainingMs(): number {
    return this.expiresAt - this.client.clock.now();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private url(): string {
    return `/${encodeURIComponent(this.id)}`;
  }

  /** @internal */
  adopt(token: string, data: string | undefined, expiresAt?: number): void {
    this.token = token;
    if (data !== undefined) this.lastData = data;
    if (expiresAt !== undefined) this.expiresAt = expiresAt;
  }

  /** @internal */
  markOwnWrite(at: number): void {
    this.lastOwnWriteAt = at;
    this.lastWasOwnWrite = true;
  }

  /** @internal Record that a GET is going out now. */
  noteGet(): void {
    this.lastGetAt = this.client.clock.now();
  }

  /** @internal Wait until the per-session polling floor allows the next GET. */
  async pace(signal?: AbortSignal): Promise<void> {
    const due = this.lastGetAt + this.client.policy.minIntervalMs - this.client.clock.now();
    if (due > 0) await this.sleepWithinLife(due, signal);
  }

  /** @internal */
  checkExpiry(): void {
    if (this.closed) throw new RendezvousError("rendezvous_closed", "the rendezvous session was closed");
    if (this.client.clock.now() >= this.expiresAt) {
      throw new RendezvousError("rendezvous_expired", "the rendezvous session has expired");
    }
  }

  /** @internal Sleep, but never past the session's expiry (then fail as expired). */
  async sleepWithinLife(ms: number, signal?: AbortSignal): Promise<void> {
    const left = this.expiresAt - this.client.clock.now();
    if (ms >= left) {
      if (left > 0) await this.client.sleep(left, signal);
      throw new RendezvousError("rendezvous_expired", "the rendezvous session has expired");
    }
    if (ms > 0) await this.client.sleep(ms, signal);
  }

  private goneError(r: HttpResult): RendezvousError {
    this.goneOnServer = true;
    if (this.client.clock.now() >= this.expiresAt) {
      return new RendezvousError("rendezvous_expired", "the rendezvous session has expired", { status: 404, errcode: errcodeOf(r) });
    }
    return new RendezvousError("rendezvous_not_found", "the rendezvous session is gone (cancelled or expired on the server)", {
      status: 404,
      errcode: errcodeOf(r),
    });
  }

  /** `GET /rendezvous/{id}`: read the payload; updates the current token. */
  async get(signal?: AbortSignal): Promise<GetResult> {
    return this.read(signal, {});
  }

  private async read(signal: AbortSignal | undefined, how: { unpaced?: boolean; hold?: LongPollSupport }): Promise<GetResult> {
    const startedAt = this.client.clock.now();
    const { hold } = how;
    // Held GET: name the token we have; the server answers when the session moves past it.
    const path = hold ? `${this.url()}?${encodeURIComponent(hold.queryParameter)}=${encodeURIComponent(this.sequenceToken)}` : this.url();
    const { result } = await this.client.withPrefix("GET", path, {
      session: this,
      signal,
      ...(how.unpaced || hold ? { unpaced: true } : {}),
      ...(hold ? { holdMs: hold.maxWaitMs } : {}),
    });
    if (result.status === 404) throw this.goneError(result);
    if (result.status !== 200) throw httpError(result, "get");
    const data = result.body?.["data"];
    const token = result.body?.["sequence_token"];
    const expires = result.body?.["expires_in_ms"];
    if (typeof data !== "string" || typeof token !== "string" || token.length === 0) {
      throw new RendezvousError("rendezvous_bad_response", "get: response lacks data or sequence_token");
    }
    this.client.noteAdvertisement(result.body);
    const changed = token !== this.token;
    // The deadline is measured from when we asked: the server computed expires_in_ms later than
    // that, so our deadline is never after the real one.
    const expiresAt = typeof expires === "number" && Number.isFinite(expires) && expires >= 0 ? startedAt + expires : undefined;
    this.adopt(token, data, expiresAt);
    if (changed) this.lastWasOwnWrite = false;
    return { data, sequenceToken: token, changed };
  }

  /**
   * GET until the sequence token changes; returns the new payload. When the server advertises
   * long-poll, each GET is held by the server until the session changes (one request per message);
   * otherwise the interval adapts (see PollPace, PollPolicy) and GETs are never closer than
   * `minIntervalMs`.
   */
  async poll(options: PollOptions = {}): Promise<string> {
    const { signal } = options;
    const pace: PollPace = options.pace ?? ((options.replyDue ?? this.lastWasOwnWrite) ? "reply" : "idle");
    // Right after our own write, a plain GET cannot see an answer yet: the first poll goes `fastMs`
    // after the write (never later, so a quick reply is seen at once), not immediately. A held GET
    // goes at once: the server answers it the moment the reply lands.
    if (!this.client.longPoll && this.lastWasOwnWrite && this.lastOwnWriteAt !== undefined) {
      await this.sleepWithinLife(this.lastOwnWriteAt + this.client.policy.fastMs - this.client.clock.now(), signal);
    }
    for (;;) {
      const hold = this.client.longPoll;
      const startedAt = this.client.clock.now();
      const r = await this.read(signal, hold ? { hold } : {});
      if (r.changed) return r.data;
      // Unchanged. A plain GET waits an interval. A held GET that the server held for at least an
      // interval (its bound passed) is re-sent at once; one answered sooner (a server at its cap of
      // held requests, or one that ignores the parameter) waits out the interval like a plain poll,
      // so a server that stops holding never turns the client into a hot loop.
      const interval = this.nextInterval(pace);
      await this.sleepWithinLife(hold ? startedAt + interval - this.client.clock.now() : interval, signal);
    }
  }

  private nextInterval(pace: PollPace): number {
    const p = this.client.policy;
    if (pace === "eager") return p.minIntervalMs;
    if (pace === "idle" || this.lastOwnWriteAt === undefined) return p.idleMs;
    const since = this.client.clock.now() - this.lastOwnWriteAt;
    if (since < p.fastWindowMs) return p.fastMs;
    if (since < 3 * p.fastWindowMs) return Math.min(p.idleMs, 2 * p.fastMs);
    return p.idleMs;
  }

  /**
   * `PUT /rendezvous/{id}` with the current token. Returns the new token. A lost response is
   * re-sent identically (idempotent on the server). A 409 is settled with a GET: if the payload
   * there is ours, our write landed; otherwise someone else wrote and this is a concurrent write.
   */
  async put(data: string, signal?: AbortSignal): Promise<string> {
    const token = this.sequenceToken;
    const startedAt = this.client.clock.now();
    const { result } = await this.client.withPrefix("PUT", this.url(), { session: this, signal, body: { sequence_token: token, data } });
    if (result.status === 200) {
      const next = result.body?.["sequence_token"];
      if (typeof next !== "string" || next.length === 0) {
        throw new RendezvousError("rendezvous_bad_response", "put: response lacks sequence_token");
      }
      this.adopt(next, data);
      this.markOwnWrite(startedAt);
      return next;
    }
    if (result.status === 404) throw this.goneError(result);
    if (result.status === 409 || CONCURRENT_WRITE_ERRCODES.has(errcodeOf(result) ?? "")) {
      // Settle at once: if our earlier attempt landed, the peer may answer within its next poll.
      const now = await this.read(signal, { unpaced: true });
      if (now.data === data) {
        this.markOwnWrite(startedAt);
        return now.sequenceToken;
      }
      throw new RendezvousError("rendezvous_concurrent_write", "another party wrote to the rendezvous session first", {
        status: result.status,
        errcode: errcodeOf(result),
      });
    }
    throw httpError(result, "put");
  }

  /** `DELETE /rendezvous/{id}`. A session already gone (404) counts as deleted. */
  async delete(signal?: AbortSignal): Promise<void> {
    if (this.closed) return;
    // The server already said the session is gone (the peer deleted it, or it expired): nothing to delete.
    if (this.goneOnServer) { this.closed = true; return; }
    const { result } = await this.client.withPrefix("DELETE", this.url(), { session: this, signal });
    this.closed = true;
    if (result.status === 200 || result.status === 204 || result.status === 404) return;
    throw httpError(result, "delete");
  }

  /** Close locally without a request (e.g. after expiry). Later calls fail with rendezvous_closed. */
  markClosed(): void {
    this.closed = true;
  }
}
