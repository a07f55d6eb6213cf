// One MSC4388 rendezvous session (`GET`, `PUT`, `DELETE` on `…/rendezvous/{id}`), made by
// RendezvousClient.create / open (rendezvous.ts). It keeps the session's state: the current
// `sequence_token`, which the secure channel binds into its AAD (docs/protocol.md "The sequence-token
// rule"), the payload, the local deadline, and a write of ours overtaken by the peer's answer
// (docs/protocol.md "Lost answers"). How often it polls is rendezvous-pacing.ts; a held GET,
// rendezvous-long-poll.ts.
import { sleepOn } from "./clock.js";
import { CONCURRENT_WRITE_ERRCODES, errcodeOf, httpError, type HttpResult } from "./rendezvous-http.js";
import { RendezvousError } from "./rendezvous-errors.js";
import { heldGetPath, type LongPollSupport } from "./rendezvous-long-poll.js";
import { PollPacer, type PollPace } from "./rendezvous-pacing.js";
import type { RequestScope } from "./rendezvous-retry.js";
import type { RendezvousClient } from "./rendezvous.js";

export interface GetResult {
  readonly data: string;
  readonly sequenceToken: string;
  /** The token differs from the one we held: someone (not us) wrote since. */
  readonly changed: boolean;
}

export interface PollOptions {
  readonly signal?: AbortSignal;
  /** How soon an answer is expected (PollPace). Default: `"reply"` iff our last action was a write, else `"idle"`. */
  readonly pace?: PollPace;
  /** Shorthand: `true` = `pace: "reply"`, `false` = `pace: "idle"` (`pace` wins when both are given). */
  readonly replyDue?: boolean;
}

/** One rendezvous session. Holds the current sequence token: the token of the last GET or own write. */
export class RendezvousSession implements RequestScope {
  readonly client: RendezvousClient;
  readonly id: string;
  private readonly pacer: PollPacer;
  private token: string | undefined;
  private lastData: string | undefined;
  private expiresAt = Number.POSITIVE_INFINITY;
  private closed = false;
  /** The server answered 404 for the session: a DELETE would only be answered 404 too. */
  private goneOnServer = false;
  /**
   * The payload found when a write of ours was overtaken (see put): the other device's answer to it,
   * or a third party's write. It is the next poll's, so nothing the peer wrote is ever skipped.
   */
  private overtaking: string | undefined;

  /** @internal use RendezvousClient.create / open */
  constructor(client: RendezvousClient, id: string) {
    this.client = client;
    this.id = id;
    this.pacer = new PollPacer(client.policy, client.clock);
  }

  get baseUrl(): string {
    return this.client.baseUrl;
  }

  /** The current sequence token (the AAD of the next seal, and of the open after our next write). */
  get sequenceToken(): string {
    if (this.token === undefined) throw new RendezvousError("rendezvous_bad_request", "session has no sequence token yet");
    return this.token;
  }

  /**
   * The token to open the next payload with (the sequence-token rule: the one our own last write got
   * back, which is the current token until the peer writes). undefined when our last write was
   * overtaken: its answer was lost and the other device answered it before we could learn the token
   * it got, so the payload the next poll returns was sealed with a token we never saw.
   */
  get openToken(): string | undefined {
    return this.overtaking === undefined ? this.token : undefined;
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
    this.pacer.noteOwnWrite(at);
  }

  /** @internal Record that a GET is going out now. */
  noteGet(): void {
    this.pacer.noteGet();
  }

  /** @internal Wait until the per-session polling floor allows the next GET. */
  async pace(signal?: AbortSignal): Promise<void> {
    const due = this.pacer.untilNextGet();
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
      if (left > 0) await sleepOn(this.client.clock, left, signal);
      throw new RendezvousError("rendezvous_expired", "the rendezvous session has expired");
    }
    if (ms > 0) await sleepOn(this.client.clock, ms, signal);
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
    const path = hold ? heldGetPath(this.url(), hold, this.sequenceToken) : this.url();
    const { result } = await this.client.request("GET", path, {
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
    if (changed) this.pacer.noteTheirWrite();
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
    if (this.overtaking !== undefined) {
      const data = this.overtaking;
      this.overtaking = undefined;
      return data;
    }
    const pace = this.pacer.paceFor(options);
    // A plain GET right after our own write cannot see an answer yet; a held GET goes at once: the
    // server answers it the moment the reply lands.
    const first = this.pacer.untilFirstPoll();
    if (!this.client.longPoll && first > 0) await this.sleepWithinLife(first, signal);
    for (;;) {
      const hold = this.client.longPoll;
      const startedAt = this.client.clock.now();
      const r = await this.read(signal, hold ? { hold } : {});
      if (r.changed) return r.data;
      // Unchanged. A plain GET waits an interval. A held GET that the server held for at least an
      // interval (its bound passed) is re-sent at once; one answered sooner (a server at its cap of
      // held requests, or one that ignores the parameter) waits out the interval like a plain poll,
      // so a server that stops holding never turns the client into a hot loop.
      const interval = this.pacer.interval(pace);
      await this.sleepWithinLife(hold ? startedAt + interval - this.client.clock.now() : interval, signal);
    }
  }

  /**
   * `PUT /rendezvous/{id}` with the current token. Returns the new token. A lost response is
   * re-sent identically (idempotent on the server). A 409 is settled with a GET: if the payload
   * there is ours, our write landed. Otherwise, when no earlier attempt can have landed, someone else
   * wrote first: a concurrent write. But when an earlier attempt went unanswered, that attempt may
   * have landed and the other device may already have answered it (it answers within milliseconds
   * of reading), which a third party's write cannot be told from here: the write counts as
   * overtaken — done, with the payload found kept for the next poll and `openToken` undefined — and
   * the secure session decides (docs/protocol.md "Lost answers"). A 404 after an unanswered attempt
   * counts the write as done too: the session ended after it (the next request says how).
   */
  async put(data: string, signal?: AbortSignal): Promise<string> {
    const token = this.sequenceToken;
    const startedAt = this.client.clock.now();
    const { result } = await this.client.request("PUT", this.url(), { session: this, signal, body: { sequence_token: token, data } });
    if (result.status === 200) {
      const next = result.body?.["sequence_token"];
      if (typeof next !== "string" || next.length === 0) {
        throw new RendezvousError("rendezvous_bad_response", "put: response lacks sequence_token");
      }
      this.adopt(next, data);
      this.markOwnWrite(startedAt);
      return next;
    }
    if (result.status === 404) {
      if (result.uncertain) return this.endedAfterWrite(token, startedAt);
      throw this.goneError(result);
    }
    if (result.status === 409 || CONCURRENT_WRITE_ERRCODES.has(errcodeOf(result) ?? "")) {
      // Settle at once: if our earlier attempt landed, the peer may answer within its next poll.
      let now: GetResult;
      try {
        now = await this.read(signal, { unpaced: true });
      } catch (err) {
        if (result.uncertain && err instanceof RendezvousError && (err.code === "rendezvous_not_found" || err.code === "rendezvous_expired")) return this.endedAfterWrite(token, startedAt);
        throw err;
      }
      if (now.data === data) {
        this.markOwnWrite(startedAt);
        return now.sequenceToken;
      }
      if (result.uncertain) {
        this.overtaking = now.data;
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

  /**
   * The session is gone after a write that may have landed (a 404 to its retry, or to the read that
   * settles its 409): most likely the other device read it and deleted the session, as a new device
   * does once it has read m.login.secrets. The write counts as done; the next request reports the end,
   * as it would have without the lost answer.
   */
  private endedAfterWrite(token: string, startedAt: number): string {
    this.goneOnServer = true;
    this.markOwnWrite(startedAt);
    return token;
  }

  /** `DELETE /rendezvous/{id}`. A session already gone (404) counts as deleted. */
  async delete(signal?: AbortSignal): Promise<void> {
    if (this.closed) return;
    // The server already said the session is gone (the peer deleted it, or it expired): nothing to delete.
    if (this.goneOnServer) { this.closed = true; return; }
    const { result } = await this.client.request("DELETE", this.url(), { session: this, signal });
    this.closed = true;
    if (result.status === 200 || result.status === 204 || result.status === 404) return;
    throw httpError(result, "delete");
  }

  /** Close locally without a request (e.g. after expiry). Later calls fail with rendezvous_closed. */
  markClosed(): void {
    this.closed = true;
  }
}
