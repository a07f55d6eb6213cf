// The conversation over a rendezvous session, as both versions of sign in with QR hold it: the 2025
// one (secure-session.ts: MSC4388 over our rendezvous client) and the 2024 one
// (main/protocol-2024/secure-session.ts: matrix-js-sdk's MSC4108 channel and session). Each version
// supplies only what differs — its handshake, its channel's seal and open, its transport's write and
// read, and how its session is deleted — and these objects keep what is the same:
//
//   G: PendingGenerator (the QR) → waitForScanner() → UnconfirmedGenerator → confirm(code) → SecureConversation
//   S: (the version's connect) → SecureConversation
//
// - Typestate: each handshake object is used once, and only a SecureConversation can send or receive,
//   so "send before the channel is established" or "G sends before the user confirmed the check code"
//   cannot be written (and is refused at run time: `channel_dead`).
// - Turns: the rendezvous payload is one overwritable slot, so a side may not send twice without an
//   answer in between (the second write would destroy an unread message): `out_of_turn`. After the
//   handshake the scanner speaks first. One send or receive at a time (`out_of_turn` too).
// - Failure: a failed write ends the conversation (whether it landed is unknown; the sealing context
//   has advanced); a failed read too, except a cancelled wait, which loses nothing. A payload that does
//   not open, or is not a JSON object, ends it and deletes the session (MSC4388: abort), so the other
//   side stops at its next request instead of waiting for the expiry. So does a wrong check code.
import { ProtocolError } from "./errors.js";

export type JsonObject = Record<string, unknown>;

/** A sealed message, ready to be written to the rendezvous session. */
export interface Outgoing {
  write(signal?: AbortSignal): Promise<void>;
}

/** A payload read from the rendezvous session, not opened yet. */
export interface Incoming {
  /** The message's decoded JSON value; throws a ProtocolError when it does not open. */
  open(): unknown;
}

/** What a version supplies once its channel is established: seal and open, and its transport. */
export interface Carrier {
  /** Seal one message with the channel (nothing is sent yet). */
  seal(message: object): Outgoing;
  /** Wait for the peer's next payload. `replyDue`: our last message is the one it answers (poll fast). */
  read(opts: { signal?: AbortSignal | undefined; replyDue: boolean }): Promise<Incoming>;
  /** DELETE the rendezvous session: best effort, never throws, once. */
  close(): Promise<void>;
}

/** What a version supplies for a generator whose QR is shown. */
export interface GeneratorHandshake {
  /** Milliseconds until the rendezvous session expires (monotonic); Infinity while unknown. */
  readonly expiresInMs: number;
  /** Wait for the scanner's LoginInitiate, open it and answer with LoginOk. */
  answerScanner(signal: AbortSignal | undefined): Promise<CheckCodeLock>;
  /** DELETE the rendezvous session: best effort, never throws. */
  close(): Promise<void>;
}

/** G's channel after LoginOk: it carries nothing until the code the user typed is the right one. */
export interface CheckCodeLock {
  /**
   * The established channel when `code` is ours. Throws `invalid_check_code` for input that is not a
   * code at all (nothing was compared: the user may try again), anything else when it does not match.
   */
  unlock(code: string | number): Carrier;
}

export function linkSignals(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a && b) return AbortSignal.any([a, b]);
  return a ?? b;
}

function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** G before anyone scanned: the QR to show, and the wait for the scanner. `S`: the version's session. */
export class PendingGenerator<S> {
  #used = false;

  /**
   * @internal made by the version's startGenerator. `signal` is kept for the session's lifetime: it
   * ends every later wait of this attempt too.
   */
  constructor(
    readonly session: S,
    readonly qr: Uint8Array,
    private readonly handshake: GeneratorHandshake,
    private readonly signal?: AbortSignal,
  ) {}

  /** Milliseconds until the rendezvous session expires (monotonic; for a countdown in the UI). */
  get expiresInMs(): number {
    return this.handshake.expiresInMs;
  }

  /** Wait for the scanner's LoginInitiate and answer it; a payload that does not open ends the attempt. */
  async waitForScanner(opts: { signal?: AbortSignal } = {}): Promise<UnconfirmedGenerator<S>> {
    if (this.#used) throw new ProtocolError("channel_dead", "waitForScanner() was already called");
    this.#used = true;
    const lock = await this.handshake.answerScanner(linkSignals(this.signal, opts.signal));
    return new UnconfirmedGenerator(this.session, lock, this.handshake, this.signal);
  }

  /** Give up: DELETE the session. Never throws. */
  close(): Promise<void> {
    this.#used = true;
    return this.handshake.close();
  }
}

/** G after LoginOk: the channel works but is not trusted until the user typed S's check code. */
export class UnconfirmedGenerator<S> {
  #lock: CheckCodeLock | undefined;

  /** @internal */
  constructor(
    readonly session: S,
    lock: CheckCodeLock,
    private readonly handshake: GeneratorHandshake,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.#lock = lock;
  }

  /**
   * Compare the code the user typed with ours. A mismatch (possibly an attacker's scanner) ends the
   * attempt and deletes the session; input that is not a code (`invalid_check_code`) may be retried.
   */
  async confirm(code: string | number): Promise<SecureConversation<S>> {
    const lock = this.#lock;
    if (!lock) throw new ProtocolError("channel_dead", "this handshake was already confirmed or cancelled");
    let carrier: Carrier;
    try {
      carrier = lock.unlock(code);
    } catch (err) {
      if (err instanceof ProtocolError && err.code === "invalid_check_code") throw err;
      this.#lock = undefined;
      await this.handshake.close();
      throw err;
    }
    this.#lock = undefined;
    // We wrote LoginOk last: the scanner speaks next.
    return new SecureConversation("generator", this.session, carrier, { lastWasSend: true, signal: this.signal });
  }

  /** Give up: DELETE the session. Never throws. */
  close(): Promise<void> {
    this.#lock = undefined;
    return this.handshake.close();
  }
}

/** An established, trusted channel over the rendezvous session: JSON messages, in turns. */
export class SecureConversation<S> {
  #dead: ProtocolError | undefined;
  #busy = false;
  #lastWasSend: boolean;
  readonly #carrier: Carrier;
  readonly #signal: AbortSignal | undefined;

  /** @internal made by confirm() (G) or the version's connectScanner (S, `lastWasSend: false`). */
  constructor(
    readonly role: "generator" | "scanner",
    readonly session: S,
    carrier: Carrier,
    opts: { lastWasSend: boolean; signal?: AbortSignal | undefined },
  ) {
    this.#carrier = carrier;
    this.#lastWasSend = opts.lastWasSend;
    this.#signal = opts.signal;
  }

  /** True when it is our turn to send (the peer answered our last message, or we have not sent yet). */
  get ourTurn(): boolean {
    return !this.#lastWasSend;
  }

  get isDead(): boolean {
    return this.#dead !== undefined;
  }

  #enter(what: string): void {
    if (this.#dead) throw new ProtocolError("channel_dead", `${what}: the conversation has ended (${this.#dead.code})`, { cause: this.#dead });
    if (this.#busy) throw new ProtocolError("out_of_turn", `${what}: another send or receive is in progress`);
    this.#busy = true;
  }

  #kill(err: unknown): never {
    const e = err instanceof ProtocolError ? err : new ProtocolError("invalid_message", String(err), { cause: err });
    this.#dead = e;
    throw e;
  }

  /** Seal a JSON message and write it. */
  async send(message: object, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.#enter("send");
    try {
      if (this.#lastWasSend) throw new ProtocolError("out_of_turn", "send: the peer has not answered our last message yet");
      const outgoing = this.#carrier.seal(message);
      try {
        await outgoing.write(linkSignals(this.#signal, opts.signal));
      } catch (err) {
        // The sealing context has advanced; whether the payload landed is unknown (or it was
        // overwritten): this direction can no longer be kept in step.
        this.#kill(err);
      }
      this.#lastWasSend = true;
    } finally {
      this.#busy = false;
    }
  }

  /** Wait for the peer's next message and open it: a JSON object. */
  async receive(opts: { signal?: AbortSignal } = {}): Promise<JsonObject> {
    this.#enter("receive");
    try {
      let incoming: Incoming;
      try {
        incoming = await this.#carrier.read({ signal: linkSignals(this.#signal, opts.signal), replyDue: this.#lastWasSend });
      } catch (err) {
        // Cancelling a wait loses nothing: nothing was read. Anything else ends the conversation.
        if (err instanceof ProtocolError && err.code === "cancelled") throw err;
        this.#kill(err);
      }
      let value: unknown;
      try {
        value = incoming.open();
      } catch (err) {
        await this.#carrier.close();
        this.#kill(err);
      }
      if (!isJsonObject(value)) {
        await this.#carrier.close();
        this.#kill(new ProtocolError("invalid_message", "message is not a JSON object"));
      }
      this.#lastWasSend = false;
      return value;
    } finally {
      this.#busy = false;
    }
  }

  /** End the conversation and DELETE the rendezvous session (best effort). */
  async close(): Promise<void> {
    this.#dead ??= new ProtocolError("channel_dead", "closed");
    await this.#carrier.close();
  }
}
