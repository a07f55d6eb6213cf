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
//   non-success answer to a write (it never sees one).
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
// - GETs that fail on the network or with 5xx/429 are retried within the session's lifetime (a GET is
//   safe to repeat); writes are not (a repeated PUT would be refused with 412 if the first landed).
// Requests are counted per method for the flow benchmark.
import { AsyncLocalStorage } from "node:async_hooks";
import { RendezvousError } from "../protocol/rendezvous-errors.js";
import type { FetchLike, MonotonicClock } from "../protocol/rendezvous.js";
import { systemClock } from "../protocol/rendezvous.js";

/** HTTP dates (Date, Expires) have whole seconds. */
const HTTP_DATE_RESOLUTION_MS = 1_000;

/** The JSON field (MSC-unprefixed, our namespace) by which a server advertises long-poll. */
export const LONG_POLL_FIELD = "io.github.qr_login.long_poll";

export interface Transport2024Options {
  readonly fetch?: FetchLike;
  readonly clock?: MonotonicClock;
  /** Send `since` on conditional GETs (default true). */
  readonly longPoll?: boolean;
  /** A request that has not answered after this long counts as lost (default 45 s, above any hold). */
  readonly requestTimeoutMs?: number;
  /** Attempts per GET on network errors, 5xx and 429 (default 5). */
  readonly getAttempts?: number;
}

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
  private readonly getAttempts: number;
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
    this.requestTimeoutMs = options.requestTimeoutMs ?? 45_000;
    this.getAttempts = options.getAttempts ?? 5;
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
    if (method === "GET" && ifNoneMatch !== undefined && this.longPoll) {
      const u = new URL(url);
      u.searchParams.set(this.longPollParam, ifNoneMatch);
      target = u.href;
    }
    const attempts = method === "GET" ? this.getAttempts : 1;
    for (let attempt = 1; ; attempt++) {
      const startedAt = this.clock.now();
      let response: Response;
      let body: ArrayBuffer;
      try {
        response = await this.send(target, method, init, op);
        body = await response.arrayBuffer();
      } catch (err) {
        if (op?.abandoned) throw cancelled(err);
        if (err instanceof RendezvousError) throw err;
        if (attempt < attempts && !this.isExpired) {
          await this.backoff(attempt, op);
          continue;
        }
        throw new RendezvousError("rendezvous_network", `${method} ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      if (op?.abandoned) throw cancelled();
      if (method === "GET" && (response.status >= 500 || response.status === 429) && attempt < attempts && !this.isExpired) {
        await this.backoff(attempt, op, retryAfterMs(response));
        continue;
      }
      return this.translate(method, url, response, body, startedAt, ifNoneMatch, op);
    }
  }

  private send(url: string, method: string, init: RequestInit, op: Operation | undefined): Promise<Response> {
    this.counts.total++;
    if (method === "GET" || method === "PUT" || method === "POST" || method === "DELETE") this.counts[method]++;
    const signals = [AbortSignal.timeout(this.requestTimeoutMs)];
    if (op) signals.push(op.controller.signal);
    if (init.signal) signals.push(init.signal);
    return this.fetchImpl(url, { ...init, method, signal: AbortSignal.any(signals) });
  }

  private async backoff(attempt: number, op: Operation | undefined, hintMs?: number): Promise<void> {
    const ms = Math.min(hintMs ?? 250 * 2 ** (attempt - 1), 4_000, Math.max(0, this.remainingMs));
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
