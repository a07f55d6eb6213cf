// The MSC4388 rendezvous client: finding the API (discovery), starting a session (create) or joining
// one (open), and the path every request of the client and its sessions takes — the API prefix
// (rendezvous-prefix.ts), then the retry loop (rendezvous-retry.ts). A session's own calls (get, poll,
// put, delete) are in rendezvous-session.ts.
//
// No I/O but `fetch` (injectable), and no wall clock (clock.ts). Access tokens go on discovery and
// create only: the MSC makes GET, PUT and DELETE unauthenticated. Redirects are refused.
import { systemClock, type MonotonicClock } from "./clock.js";
import { RENDEZVOUS_PATH_STABLE, RENDEZVOUS_PATH_UNSTABLE } from "./profile.js";
import { RendezvousError } from "./rendezvous-errors.js";
import { httpError, type FetchLike, type HttpResult } from "./rendezvous-http.js";
import { parseLongPoll, type LongPollSupport } from "./rendezvous-long-poll.js";
import { DEFAULT_POLL_POLICY, type PollPolicy } from "./rendezvous-pacing.js";
import { PrefixNegotiation } from "./rendezvous-prefix.js";
import { sendRetried, type Attempts, type RequestScope } from "./rendezvous-retry.js";
import { RendezvousSession } from "./rendezvous-session.js";

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

/** One request of the client or of one of its sessions. */
export interface RequestOptions {
  readonly body?: unknown;
  readonly auth?: boolean;
  /** The session the request belongs to: GETs keep its polling floor, waits end at its expiry. */
  readonly session?: RequestScope;
  readonly signal?: AbortSignal | undefined;
  /** Skip the polling floor (settling a 409 right away keeps the race window small). */
  readonly unpaced?: boolean;
  /** The server may hold this request this long (long-poll): added to the request timeout. */
  readonly holdMs?: number;
}

export class RendezvousClient {
  readonly baseUrl: string;
  readonly clock: MonotonicClock;
  readonly policy: PollPolicy;
  private readonly attempts: Attempts;
  private readonly accessToken: string | undefined;
  private readonly negotiation: PrefixNegotiation;
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
    const prefixes = options.prefixes?.length ? [...options.prefixes] : [RENDEZVOUS_PATH_STABLE, RENDEZVOUS_PATH_UNSTABLE];
    this.negotiation = new PrefixNegotiation(prefixes, this.baseUrl);
    this.clock = options.clock ?? systemClock;
    this.attempts = {
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      clock: this.clock,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      maxAttempts: options.maxAttempts ?? 8,
    };
    this.accessToken = options.accessToken;
    this.policy = { ...DEFAULT_POLL_POLICY, ...options.poll };
  }

  /** API prefixes in order of preference. */
  get prefixes(): readonly string[] {
    return this.negotiation.prefixes;
  }

  /** The prefix that worked, once one has. */
  get prefix(): string | undefined {
    return this.negotiation.confirmed;
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
      r = await this.request("GET", "", { auth: true, signal });
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
    const { result } = await this.request("POST", "", { body: { data }, auth: true, signal });
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

  /** @internal One request at `suffix` after the API prefix: negotiated, then sent until answered. */
  request(method: string, suffix: string, opts: RequestOptions): Promise<{ result: HttpResult; prefix: string }> {
    const headers: Record<string, string> = { Accept: "application/json" };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    if (opts.auth && this.accessToken) headers["Authorization"] = `Bearer ${this.accessToken}`;
    return this.negotiation.send((prefix) =>
      sendRetried(this.attempts, {
        method,
        path: prefix + suffix,
        url: this.baseUrl + prefix + suffix,
        headers,
        body,
        scope: opts.session,
        signal: opts.signal,
        unpaced: opts.unpaced,
        holdMs: opts.holdMs,
      }),
    );
  }
}
