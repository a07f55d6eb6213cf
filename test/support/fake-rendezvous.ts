// In-memory MSC4388 rendezvous server behind a fetch function, on a virtual monotonic clock, for
// unit tests of the rendezvous client: every request is logged with its virtual time, and a hook can
// inject faults (lost responses, 429, 5xx) or change the server's behaviour.
// With `longPoll` it also plays qr-login's long-poll extension (docs/protocol.md "Long-poll"): it
// advertises it, and holds `GET …/{id}?<parameter>=<current token>` until the session changes, the
// request is aborted, or the bound passes (`boundRealMs` of real time, after which a VirtualClock is
// moved on by the advertised bound, so the client sees the bound pass).
import type { MonotonicClock } from "../../main/protocol/clock.js";
import type { FetchLike } from "../../main/protocol/rendezvous-http.js";

export class VirtualClock implements MonotonicClock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.t += Math.max(0, ms);
    await Promise.resolve();
    if (signal?.aborted) throw signal.reason;
  }
}

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly at: number;
  readonly body: Record<string, unknown> | undefined;
  readonly headers: Record<string, string>;
  /** The query string (with "?"), or "". */
  readonly search: string;
}

interface Session {
  data: string;
  token: string;
  previousToken?: string;
  counter: number;
  expiresAt: number;
}

/**
 * What a hook may do with a request: answer it itself, let the server handle it and drop the response,
 * or never answer at all until the client gives up on it ("hang").
 */
export type HookResult = Response | "drop-response" | "drop-request" | "hang" | undefined;

export interface FakeServerOptions {
  prefixes?: string[];
  ttlMs?: number;
  /**
   * "msc": idempotent PUT for any stale token (MSC text); "synapse": only for the token just before
   * the current one (Synapse #19808); "strict": 409 on every stale token (worst case).
   */
  idempotency?: "msc" | "synapse" | "strict";
  longPoll?: FakeLongPoll;
}

export interface FakeLongPoll {
  /** Hold bound, advertised as max_wait_ms; a VirtualClock moves on by this much when a hold reaches it. */
  maxWaitMs: number;
  /** How long (real ms) a hold that nobody ends really takes (default: maxWaitMs). */
  boundRealMs?: number;
  /** Advertised and honoured query parameter (default "since"). */
  queryParameter?: string;
  /** false: advertise, but answer at once (a server at its cap of held requests). Default true. */
  hold?: boolean;
  /** false: hold, but do not advertise in session GETs (only in discovery and create). Default true. */
  advertiseOnGet?: boolean;
}

export const V1 = "/_matrix/client/v1/rendezvous";
export const UNSTABLE = "/_matrix/client/unstable/io.element.msc4388/rendezvous";

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

export class FakeRendezvousServer {
  readonly origin = "https://rz.test";
  readonly sessions = new Map<string, Session>();
  readonly log: LoggedRequest[] = [];
  hook: ((req: LoggedRequest, n: number) => HookResult) | undefined;
  readonly prefixes: string[];
  readonly ttlMs: number;
  idempotency: "msc" | "synapse" | "strict";
  longPoll: FakeLongPoll | undefined;
  /** Held GETs currently waiting, and how they ended. */
  held = 0;
  readonly holds: Array<{ id: string; ended: "change" | "bound" | "aborted" }> = [];
  private readonly wake = new Map<string, Set<() => void>>();
  private nextId = 1;
  private tokenSeq = 1;

  constructor(readonly clock: MonotonicClock, options: FakeServerOptions = {}) {
    this.prefixes = options.prefixes ?? [V1, UNSTABLE];
    this.ttlMs = options.ttlMs ?? 120_000;
    this.idempotency = options.idempotency ?? "msc";
    this.longPoll = options.longPoll;
  }

  private advertisement(): Record<string, unknown> {
    const lp = this.longPoll;
    return lp ? { "io.github.qr_login.long_poll": { query_parameter: lp.queryParameter ?? "since", max_wait_ms: lp.maxWaitMs } } : {};
  }

  private changed(id: string): void {
    const waiters = this.wake.get(id);
    this.wake.delete(id);
    for (const w of waiters ?? []) w();
  }

  /** Wait for a change of session `id`, the bound, or the request's abort. */
  private async hold(id: string, signal: AbortSignal | null | undefined): Promise<"change" | "bound" | "aborted"> {
    const lp = this.longPoll!;
    const virtualBound = Math.min(lp.maxWaitMs, Math.max(0, this.sessions.get(id)!.expiresAt - this.clock.now()));
    const bound = lp.boundRealMs === undefined ? virtualBound : Math.min(lp.boundRealMs, virtualBound);
    this.held++;
    const ended = await new Promise<"change" | "bound" | "aborted">((resolve) => {
      const done = (how: "change" | "bound" | "aborted"): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.wake.get(id)?.delete(onChange);
        resolve(how);
      };
      const onChange = (): void => done("change");
      const onAbort = (): void => done("aborted");
      const timer = setTimeout(() => done("bound"), bound);
      let set = this.wake.get(id);
      if (!set) this.wake.set(id, (set = new Set()));
      set.add(onChange);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    this.held--;
    this.holds.push({ id, ended });
    if (ended === "bound" && this.clock instanceof VirtualClock) this.clock.t += virtualBound;
    return ended;
  }

  requests(method?: string): LoggedRequest[] {
    return method ? this.log.filter((r) => r.method === method) : this.log;
  }

  /** A write by someone else (a peer or a third party), straight into the store. */
  externalWrite(id: string, data: string): string {
    const s = this.sessions.get(id)!;
    s.data = data;
    s.token = `tok${this.tokenSeq++}`;
    this.changed(id);
    return s.token;
  }

  readonly fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const req: LoggedRequest = {
      method: init.method ?? "GET",
      path: url.pathname,
      at: this.clock.now(),
      body: typeof init.body === "string" ? (JSON.parse(init.body) as Record<string, unknown>) : undefined,
      headers,
      search: url.search,
    };
    this.log.push(req);
    if (init.signal?.aborted) throw init.signal.reason;
    const hooked = this.hook?.(req, this.log.length - 1);
    if (hooked instanceof Response) return hooked;
    if (hooked === "drop-request") throw new TypeError("fetch failed (request lost)");
    if (hooked === "hang") {
      const signal = init.signal;
      await new Promise<void>((resolve) => (signal ? signal.addEventListener("abort", () => resolve(), { once: true }) : undefined));
      throw signal!.reason;
    }
    const heldFor = this.heldSession(req);
    if (heldFor !== undefined && (await this.hold(heldFor, init.signal)) === "aborted") throw init.signal!.reason;
    const response = this.handle(req);
    if (hooked === "drop-response") throw new TypeError("fetch failed (response lost)");
    return response;
  };

  /** The session a GET names with its current token (to be held), if long-poll is on. */
  private heldSession(req: LoggedRequest): string | undefined {
    const lp = this.longPoll;
    if (!lp || lp.hold === false || req.method !== "GET") return undefined;
    const since = new URLSearchParams(req.search).get(lp.queryParameter ?? "since");
    const prefix = this.prefixes.find((p) => req.path.includes(p + "/"));
    if (since === null || !prefix) return undefined;
    const id = decodeURIComponent(req.path.slice(req.path.indexOf(prefix) + prefix.length + 1));
    const s = this.sessions.get(id);
    return s && s.expiresAt > this.clock.now() && s.token === since ? id : undefined;
  }

  private handle(req: LoggedRequest): Response {
    // The API may sit below a base path (https://host/matrix/_matrix/client/...).
    const prefix = this.prefixes.find((p) => req.path.endsWith(p) || req.path.includes(p + "/"));
    if (!prefix) return json(404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
    const rest = req.path.slice(req.path.indexOf(prefix) + prefix.length);
    const cw = prefix === V1 ? "M_CONCURRENT_WRITE" : "IO_ELEMENT_MSC4388_CONCURRENT_WRITE";
    const now = this.clock.now();
    if (rest === "") {
      if (req.method === "GET") return json(200, { create_available: true, ...this.advertisement() });
      if (req.method === "POST") {
        const id = `id${this.nextId++}`;
        const s = { data: String(req.body?.["data"] ?? ""), token: `tok${this.tokenSeq++}`, counter: 0, expiresAt: now + this.ttlMs };
        this.sessions.set(id, s);
        return json(200, { id, sequence_token: s.token, expires_in_ms: this.ttlMs, ...this.advertisement() });
      }
      return json(405, { errcode: "M_UNRECOGNIZED", error: "method" });
    }
    const id = decodeURIComponent(rest.slice(1));
    const s = this.sessions.get(id);
    if (!s || s.expiresAt <= now) {
      this.sessions.delete(id);
      return json(404, { errcode: "M_NOT_FOUND", error: "Not found" });
    }
    switch (req.method) {
      case "GET":
        return json(200, {
          data: s.data,
          sequence_token: s.token,
          expires_in_ms: s.expiresAt - now,
          ...(this.longPoll?.advertiseOnGet === false ? {} : this.advertisement()),
        });
      case "PUT": {
        const token = req.body?.["sequence_token"];
        const data = String(req.body?.["data"]);
        if (token !== s.token) {
          const idempotent =
            data === s.data && (this.idempotency === "msc" || (this.idempotency === "synapse" && token === s.previousToken));
          if (idempotent) return json(200, { sequence_token: s.token });
          return json(409, { errcode: cw, error: "sequence_token does not match" });
        }
        s.data = data;
        s.counter++;
        s.previousToken = s.token;
        s.token = `tok${this.tokenSeq++}`;
        this.changed(id);
        return json(200, { sequence_token: s.token });
      }
      case "DELETE":
        this.sessions.delete(id);
        this.changed(id);
        return json(200, {});
      default:
        return json(405, { errcode: "M_UNRECOGNIZED", error: "method" });
    }
  }
}
