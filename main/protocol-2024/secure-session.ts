// The MSC4108 2024 secure channel over its rendezvous session, for both roles: the 2024 version's part
// of the conversation. What both versions share — the typestate objects, the turns, ending on a
// failure — is main/protocol/conversation.ts, so the flows drive both alike:
//
//   G: startGenerator2024() → POST (send("")), QR  →  waitForScanner(): connect() (read LoginInitiate,
//      write LoginOk)  →  confirm(code typed by the user)  →  Conversation2024
//   S: connectScanner2024(qr) → connect() (write LoginInitiate, read LoginOk) → { checkCode, conversation }
//
// The work is matrix-js-sdk's own MSC4108RendezvousSession and MSC4108SecureChannel (vodozemac ECIES
// in crypto-wasm), exactly as Element Web uses them; we do not re-implement the channel. Around them:
// every request goes through Transport2024 (its fixes, cancellation and counting), and every failure
// matrix-js-sdk signals — a thrown RendezvousError, an `undefined` from a receive, an onFailure
// callback, a silent return from a cancelled send, a crypto error from the WASM — becomes one typed
// ProtocolError here (toProtocolError), with the codes of the 2025 core, so the layers above map both
// versions alike. The SDK seals as it sends and opens as it reads, so this version's seal and open are
// its secureSend and secureReceive; which failures delete the session is decided by their code.
//
// Check code: two digits, each a byte of the ECIES check code mod 10 (matrix-js-sdk getCheckCode), so
// a leading zero is possible ("07"), unlike MSC4388's 10..99.
import { Curve25519PublicKey, initAsync, QrCodeData, QrCodeIntent } from "@matrix-org/matrix-sdk-crypto-wasm";
import {
  ClientRendezvousFailureReason,
  MSC4108RendezvousSession,
  MSC4108SecureChannel,
  RendezvousError as SdkRendezvousError,
  type RendezvousFailureReason,
} from "matrix-js-sdk/lib/rendezvous/index.js";
import { logger as sdkLogger } from "matrix-js-sdk/lib/logger.js";
import { b64encode } from "../protocol/bytes.js";
import type { MonotonicClock } from "../protocol/clock.js";
import { PendingGenerator, SecureConversation, type Carrier, type GeneratorHandshake, type Incoming } from "../protocol/conversation.js";
import { ProtocolError } from "../protocol/errors.js";
import { RendezvousError } from "../protocol/rendezvous-errors.js";
import type { FetchLike } from "../protocol/rendezvous-http.js";
import { decodeQr2024, type Qr2024, type QrIntent } from "./qr.js";
import { Transport2024, type RequestCounts } from "./transport.js";

/** Path of the 2024 create endpoint on a homeserver (or a stand-alone rendezvous server). */
export const MSC4108_CREATE_PATH = "/_matrix/client/unstable/org.matrix.msc4108/rendezvous";
/** The `/versions` unstable feature that advertises it. */
export const MSC4108_UNSTABLE_FEATURE = "org.matrix.msc4108";

export interface Transport2024Knobs {
  readonly fetch?: FetchLike;
  readonly clock?: MonotonicClock;
  /** Send the long-poll `since` parameter on conditional GETs (default true). */
  readonly longPoll?: boolean;
  readonly signal?: AbortSignal;
}

let wasmReady: Promise<void> | undefined;

/** crypto-wasm must be initialised once before its classes (Ecies, QrCodeData) are used. */
function ensureWasm(): Promise<void> {
  wasmReady ??= (async () => {
    // matrix-js-sdk's module logger prints every rendezvous request (payload included) at debug level
    // to the console; the CLI's stdout carries only its JSON summary.
    if (!process.env.QR_LOGIN_MATRIX_DEBUG) (sdkLogger as unknown as { setLevel(level: string, persist?: boolean): void }).setLevel("warn", false);
    await initAsync();
  })();
  return wasmReady;
}

/** The create URL for a base URL: `<base>/_matrix/client/unstable/org.matrix.msc4108/rendezvous`. */
export function createUrlFor(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, "")}${MSC4108_CREATE_PATH}`;
}

/** What matrix-js-sdk reported through its onFailure callbacks (the session cancelled itself). */
class FailureLog {
  reason: RendezvousFailureReason | undefined;
  readonly record = (reason: RendezvousFailureReason): void => {
    this.reason ??= reason;
  };
}

/**
 * The one translation of matrix-js-sdk's failure signals into the core's typed errors. Everything it
 * can throw from connect/secureReceive that is not ours or its own RendezvousError comes from the
 * crypto (a payload that does not open, or is not JSON): treated as an attack, like a failed AEAD.
 */
export function toProtocolError(err: unknown, transport: Transport2024, failures: FailureLog): ProtocolError {
  if (err instanceof ProtocolError) return err;
  if (err instanceof SdkRendezvousError) {
    switch (err.code) {
      case ClientRendezvousFailureReason.InsecureChannelDetected:
        return new ProtocolError("unexpected_handshake_message", `the other device's handshake message is not the expected one (${err.message})`, { cause: err });
      case ClientRendezvousFailureReason.Expired:
        return new RendezvousError("rendezvous_expired", "the rendezvous session has expired", { cause: err });
      default:
        // "No response from other device": its receive returned nothing because the session cancelled itself.
        return sessionEndedError(transport, failures, err);
    }
  }
  if (err instanceof SyntaxError) return new ProtocolError("invalid_message", "the decrypted message is not JSON", { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new ProtocolError("decryption_failed", `the other device's message does not open: ${message}`, { cause: err });
}

function sessionEndedError(transport: Transport2024, failures: FailureLog, cause?: unknown): RendezvousError {
  if (failures.reason === ClientRendezvousFailureReason.Expired || transport.gonePastDeadline) {
    return new RendezvousError("rendezvous_expired", "the rendezvous session has expired", cause === undefined ? undefined : { cause });
  }
  if (transport.isClosed) return new RendezvousError("rendezvous_closed", "the rendezvous session was closed");
  return new RendezvousError("rendezvous_not_found", `the rendezvous session ended (${failures.reason ?? "unknown"})`, cause === undefined ? undefined : { cause });
}

const INSECURE = new Set(["decryption_failed", "unexpected_handshake_message", "invalid_message", "rendezvous_concurrent_write"]);
/** The session is over on the server: closing only releases matrix-js-sdk's expiry timer. */
const GONE = new Set(["rendezvous_not_found", "rendezvous_expired"]);

/**
 * One 2024 rendezvous session and the channel over it: the SDK objects, our transport, DELETE-once.
 * The `session` of this version's PendingGenerator and SecureConversation.
 */
export class Session2024 {
  private closing: Promise<void> | undefined;
  /** @internal */
  constructor(
    readonly sdkSession: MSC4108RendezvousSession,
    readonly channel: MSC4108SecureChannel,
    readonly transport: Transport2024,
    readonly failures: FailureLog,
  ) {}

  /** The session's URL (what the QR carries). */
  get url(): string {
    return this.sdkSession.url!;
  }

  /** Milliseconds until the session expires (monotonic, from the server's Expires − Date). */
  get expiresInMs(): number {
    return this.transport.remainingMs;
  }

  /** Requests sent so far, per method (the flow benchmark's figures). */
  get requestCounts(): RequestCounts {
    return this.transport.counts;
  }

  /** Run an SDK call as a cancellable operation; failures come out typed (and an attack deletes the session). */
  async run<T>(work: () => Promise<T>, opts: { signal?: AbortSignal | undefined; onLate?: (value: T) => void } = {}): Promise<T> {
    try {
      return await this.transport.run(work, opts);
    } catch (err) {
      const typed = toProtocolError(err, this.transport, this.failures);
      if (INSECURE.has(typed.code) || GONE.has(typed.code)) await this.close();
      throw typed;
    }
  }

  /** The session cancelled itself (its expiry timer, a 404 it saw) or was closed: the typed reason. */
  ended(): RendezvousError {
    return sessionEndedError(this.transport, this.failures);
  }

  /** DELETE the rendezvous session (once; never throws), then refuse every further request. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.sdkSession.close();
      } catch {
        // Expires on its own.
      }
      this.transport.markClosed();
    })();
    return this.closing;
  }
}

/**
 * The established channel, for conversation.ts. A message that arrives for a receive that had already
 * been given up (see Transport2024's onLate) is kept for the next one.
 */
function carrier(s: Session2024): Carrier {
  let late: { value: unknown } | undefined;
  return {
    seal: (message) => ({
      async write(signal) {
        // matrix-js-sdk's send returns without a word once its session cancelled itself.
        if (s.sdkSession.cancelled) throw s.ended();
        // Our messages are validated MSC4108 payloads; the SDK only JSON-serialises what it is given.
        await s.run(() => s.channel.secureSend(message as Parameters<MSC4108SecureChannel["secureSend"]>[0]), { signal });
        if (s.sdkSession.cancelled) throw s.ended();
      },
    }),
    async read({ signal }): Promise<Incoming> {
      let value: unknown;
      if (late) {
        value = late.value;
        late = undefined;
      } else {
        value = await s.run(() => s.channel.secureReceive(), { signal, onLate: (v) => (late = { value: v }) });
      }
      // An `undefined` from the SDK: its session cancelled itself.
      if (value === undefined) throw s.ended();
      // The SDK opened it as it read it (a payload that does not open fails the read, and the session is deleted).
      return { open: () => value };
    },
    close: () => s.close(),
  };
}

/** G's handshake: the SDK's connect() reads LoginInitiate and writes LoginOk; the check code unlocks. */
function generatorHandshake(s: Session2024): GeneratorHandshake {
  return {
    get expiresInMs() {
      return s.expiresInMs;
    },
    async answerScanner(signal) {
      await s.run(() => s.channel.connect(), { signal });
      return {
        unlock(code) {
          const ours = s.channel.getCheckCode();
          if (ours === undefined || String(code).trim() !== ours) {
            throw new ProtocolError("check_code_mismatch", "the code entered is not the one the other device shows");
          }
          return carrier(s);
        },
      };
    },
    close: () => s.close(),
  };
}

async function makeSession(args: { url?: string; createUrl?: string; knobs: Transport2024Knobs }): Promise<{ session: MSC4108RendezvousSession; transport: Transport2024; failures: FailureLog }> {
  await ensureWasm();
  const { fetch, clock, longPoll } = args.knobs;
  const transport = new Transport2024({ ...(fetch ? { fetch } : {}), ...(clock ? { clock } : {}), ...(longPoll !== undefined ? { longPoll } : {}) });
  const failures = new FailureLog();
  const session = args.url !== undefined
    ? new MSC4108RendezvousSession({ url: args.url, fetchFn: transport.fetchFn as typeof globalThis.fetch, onFailure: failures.record })
    : new MSC4108RendezvousSession({ fallbackRzServer: args.createUrl!, fetchFn: transport.fetchFn as typeof globalThis.fetch, onFailure: failures.record });
  return { session, transport, failures };
}

export interface Generator2024Options extends Transport2024Knobs {
  /** The full create URL (`createUrlFor(base)`), on the homeserver or a fallback rendezvous server. */
  readonly createUrl: string;
  readonly intent: QrIntent;
  /** Reciprocate only: our homeserver's server name, carried in the QR. */
  readonly serverName?: string;
}

/** G: create the session (`send("")`, as Element Web does) and the QR. */
export async function startGenerator2024(options: Generator2024Options): Promise<PendingGenerator<Session2024>> {
  if (options.intent === "reciprocate" && !options.serverName) throw new ProtocolError("qr_invalid_server_name", "a reciprocate QR needs the homeserver's server name");
  const { session, transport, failures } = await makeSession({ createUrl: options.createUrl, knobs: options });
  const channel = new MSC4108SecureChannel(session, undefined, failures.record);
  const s = new Session2024(session, channel, transport, failures);
  await s.run(() => session.send(""), { signal: options.signal });
  if (!session.url) throw new RendezvousError("rendezvous_bad_response", "create: the answer carries no session url");
  try {
    const qr = options.intent === "login"
      ? await channel.generateCode(QrCodeIntent.Login)
      : await channel.generateCode(QrCodeIntent.Reciprocate, options.serverName!);
    // The start signal is not kept: it covers the creation only.
    return new PendingGenerator(s, qr, generatorHandshake(s));
  } catch (err) {
    await s.close();
    throw err instanceof ProtocolError ? err : new ProtocolError("qr_invalid_url", `cannot encode the QR: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** An established 2024 channel: JSON messages, in turns (main/protocol/conversation.ts). */
export type Conversation2024 = SecureConversation<Session2024>;

export interface Scanner2024Result {
  readonly checkCode: string;
  readonly conversation: Conversation2024;
  readonly qr: Qr2024;
}

/** S: join the session of a scanned 2024 QR, write LoginInitiate, read and verify LoginOk. */
export async function connectScanner2024(qrBytes: Uint8Array, options: Transport2024Knobs & { expectedIntent?: QrIntent } = {}): Promise<Scanner2024Result> {
  const qr = decodeQr2024(qrBytes);
  if (options.expectedIntent !== undefined && qr.intent !== options.expectedIntent) {
    throw new ProtocolError("unexpected_intent", `the QR has intent "${qr.intent}", expected "${options.expectedIntent}"`);
  }
  const { session, transport, failures } = await makeSession({ url: qr.rendezvousUrl, knobs: options });
  // The key object as Element gets it: from crypto-wasm's own parse of the same bytes.
  let theirKey: Curve25519PublicKey;
  try {
    theirKey = QrCodeData.fromBytes(qrBytes).publicKey;
  } catch {
    theirKey = new Curve25519PublicKey(b64encode(qr.publicKey));
  }
  const channel = new MSC4108SecureChannel(session, theirKey, failures.record);
  const s = new Session2024(session, channel, transport, failures);
  try {
    await s.run(() => channel.connect(), { signal: options.signal });
  } catch (err) {
    // Joined or not, the session is over for us: deleting it tells the generator at once (its next
    // poll is a 404) instead of at the expiry.
    await s.close();
    throw err;
  }
  const checkCode = channel.getCheckCode();
  if (checkCode === undefined) throw new ProtocolError("not_established", "the channel has no check code");
  return { checkCode, conversation: new SecureConversation("scanner", s, carrier(s), { lastWasSend: false }), qr };
}
