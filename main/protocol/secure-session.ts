// The MSC4388 secure channel carried over a rendezvous session: the 2025 version's part of the
// conversation (conversation.ts keeps what both versions share: the typestate, the turns, ending on a
// failure).
//
// This is where the channel (channel.ts: pure crypto state) meets the transport (rendezvous.ts: HTTP).
// The one rule that ties them together (docs/protocol.md "The sequence-token rule"): the AAD token of
// a message is the `sequence_token` sent in the PUT that writes it. So a side seals with the session's
// current token (the token it is about to PUT with) and opens with the token it held before polling
// (the token it got back from its own previous write, or from the POST).
//
//   G: startGenerator() → POST, keys, QR  →  waitForScanner(): poll, open LoginInitiate, PUT LoginOk
//      → confirm(code typed by the user) → SecureConversation
//   S: connectScanner(qr) → GET, PUT LoginInitiate, poll, open LoginOk → { checkCode, conversation }
//
// A handshake message that does not open deletes the session, as conversation.ts does for later ones.
//
// Lost answers (docs/protocol.md "Lost answers"): a write whose answer was lost is retried by the
// rendezvous client; when the other device answered it before the retry, its answer was sealed with a
// token we never received (RendezvousSession.openToken is undefined). Between two qr-login devices the
// answer carries that token (token-echo.ts) and opens; with any other peer it cannot be opened, and the
// attempt ends as a network failure (`rendezvous_reply_unreadable`), never as an attack.

import { GeneratorChannel, ScannerChannel, type EstablishedChannel, type UnconfirmedChannel } from "./channel.js";
import type { MonotonicClock } from "./clock.js";
import { PendingGenerator, SecureConversation, type Carrier, type CheckCodeLock, type GeneratorHandshake } from "./conversation.js";
import { ProtocolError } from "./errors.js";
import { getProfile, type WireProfile } from "./profile.js";
import { decodeQr, encodeQr, qrBaseUrlString, type QrIntent } from "./qr.js";
import { RendezvousClient } from "./rendezvous.js";
import { RendezvousError } from "./rendezvous-errors.js";
import type { FetchLike } from "./rendezvous-http.js";
import type { PollPolicy } from "./rendezvous-pacing.js";
import { prefixesFor } from "./rendezvous-prefix.js";
import type { RendezvousSession } from "./rendezvous-session.js";
import { splitEcho, TOKEN_ECHO_OFFER, withEcho } from "./token-echo.js";

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

/** The established channel over the session, for conversation.ts: seal with the token we are about to PUT with, open with our own last write's. */
function carrier(session: RendezvousSession, channel: EstablishedChannel, echo: boolean): Carrier {
  return {
    seal(message) {
      const sealToken = session.sequenceToken;
      const sealed = channel.seal(JSON.stringify(message), sealToken);
      return {
        async write(signal) {
          await session.put(outgoing(sealed, sealToken, echo), signal);
          await checkWriteSettled(session, echo);
        },
      };
    },
    async read({ signal, replyDue }) {
      const openToken = session.openToken;
      const data = await session.poll({ signal, replyDue });
      return {
        open() {
          const received = incoming(data, openToken, echo);
          if (received.token === undefined) throw replyUnreadable();
          const plaintext = channel.open(received.sealed, received.token);
          try {
            return JSON.parse(plaintext);
          } catch (err) {
            throw new ProtocolError("invalid_message", "message is not JSON", { cause: err });
          }
        },
      };
    },
    close: () => bestEffortDelete(session),
  };
}

/** G's handshake: wait for LoginInitiate, open it, answer LoginOk; then the check code unlocks the channel. */
function generatorHandshake(session: RendezvousSession, channel: GeneratorChannel): GeneratorHandshake {
  return {
    get expiresInMs() {
      return session.remainingMs;
    },
    async answerScanner(signal) {
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
        const sealed = channel.openLoginInitiate(loginInitiate, openToken).sealLoginOk(sealToken);
        unconfirmed = sealed.channel;
        loginOk = sealed.message;
      } catch (err) {
        // Wrong key, wrong AAD, junk from a third party: the attempt ends.
        await bestEffortDelete(session);
        throw err;
      }
      await session.put(outgoing(loginOk, sealToken, echo), signal);
      await checkWriteSettled(session, echo);
      const lock: CheckCodeLock = { unlock: (code) => carrier(session, unconfirmed.confirm(code), echo) };
      return lock;
    },
    close: () => bestEffortDelete(session),
  };
}

/** G: create the rendezvous session, make the key pair and the QR payload. */
export async function startGenerator(options: GeneratorOptions): Promise<PendingGenerator<RendezvousSession>> {
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
    return new PendingGenerator(session, qr, generatorHandshake(session, channel), options.signal);
  } catch (err) {
    await bestEffortDelete(session);
    throw err;
  }
}

export interface ScannerResult {
  /** The two digits to show the user, who types them on G. */
  readonly checkCode: string;
  readonly conversation: SecureConversation<RendezvousSession>;
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
  const conversation = new SecureConversation("scanner", session, carrier(session, established, echo), { lastWasSend: false, signal });
  return { checkCode: established.checkCode, conversation, intent: qr.intent, baseUrl: qr.baseUrl, rendezvousId: qr.rendezvousId };
}
