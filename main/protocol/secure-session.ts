// The MSC4388 secure channel carried over a rendezvous session, for both roles.
//
// This is where the channel (channel.ts: pure crypto state) meets the transport (rendezvous.ts: HTTP).
// The one rule that ties them together (docs/protocol.md "The sequence-token rule"): the AAD token of
// a message is the `sequence_token` sent in the PUT that writes it. So a side seals with the session's current token
// (the token it is about to PUT with) and opens with the token it held before polling (the token it
// got back from its own previous write, or from the POST).
//
//   G: startGenerator() → POST, keys, QR  →  waitForScanner(): poll, open LoginInitiate, PUT LoginOk
//      → confirm(code typed by the user) → SecureConversation
//   S: connectScanner(qr) → GET, PUT LoginInitiate, poll, open LoginOk → { checkCode, conversation }
//
// Any failure to open kills the conversation and deletes the session (MSC4388: abort), so the other
// side stops at its next request instead of waiting for the expiry.
//
// Lost answers (docs/protocol.md "Lost answers"): a write whose answer was lost is retried by the
// rendezvous client; when the other device answered it before the retry, its answer was sealed with a
// token we never received (RendezvousSession.openToken is undefined). Between two qr-login devices the
// answer carries that token (token-echo.ts) and opens; with any other peer it cannot be opened, and the
// attempt ends as a network failure (`rendezvous_reply_unreadable`), never as an attack.

import { GeneratorChannel, ScannerChannel, type EstablishedChannel, type UnconfirmedChannel } from "./channel.js";
import { ProtocolError } from "./errors.js";
import { getProfile, type WireProfile } from "./profile.js";
import { decodeQr, encodeQr, qrBaseUrlString, type QrIntent } from "./qr.js";
import type { MonotonicClock } from "./clock.js";
import { RendezvousClient } from "./rendezvous.js";
import { RendezvousError } from "./rendezvous-errors.js";
import type { FetchLike } from "./rendezvous-http.js";
import type { PollPolicy } from "./rendezvous-pacing.js";
import { prefixesFor } from "./rendezvous-prefix.js";
import type { RendezvousSession } from "./rendezvous-session.js";
import { splitEcho, TOKEN_ECHO_OFFER, withEcho } from "./token-echo.js";

export type JsonObject = Record<string, unknown>;

/** Transport knobs shared by both roles (all optional; tests inject fetch and clock). */
export interface TransportOptions {
  /** Wire profile name or object (default `element-2026`). */
  readonly profile?: WireProfile | string;
  readonly signal?: AbortSignal;
  readonly fetch?: FetchLike;
  readonly clock?: MonotonicClock;
  readonly poll?: Partial<PollPolicy>;
  readonly requestTimeoutMs?: number;
}

export interface GeneratorOptions extends TransportOptions {
  /** Base URL of the server hosting the rendezvous API (goes into the QR). */
  readonly rendezvousUrl: string;
  /** `login`: this is the new device; `reciprocate`: this is the existing device. */
  readonly intent: QrIntent;
  /** Sent on discovery/create if the server requires authentication. */
  readonly accessToken?: string;
  /** Fixed key pair (tests only). */
  readonly keyPair?: { secretKey: Uint8Array; publicKey: Uint8Array };
}

export interface ScannerOptions extends TransportOptions {
  /** Refuse a QR whose intent is not this one (a new device must not scan a new device's QR). */
  readonly expectedIntent?: QrIntent;
}

function resolveProfile(profile: WireProfile | string | undefined): WireProfile {
  return typeof profile === "object" ? profile : getProfile(profile ?? "element-2026");
}

function clientFor(baseUrl: string, profile: WireProfile, opts: TransportOptions & { accessToken?: string }): RendezvousClient {
  return new RendezvousClient({
    baseUrl,
    prefixes: prefixesFor(profile),
    fetch: opts.fetch,
    clock: opts.clock,
    accessToken: opts.accessToken,
    poll: opts.poll,
    requestTimeoutMs: opts.requestTimeoutMs,
  });
}

function linkSignals(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a && b) return AbortSignal.any([a, b]);
  return a ?? b;
}

async function bestEffortDelete(session: RendezvousSession): Promise<void> {
  try {
    await session.delete(AbortSignal.timeout(5_000));
  } catch {
    // The session expires on its own; a failed cancel must not hide the error that caused it.
  }
}

function replyUnreadable(): RendezvousError {
  return new RendezvousError(
    "rendezvous_reply_unreadable",
    "an answer from the rendezvous server was lost, and the other device answered our message before we could learn the sequence token its reply is sealed with",
  );
}

/** The payload to PUT: the sealed message, with its AAD token echoed when the peer takes echoes. */
function outgoing(sealed: string, sealToken: string, echo: boolean): string {
  return echo ? withEcho(sealed, sealToken) : sealed;
}

/**
 * After a write of ours was overtaken (its answer lost, the peer's answer already there) without the
 * echo, the answer can never be opened: give up now rather than after the user typed a code. The
 * session is deleted, so the other device stops at its next request.
 */
async function checkWriteSettled(session: RendezvousSession, echo: boolean): Promise<void> {
  if (session.openToken !== undefined || echo) return;
  await bestEffortDelete(session);
  throw replyUnreadable();
}

/** A received payload: the sealed message and the token to open it with (ours when known, else the echo). */
function incoming(data: string, openToken: string | undefined, echo: boolean): { sealed: string; token: string | undefined } {
  if (!echo) return { sealed: data, token: openToken };
  const { sealed, echoed } = splitEcho(data);
  return { sealed, token: openToken ?? echoed };
}

/** G before anyone scanned: the QR to show, and the wait for the scanner's LoginInitiate. */
export class PendingGenerator {
  readonly qr: Uint8Array;
  readonly session: RendezvousSession;
  readonly profile: WireProfile;
  readonly intent: QrIntent;
  private channel: GeneratorChannel | undefined;
  private readonly signal: AbortSignal | undefined;

  /** @internal use startGenerator */
  constructor(args: { qr: Uint8Array; session: RendezvousSession; profile: WireProfile; intent: QrIntent; channel: GeneratorChannel; signal?: AbortSignal }) {
    this.qr = args.qr;
    this.session = args.session;
    this.profile = args.profile;
    this.intent = args.intent;
    this.channel = args.channel;
    this.signal = args.signal;
  }

  get rendezvousId(): string {
    return this.session.id;
  }

  /**
   * Poll until a scanner writes LoginInitiate, open it, answer with LoginOk. A payload that does not
   * open (wrong key, AAD, junk from a third party) ends the attempt: the session is deleted.
   */
  async waitForScanner(opts: { signal?: AbortSignal } = {}): Promise<UnconfirmedGenerator> {
    const channel = this.channel;
    if (!channel) throw new ProtocolError("channel_dead", "waitForScanner() was already called");
    this.channel = undefined;
    const signal = linkSignals(this.signal, opts.signal);
    const session = this.session;
    // Open with the token of our own last write: the POST (the sequence-token rule, docs/protocol.md).
    const openToken = session.sequenceToken;
    // A scanner may write LoginInitiate at any moment and then waits for our LoginOk: poll at the
    // floor while the QR is shown (the session's expiry bounds how long), not at the idle pace.
    const data = await session.poll({ signal, pace: "eager" });
    // We offered the token echo; a qr-login scanner takes it by echoing on LoginInitiate.
    const { sealed: loginInitiate, echoed } = splitEcho(data);
    const echo = echoed !== undefined;
    const sealToken = session.sequenceToken;
    let unconfirmed: UnconfirmedChannel;
    let loginOk: string;
    try {
      const opened = channel.openLoginInitiate(loginInitiate, openToken);
      const sealed = opened.sealLoginOk(sealToken);
      unconfirmed = sealed.channel;
      loginOk = sealed.message;
    } catch (err) {
      await bestEffortDelete(session);
      throw err;
    }
    await session.put(outgoing(loginOk, sealToken, echo), signal);
    await checkWriteSettled(session, echo);
    return new UnconfirmedGenerator(session, unconfirmed, this.signal, echo);
  }

  /** Milliseconds until the rendezvous session expires (monotonic; for a countdown in the UI). */
  get expiresInMs(): number {
    return this.session.remainingMs;
  }

  /** Give up: DELETE the session. Never throws. */
  async cancel(): Promise<void> {
    this.channel = undefined;
    await bestEffortDelete(this.session);
  }

  /** Same as cancel(). */
  close(): Promise<void> {
    return this.cancel();
  }
}

/** G after LoginOk: the channel works but is not trusted until the user typed S's check code. */
export class UnconfirmedGenerator {
  private channel: UnconfirmedChannel | undefined;

  /** @internal */
  constructor(
    readonly session: RendezvousSession,
    channel: UnconfirmedChannel,
    private readonly signal: AbortSignal | undefined,
    private readonly echo = false,
  ) {
    this.channel = channel;
  }

  /**
   * Compare the code the user typed with ours. A mismatch (possible Specter) kills the channel and
   * deletes the session; a malformed code (`invalid_check_code`) leaves it usable for another try.
   */
  async confirm(code: string | number): Promise<SecureConversation> {
    const channel = this.channel;
    if (!channel) throw new ProtocolError("channel_dead", "this handshake was already confirmed or cancelled");
    let established: EstablishedChannel;
    try {
      established = channel.confirm(code);
    } catch (err) {
      if (err instanceof ProtocolError && err.code === "invalid_check_code") throw err;
      this.channel = undefined;
      await bestEffortDelete(this.session);
      throw err;
    }
    this.channel = undefined;
    // We wrote LoginOk last: the scanner speaks next.
    return new SecureConversation("generator", this.session, established, { lastWasSend: true, signal: this.signal, echo: this.echo });
  }

  /** Give up: DELETE the session. Never throws. */
  async cancel(): Promise<void> {
    this.channel = undefined;
    await bestEffortDelete(this.session);
  }

  /** Same as cancel(). */
  close(): Promise<void> {
    return this.cancel();
  }
}

/** G: create the rendezvous session, make the key pair and the QR payload. */
export async function startGenerator(options: GeneratorOptions): Promise<PendingGenerator> {
  const profile = resolveProfile(options.profile);
  // The base URL exactly as the QR will carry it (checked before anything is created); the scanner
  // binds this same string into the AAD.
  const baseUrl = qrBaseUrlString(options.rendezvousUrl);
  const client = clientFor(options.rendezvousUrl, profile, options);
  // MSC4388's sequence diagram starts the session with an empty payload; ours offers the token echo
  // instead (any initial payload is allowed, and other scanners ignore it).
  const session = await client.create(TOKEN_ECHO_OFFER, options.signal);
  try {
    const channel = GeneratorChannel.create({
      profile,
      session: { baseUrl, rendezvousId: session.id },
      ...(options.keyPair ? { keyPair: options.keyPair } : {}),
    });
    const qr = encodeQr({ intent: options.intent, publicKey: channel.publicKey, rendezvousId: session.id, baseUrl }, profile);
    return new PendingGenerator({ qr, session, profile, intent: options.intent, channel, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (err) {
    await bestEffortDelete(session);
    throw err;
  }
}

export interface ScannerResult {
  /** The two digits to show the user, who types them on G. */
  readonly checkCode: string;
  readonly conversation: SecureConversation;
  readonly intent: QrIntent;
  readonly baseUrl: string;
  readonly rendezvousId: string;
}

/** S: join the session of a scanned QR, send LoginInitiate, read and verify LoginOk. */
export async function connectScanner(qrData: Uint8Array, options: ScannerOptions = {}): Promise<ScannerResult> {
  const profile = resolveProfile(options.profile);
  const qr = decodeQr(qrData);
  if (options.expectedIntent !== undefined && qr.intent !== options.expectedIntent) {
    throw new ProtocolError("unexpected_intent", `the QR has intent "${qr.intent}", expected "${options.expectedIntent}"`);
  }
  const client = clientFor(qr.baseUrl, profile, options);
  const { signal } = options;
  const session = await client.open(qr.rendezvousId, signal);
  // A qr-login generator offers the token echo in the initial payload.
  const echo = session.data === TOKEN_ECHO_OFFER;
  const channel = ScannerChannel.create({ profile, session: { baseUrl: qr.baseUrl, rendezvousId: qr.rendezvousId }, peerPublicKey: qr.publicKey });
  // Seal with the token we are about to PUT with (the one our GET returned).
  const sealToken = session.sequenceToken;
  const { message, pending } = channel.sealLoginInitiate(sealToken);
  await session.put(outgoing(message, sealToken, echo), signal);
  await checkWriteSettled(session, echo);
  // Open LoginOk with the token our PUT got back.
  const openToken = session.openToken;
  const data = await session.poll({ signal, replyDue: true });
  const loginOk = incoming(data, openToken, echo);
  let established: EstablishedChannel;
  try {
    if (loginOk.token === undefined) throw replyUnreadable();
    established = pending.openLoginOk(loginOk.sealed, loginOk.token);
  } catch (err) {
    await bestEffortDelete(session);
    throw err;
  }
  const conversation = new SecureConversation("scanner", session, established, { lastWasSend: false, echo, ...(signal ? { signal } : {}) });
  return { checkCode: established.checkCode, conversation, intent: qr.intent, baseUrl: qr.baseUrl, rendezvousId: qr.rendezvousId };
}

/**
 * An established, trusted channel over the rendezvous session: JSON messages, ping-pong.
 * The rendezvous payload is one overwritable slot, so a side may not send twice without an answer in
 * between (the second write would destroy an unread message): that is refused with `out_of_turn`.
 */
export class SecureConversation {
  private dead: ProtocolError | undefined;
  private busy = false;
  private lastWasSend: boolean;
  private readonly signal: AbortSignal | undefined;
  /** Both devices echo tokens (token-echo.ts). */
  private readonly echo: boolean;

  /** @internal */
  constructor(
    readonly role: "generator" | "scanner",
    readonly session: RendezvousSession,
    private readonly channel: EstablishedChannel,
    opts: { lastWasSend: boolean; signal?: AbortSignal | undefined; echo?: boolean },
  ) {
    this.lastWasSend = opts.lastWasSend;
    this.signal = opts.signal;
    this.echo = opts.echo ?? false;
  }

  /** True when it is our turn to send (the peer answered our last message, or we have not sent yet). */
  get ourTurn(): boolean {
    return !this.lastWasSend;
  }

  get isDead(): boolean {
    return this.dead !== undefined;
  }

  private enter(what: string): void {
    if (this.dead) throw new ProtocolError("channel_dead", `${what}: the conversation has ended (${this.dead.code})`, { cause: this.dead });
    if (this.busy) throw new ProtocolError("out_of_turn", `${what}: another send or receive is in progress`);
    this.busy = true;
  }

  private kill(err: unknown): never {
    const e = err instanceof ProtocolError ? err : new ProtocolError("invalid_message", String(err), { cause: err });
    this.dead = e;
    throw e;
  }

  /** Seal a JSON message with the current token and PUT it. */
  async send(message: object, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.enter("send");
    try {
      if (this.lastWasSend) throw new ProtocolError("out_of_turn", "send: the peer has not answered our last message yet");
      const plaintext = JSON.stringify(message);
      const sealToken = this.session.sequenceToken;
      const sealed = this.channel.seal(plaintext, sealToken);
      try {
        await this.session.put(outgoing(sealed, sealToken, this.echo), linkSignals(this.signal, opts.signal));
        await checkWriteSettled(this.session, this.echo);
      } catch (err) {
        // The sealing context has advanced; whether the payload landed is unknown (or it was
        // overwritten): this direction can no longer be kept in step.
        this.kill(err);
      }
      this.lastWasSend = true;
    } finally {
      this.busy = false;
    }
  }

  /** Poll for the peer's next message, open it with the token of our own last write, parse JSON. */
  async receive(opts: { signal?: AbortSignal } = {}): Promise<JsonObject> {
    this.enter("receive");
    try {
      const openToken = this.session.openToken;
      let data: string;
      try {
        data = await this.session.poll({ signal: linkSignals(this.signal, opts.signal), replyDue: this.lastWasSend });
      } catch (err) {
        // Cancelling a wait loses nothing: nothing was read. Anything else ends the conversation.
        if (err instanceof RendezvousError && err.code === "cancelled") throw err;
        this.kill(err);
      }
      const received = incoming(data, openToken, this.echo);
      let parsed: unknown;
      try {
        if (received.token === undefined) throw replyUnreadable();
        const plaintext = this.channel.open(received.sealed, received.token);
        parsed = JSON.parse(plaintext);
      } catch (err) {
        await bestEffortDelete(this.session);
        this.kill(err instanceof SyntaxError ? new ProtocolError("invalid_message", "message is not JSON", { cause: err }) : err);
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        await bestEffortDelete(this.session);
        this.kill(new ProtocolError("invalid_message", "message is not a JSON object"));
      }
      this.lastWasSend = false;
      return parsed as JsonObject;
    } finally {
      this.busy = false;
    }
  }

  /** End the conversation and DELETE the rendezvous session (best effort). */
  async close(): Promise<void> {
    this.dead ??= new ProtocolError("channel_dead", "closed");
    await bestEffortDelete(this.session);
  }
}
