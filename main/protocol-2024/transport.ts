// The HTTP side of the MSC4108 2024 rendezvous under matrix-js-sdk's own MSC4108RendezvousSession: the
// `fetchFn` we hand it, and the one place where its requests are run as cancellable operations.
//
// matrix-js-sdk's transport is what Element Web ships; we drive it as it is and fix, here, what its
// users trip over:
// - Clock skew (matrix-js-sdk#5141): it arms its expiry timer from the absolute `Expires` header
//   against the local clock, so a server clock a minute behind deletes the session at once. Every
//   `Expires` is rewritten to local time as localNow + (Expires − Date), and our own deadline is kept
//   on the monotonic clock from the same difference.
// - A 412 on PUT (element-web#34453, synapse#18155): it copies the ETag from any PUT answer, the 412
//   included, and returns as if the write had landed; the message is lost and both sides poll until
//   the session expires. Here a 412 is a typed `rendezvous_concurrent_write`, as is any other
//   non-success answer to a write (it never sees one) — unless an earlier attempt of the same PUT may
//   have landed (its answer was lost): see settleLostWrite.
// - Proxies: a compressing proxy weakens the ETag (`W/"…"`, synapse#18178) and a charset may be added
//   to `text/plain`; it would send the weak form back in If-Match (412) and treat the payload as no
//   payload. ETags are handed over in their strong form and `text/plain; …` as `text/plain`. An
//   answer without the ETag it relies on (stripped by an extension or proxy) is a typed error.
// - Cancellation: its receive loop cannot be stopped (a fixed 1 s sleep between polls, no signal).
//   Every request it makes runs inside an operation (AsyncLocalStorage); when the operation is
//   abandoned (the caller's signal, our deadline), its in-flight request is aborted and every later
//   request of that loop is refused without touching the network, so a stale receive can never
//   consume a message meant for the next receive. The rare answer that was already handed over when
//   the operation was abandoned is delivered to the next operation (onLate) instead of being lost.
// - Long-poll (qr-login's extension, docs/architecture.md): a GET with If-None-Match also carries
//   `?since=<etag>`; a server with the extension holds it until the session changes, one without
//   ignores the parameter. The POST's answer may name the parameter (`io.github.qr_login.long_poll`).
// - Transient failures (connection refused or reset, a request unanswered for requestTimeoutMs, 5xx,
//   429 after its Retry-After) are retried with backoff, every method alike, until the session's
//   expiry (before the expiry is known, i.e. the POST and a scanner's first GET: maxAttempts; a DELETE,
//   which only tidies up: deleteBudgetMs). matrix-js-sdk ends the flow on any failed request, so it
//   never sees one of these. A repeated PUT whose first attempt landed meets 412 (the 2024 API has no
//   idempotent replay): settleLostWrite reads the session to find out what happened.
// Requests are counted per method for the flow benchmark.
import { AsyncLocalStorage } from "node:async_hooks";
import { systemClock, type MonotonicClock } from "../protocol/clock.js";
import { RendezvousError } from "../protocol/rendezvous-errors.js";
import type { FetchLike } from "../protocol/rendezvous-http.js";
import { LONG_POLL_FIELD } from "../protocol/rendezvous-long-poll.js";

/** HTTP dates (Date, Expires) have whole seconds. */
const HTTP_DATE_RESOLUTION_MS = 1_000;

export interface Transport2024Options {
  readonly fetch?: FetchLike;
  readonly clock?: MonotonicClock;
  /** Send `since` on conditional GETs (default true). */
  readonly longPoll?: boolean;
  /** A request that has not answered after this long counts as lost (default 10 s; a held GET gets HOLD_ALLOWANCE_MS more). */
  readonly requestTimeoutMs?: number;
  /** Attempts of a request made before the session's expiry is known (the POST, a scanner's first GET; default 8). */
  readonly maxAttempts?: number;
  /** How long a DELETE is retried (default 5 s): it only tidies up, and an exit must not wait on a server that is down. */
  readonly deleteBudgetMs?: number;
}

/** Added to a held (long-poll) GET's timeout: above the longest hold a server may use (ours: at most 25 s). */
const HOLD_ALLOWANCE_MS = 35_000;
/**
 * The ETag handed over when a lost write was overtaken and the PUT named no If-Match (matrix-js-sdk
 * always names one): any value the server never issues makes the next receive read the payload.
 */
const WRITTEN_AGAINST_UNKNOWN = '"io.github.qr_login.overtaken"';
/** Backoff between attempts: 250 ms doubling to 4 s (a Retry-After is honoured as given). */
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 4_000;

export interface RequestCounts {
  total: number;
  GET: number;
  PUT: number;
  POST: number;
  DELETE: number;
}

class Operation {
  readonly controller = new AbortController();
  abandoned = false;
  /** A GET 200 with a payload was handed to matrix-js-sdk: the operation's result is imminent. */
  delivering = false;
}

function cancelled(cause?: unknown): RendezvousError {
  return new RendezvousError("cancelled", "cancelled", cause === undefined ? undefined : { cause });
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** `W/"x"` → `"x"`: the strong form the server compares If-Match / If-None-Match against. */
export function strongEtag(etag: string | null): string | null {
  if (etag === null) return null;
  const trimmed = etag.trim();
  return trimmed.startsWith("W/") ? trimmed.slice(2) : trimmed;
}

function headerValue(headers: RequestInit["headers"], name: string): string | undefined {
  if (!headers) return undefined;
  const h = new Headers(headers);
  return h.get(name) ?? undefined;
}

export class Transport2024 {
  readonly counts: RequestCounts = { total: 0, GET: 0, PUT: 0, POST: 0, DELETE: 0 };
  private readonly fetchImpl: FetchLike;
  private readonly clock: MonotonicClock;
  private readonly longPoll: boolean;
  private readonly requestTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly deleteBudgetMs: number;
  private readonly ops = new AsyncLocalStorage<Operation>();
  private deadlineAt: number | undefined;
  private longPollParam = "since";
  private closed = false;
  /** The server answered 404 for the session: a DELETE would only be answered 404 too. */
  private goneOnServer = false;
  private settling: Promise<void> | undefined;

  constructor(options: Transport2024Options = {}) {
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.clock = options.clock ?? systemClock;
    this.longPoll = options.longPoll ?? true;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.deleteBudgetMs = options.deleteBudgetMs ?? 5_000;
  }

  /** The fetch function for MSC4108RendezvousSession (its `fetchFn`). */
  readonly fetchFn = (input: string | URL | Request, init?: RequestInit): Promise<Response> => this.request(String(input instanceof Request ? input.url : input), init ?? {});

  /** Milliseconds until the session expires (monotonic), Infinity while unknown. */
  get remainingMs(): number {
    return this.deadlineAt === undefined ? Number.POSITIVE_INFINITY : this.deadlineAt - this.clock.now();
  }

  get isExpired(): boolean {
    return this.remainingMs <= 0;
  }

  /** A session that disappears now has expired (rather than been deleted): see goneError. */
  get gonePastDeadline(): boolean {
    return this.remainingMs <= HTTP_DATE_RESOLUTION_MS;
  }

  /** No request but the DELETE goes out after this; loops still running are refused. */
  markClosed(): void {
    this.closed = true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * The session is gone (404): expired if our deadline has passed (within the one second HTTP dates
   * are rounded to: Expires − Date may overstate the lifetime by almost that, and a long-poll answers
   * the server's expiry at once), else deleted by the peer.
   */
  goneError(what: string): RendezvousError {
    return this.gonePastDeadline
      ? new RendezvousError("rendezvous_expired", "the rendezvous session has expired", { status: 404 })
      : new RendezvousError("rendezvous_not_found", `${what}: the rendezvous session is gone (cancelled by the other device, or expired on the server)`, { status: 404 });
  }

  /**
   * Run `work` (calls into matrix-js-sdk) as one operation: it rejects at once when `signal` aborts
   * (`cancelled`) or the session's deadline passes (`rendezvous_expired`), and from then on the
   * requests `work` still makes are refused. A result that arrives after the operation was given up
   * while it was already being consumed is passed to `onLate`.
   */
  async run<T>(work: () => Promise<T>, opts: { signal?: AbortSignal | undefined; onLate?: (value: T) => void } = {}): Promise<T> {
    // An operation given up while matrix-js-sdk consumed a delivered answer finishes first (its result
    // goes to onLate): only then is the session's ETag where the next operation must start from.
    while (this.settling) await this.settling;
    const { signal } = opts;
    if (signal?.aborted) throw cancelled(signal.reason);
    if (this.isExpired) throw new RendezvousError("rendezvous_expired", "the rendezvous session has expired");
    const op = new Operation();
    const promise = this.ops.run(op, work);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (): boolean => {
        if (done) return false;
        done = true;
        signal?.removeEventListener("abort", onAbort);
        if (timer !== undefined) clearTimeout(timer);
        return true;
      };
      const abandon = (error: RendezvousError): void => {
        if (!settle()) return;
        op.abandoned = true;
        op.controller.abort(error);
        if (op.delivering) {
          const late = promise.then((value) => opts.onLate?.(value), () => undefined).finally(() => {
            if (this.settling === late) this.settling = undefined;
          });
          this.settling = late;
        } else {
          promise.catch(() => undefined);
        }
        reject(error);
      };
      const onAbort = (): void => abandon(cancelled(signal?.reason));
      signal?.addEventListener("abort", onAbort, { once: true });
      const left = this.remainingMs;
      if (Number.isFinite(left)) timer = setTimeout(() => abandon(new RendezvousError("rendezvous_expired", "the rendezvous session has expired")), Math.max(0, left));
      promise.then(
        (value) => {
          if (settle()) resolve(value);
        },
        (err: unknown) => {
          if (settle()) reject(err);
        },
      );
    });
  }

  private async request(url: string, init: RequestInit): Promise<Response> {
    const op = this.ops.getStore();
    const method = (init.method ?? "GET").toUpperCase();
    if (op?.abandoned) throw cancelled();
    // A new request means the last delivered answer has been consumed.
    if (op) op.delivering = false;
    if (this.closed && method !== "DELETE") throw new RendezvousError("rendezvous_closed", "the rendezvous session was closed");
    // matrix-js-sdk's close() DELETEs even after it saw the session gone; answer that one locally.
    if (method === "DELETE" && this.goneOnServer) return new Response(null, { status: 404 });
    const ifNoneMatch = headerValue(init.headers, "if-none-match");
    let target = url;
    const held = method === "GET" && ifNoneMatch !== undefined && this.longPoll;
    if (held) {
      const u = new URL(url);
      u.searchParams.set(this.longPollParam, ifNoneMatch);
      target = u.href;
    }
    const r = await this.exchange(target, method, init, op, held);
    if (method === "PUT" && r.mayHaveLanded) {
      if (r.response.status === 412) return this.settleLostWrite(url, init, r.startedAt, op);
      if (r.response.status === 404) return this.endedAfterWrite(init);
    }
    return this.translate(method, url, r.response, r.body, r.startedAt, ifNoneMatch, op);
  }

  /**
   * One request, retried on transient failures (see the file comment). Returns the last answer; for a
   * PUT or POST, whether an earlier attempt may have taken effect although we never saw its answer.
   */
  private async exchange(url: string, method: string, init: RequestInit, op: Operation | undefined, held = false): Promise<{ response: Response; body: ArrayBuffer; startedAt: number; mayHaveLanded: boolean }> {
    const firstAt = this.clock.now();
    let mayHaveLanded = false;
    for (let attempt = 1; ; attempt++) {
      const startedAt = this.clock.now();
      let response: Response;
      let body: ArrayBuffer;
      try {
        response = await this.send(url, method, init, op, held);
        body = await response.arrayBuffer();
      } catch (err) {
        if (op?.abandoned) throw cancelled(err);
        if (err instanceof RendezvousError) throw err;
        // Refused, reset, timed out: whether the server acted on the request is unknown.
        mayHaveLanded = true;
        if (this.mayRetry(method, attempt, firstAt)) {
          await this.backoff(attempt, op);
          continue;
        }
        throw new RendezvousError("rendezvous_network", `${method} ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      if (op?.abandoned) throw cancelled();
      if ((response.status >= 500 || response.status === 429) && this.mayRetry(method, attempt, firstAt)) {
        // A 5xx may come from a proxy whose upstream did act on the request.
        if (response.status >= 500) mayHaveLanded = true;
        await this.backoff(attempt, op, retryAfterMs(response));
        continue;
      }
      return { response, body, startedAt, mayHaveLanded };
    }
  }

  /** Another attempt: until the session's expiry, or a fixed number while it is unknown; a DELETE only briefly. */
  private mayRetry(method: string, attempt: number, firstAt: number): boolean {
    if (method === "DELETE") return this.clock.now() - firstAt < this.deleteBudgetMs && !this.isExpired;
    if (this.deadlineAt === undefined) return attempt < this.maxAttempts;
    return !this.isExpired;
  }

  /**
   * A PUT met 412 after an earlier attempt of it went unanswered: that attempt may have landed, and
   * the 2024 API refuses the repeat because the session has moved on (its ETag changed). ETags are
   * opaque and new on every write, so only the session's payload can say what happened. Read it:
   * - it holds exactly what we wrote: our write is the last one; adopt its ETag and report success;
   * - it holds something else: the session moved on past the ETag we wrote against. Either our write
   *   landed and the other device already answered it (it can only answer what it read), or a third
   *   party wrote. The transport cannot tell which (ETags say nothing about who wrote), but the secure
   *   channel can: report the write as done with the ETag we wrote against, which is no longer
   *   current, so matrix-js-sdk's next receive (If-None-Match with it) reads the payload that is there
   *   now. The peer's reply opens and is delivered, never lost; a third party's payload does not open
   *   and ends the flow as an attack, as it should;
   * - it is gone: see endedAfterWrite.
   * A 412 to a PUT none of whose attempts can have landed is a concurrent write, as before.
   */
  private async settleLostWrite(url: string, init: RequestInit, startedAt: number, op: Operation | undefined): Promise<Response> {
    const ifMatch = headerValue(init.headers, "if-match");
    const now = await this.exchange(url, "GET", {}, op);
    if (op?.abandoned) throw cancelled();
    const status = now.response.status;
    if (status === 404) return this.endedAfterWrite(init);
    if (status !== 200) throw statusError("GET", url, status);
    const etag = strongEtag(now.response.headers.get("etag"));
    if (etag === null) throw new RendezvousError("rendezvous_bad_response", "the rendezvous server's answer has no ETag header (removed by a proxy or browser extension?)", { status });
    const ours = sameBytes(new Uint8Array(now.body), bodyBytes(init.body));
    const headers = new Headers({ etag: ours ? etag : (strongEtag(ifMatch ?? null) ?? WRITTEN_AGAINST_UNKNOWN) });
    for (const name of ["date", "expires"]) {
      const v = now.response.headers.get(name);
      if (v !== null) headers.set(name, v);
    }
    this.fixExpiry(headers, startedAt, false);
    return new Response(null, { status: 202, headers });
  }

  /**
   * The session is gone after a write that may have landed (a 404 to its retry, or to the read that
   * settles its 412): most likely the other device read it and deleted the session, as a new device
   * does once it has read m.login.secrets. The write counts as done; the next request reports the end,
   * as it would have without the lost answer.
   */
  private endedAfterWrite(init: RequestInit): Response {
    this.goneOnServer = true;
    return new Response(null, { status: 202, headers: { etag: strongEtag(headerValue(init.headers, "if-match") ?? null) ?? WRITTEN_AGAINST_UNKNOWN } });
  }

  private send(url: string, method: string, init: RequestInit, op: Operation | undefined, held: boolean): Promise<Response> {
    this.counts.total++;
    if (method === "GET" || method === "PUT" || method === "POST" || method === "DELETE") this.counts[method]++;
    const signals = [AbortSignal.timeout(this.requestTimeoutMs + (held ? HOLD_ALLOWANCE_MS : 0))];
    if (op) signals.push(op.controller.signal);
    if (init.signal) signals.push(init.signal);
    return this.fetchImpl(url, { ...init, method, signal: AbortSignal.any(signals) });
  }

  private async backoff(attempt: number, op: Operation | undefined, hintMs?: number): Promise<void> {
    const ms = Math.min(hintMs ?? Math.min(BACKOFF_FIRST_MS * 2 ** (attempt - 1), BACKOFF_MAX_MS), Math.max(0, this.remainingMs));
    try {
      await this.clock.sleep(ms, op?.controller.signal);
    } catch (err) {
      throw cancelled(err);
    }
  }

  /** Check the answer, fix what matrix-js-sdk would misread, and hand it over as a fresh Response. */
  private translate(method: string, url: string, response: Response, body: ArrayBuffer, startedAt: number, ifNoneMatch: string | undefined, op: Operation | undefined): Response {
    const status = response.status;
    const headers = new Headers(response.headers);
    const etag = strongEtag(headers.get("etag"));
    if (etag !== null) headers.set("etag", etag);
    this.fixExpiry(headers, startedAt, method === "POST" || this.deadlineAt === undefined);
    const contentType = headers.get("content-type");
    if (contentType !== null && /^text\/plain\s*(;|$)/i.test(contentType)) headers.set("content-type", "text/plain");

    switch (method) {
      case "POST":
        if (status === 404 || status === 405) throw new RendezvousError("rendezvous_unavailable", `no MSC4108 rendezvous endpoint at ${url} (HTTP ${status})`, { status });
        if (status === 401 || status === 403) throw new RendezvousError("rendezvous_forbidden", `POST ${url}: HTTP ${status}`, { status });
        if (status !== 201 && status !== 200) throw statusError(method, url, status);
        this.learnLongPoll(body);
        break;
      case "GET":
        if (status === 404) { this.goneOnServer = true; throw this.goneError("GET"); }
        if (status === 304) {
          // matrix-js-sdk takes the ETag of every non-payload answer as its new If-None-Match: a 304
          // without one would make its next GET unconditional, and the old payload would come back
          // as if it were new.
          if (etag === null && ifNoneMatch !== undefined) headers.set("etag", ifNoneMatch);
          break;
        }
        if (status !== 200) throw statusError(method, url, status);
        if (headers.get("content-type") === "text/plain") {
          if (etag === null) {
            throw new RendezvousError("rendezvous_bad_response", "the rendezvous server's answer has no ETag header (removed by a proxy or browser extension?)", { status });
          }
          if (op) op.delivering = true;
        }
        break;
      case "PUT":
        if (status === 404) { this.goneOnServer = true; throw this.goneError("PUT"); }
        if (status === 412) {
          throw new RendezvousError(
            "rendezvous_concurrent_write",
            "PUT refused with 412: the session changed since our last read (another party wrote, or a proxy altered the ETag)",
            { status, errcode: "M_CONCURRENT_WRITE" },
          );
        }
        if (status < 200 || status > 299) throw statusError(method, url, status);
        if (etag === null) throw new RendezvousError("rendezvous_bad_response", "the rendezvous server's answer to PUT has no ETag header (removed by a proxy?)", { status });
        break;
      default:
        break;
    }
    return new Response(NULL_BODY_STATUSES.has(status) ? null : body, { status, statusText: response.statusText, headers });
  }

  /**
   * Rewrites `Expires` to local time (localNow + Expires − Date) and keeps the deadline on the
   * monotonic clock, measured from when the request was sent so it is never later than the server's.
   */
  private fixExpiry(headers: Headers, startedAt: number, adopt: boolean): void {
    const expires = Date.parse(headers.get("expires") ?? "");
    if (Number.isNaN(expires)) return;
    const serverNow = Date.parse(headers.get("date") ?? "");
    // Without a Date header the skew cannot be known: take Expires at its word.
    const lifetime = Number.isNaN(serverNow) ? expires - Date.now() : expires - serverNow;
    headers.set("expires", new Date(Date.now() + lifetime).toUTCString());
    if (adopt) this.deadlineAt = startedAt + lifetime;
  }

  private learnLongPoll(body: ArrayBuffer): void {
    try {
      const json = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
      const lp = json[LONG_POLL_FIELD] as { query_parameter?: unknown } | undefined;
      if (lp && typeof lp.query_parameter === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(lp.query_parameter)) this.longPollParam = lp.query_parameter;
    } catch {
      // Not our concern: matrix-js-sdk reports a body without `url`.
    }
  }
}

/** The bytes of a PUT body as matrix-js-sdk gives it (a string: the sealed message). */
function bodyBytes(body: RequestInit["body"]): Uint8Array {
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return new Uint8Array(0);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function retryAfterMs(response: Response): number | undefined {
  const header = response.headers.get("retry-after");
  return header !== null && /^\d+$/.test(header.trim()) ? Number(header.trim()) * 1_000 : undefined;
}

function statusError(method: string, url: string, status: number): RendezvousError {
  if (status === 413) return new RendezvousError("rendezvous_too_large", `${method}: payload too large`, { status });
  if (status === 429) return new RendezvousError("rendezvous_rate_limited", `${method}: rate limited`, { status });
  if (status === 401 || status === 403) return new RendezvousError("rendezvous_forbidden", `${method} ${url}: HTTP ${status}`, { status });
  return new RendezvousError("rendezvous_http_error", `${method} ${url}: unexpected HTTP ${status}`, { status });
}
