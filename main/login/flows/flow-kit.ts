// Machinery shared by the two MSC4108 flows: the event emitter, typed sending and receiving of login
// messages, the mapping of every error to a FlowOutcome, and the end-of-flow protocol (who tells the
// peer what, and who deletes the rendezvous session).
//
// Who deletes the rendezvous session: the side that READS the last message deletes at once. The side
// that SENDS a terminal m.login.failure / m.login.declined lingers for `lingerMs` (the peer polls about
// once a second) before deleting, because a DELETE straight after the PUT would make the peer's next
// GET a 404 and it would never learn the reason. After m.login.secrets the new device deletes once it
// has read them; the existing device waits for that (the session disappears), and deletes it itself
// when it has not happened after a while: matrix-js-sdk's and the Rust SDK's new devices never delete
// it, and a session full of secrets should not sit on the server until it expires.

import { setTimeout as sleep } from "node:timers/promises";
import {
  MessageError,
  failureMessage,
  fitsRendezvous,
  parseLoginMessage,
  serialiseLoginMessage,
  type FailureReason,
  type LoginMessage,
  type LoginMessageType,
} from "./messages.js";
import {
  ChannelError,
  OAuthError,
  type FlowEvent,
  type FlowListener,
  type FlowOutcome,
  type FlowStage,
  type SecureConversation,
} from "./ports.js";
import type { DeviceRole } from "../../../contract/flow.js";

export const DEFAULT_LINGER_MS = 2500;
/** After m.login.secrets, the time the existing device waits before it watches for the peer's DELETE. */
const SECRETS_QUIET_MS = 1_000;

/** Thrown inside a flow to end it with `outcome`, optionally telling the peer `send` first. */
export class FlowEnd extends Error {
  constructor(
    readonly outcome: FlowOutcome,
    readonly send?: LoginMessage,
    /** The peer ended the flow with a terminal message (so we delete the session at once). */
    readonly peerEnded = false,
  ) {
    super(`flow ended: ${outcome.outcome}`);
    this.name = "FlowEnd";
  }
}

/** End the flow with an m.login.failure sent by this device. */
export function localFailure(reason: FailureReason, detail?: string, homeserver?: string): FlowEnd {
  const outcome: FlowOutcome = { outcome: "failure", reason, side: "local" };
  if (detail !== undefined) outcome.detail = detail;
  return new FlowEnd(outcome, failureMessage(reason, homeserver));
}

interface Closeable {
  close(): Promise<void>;
}

export interface FlowContextOptions {
  role: DeviceRole;
  onEvent?: FlowListener;
  signal?: AbortSignal;
  lingerMs?: number;
  /** Whether an expired rendezvous can be retried at once with a fresh QR (new device generating). */
  expiryRetry?: boolean;
}

export class FlowContext {
  readonly role: DeviceRole;
  /** Aborted by the caller's signal; every wait in the flow uses it. */
  readonly signal: AbortSignal;
  private readonly listener: FlowListener | undefined;
  private readonly lingerMs: number;
  private conversation: SecureConversation | undefined;
  private handle: Closeable | undefined;
  expiryRetry: boolean;

  constructor(opts: FlowContextOptions) {
    this.role = opts.role;
    this.listener = opts.onEvent;
    this.signal = opts.signal ?? new AbortController().signal;
    this.lingerMs = opts.lingerMs ?? DEFAULT_LINGER_MS;
    this.expiryRetry = opts.expiryRetry ?? false;
  }

  emit(event: FlowEvent): void {
    if (!this.listener) return;
    try {
      this.listener(event);
    } catch {
      // A broken subscriber must not break the sign-in.
    }
  }

  state(state: FlowStage): void {
    this.emit({ type: "state", state });
  }

  /** The rendezvous handle to DELETE if the flow ends now (before the conversation exists). */
  track(handle: Closeable | undefined): void {
    this.handle = handle;
  }

  /** The channel is up (trusted): failures can now be reported to the peer. */
  setConversation(conversation: SecureConversation): void {
    this.conversation = conversation;
    this.handle = conversation;
  }

  checkAborted(): void {
    if (this.signal.aborted) throw new FlowEnd({ outcome: "cancelled" }, failureMessage("user_cancelled"));
  }

  async send(message: LoginMessage): Promise<void> {
    this.checkAborted();
    if (!this.conversation) throw new Error("no conversation");
    if (!fitsRendezvous(message)) throw new FlowEnd({ outcome: "error", code: "message_too_large", detail: `${message.type} does not fit the rendezvous limit` });
    await this.conversation.send(serialiseLoginMessage(message));
    this.emit({ type: "message_sent", messageType: message.type });
  }

  /**
   * Receive the next message and require one of `types`. An m.login.failure that is not expected
   * ends the flow as the peer's failure; anything else unexpected (or malformed) is answered with
   * `unexpected_message_received`.
   */
  async receive<T extends LoginMessageType>(...types: T[]): Promise<Extract<LoginMessage, { type: T }>> {
    return this.receiveWith(this.signal, types);
  }

  /**
   * Like receive() with no expected type (so any message ends the flow), stopped by `signal` without
   * ending the flow: used to notice a peer's m.login.failure while doing something else.
   */
  async receiveInterruptible(signal: AbortSignal): Promise<never> {
    return this.receiveWith(signal, []) as Promise<never>;
  }

  private async receiveWith<T extends LoginMessageType>(signal: AbortSignal, types: T[]): Promise<Extract<LoginMessage, { type: T }>> {
    this.checkAborted();
    if (!this.conversation) throw new Error("no conversation");
    const raw = await this.conversation.receive({ signal });
    let message: LoginMessage;
    try {
      message = parseLoginMessage(raw);
    } catch (e) {
      if (e instanceof MessageError) throw localFailure("unexpected_message_received", e.message);
      throw e;
    }
    this.emit({ type: "message_received", messageType: message.type });
    if ((types as string[]).includes(message.type)) return message as Extract<LoginMessage, { type: T }>;
    if (message.type === "m.login.failure") {
      const outcome: FlowOutcome = { outcome: "failure", reason: message.reason, side: "peer" };
      if (message.homeserver !== undefined) outcome.homeserver = message.homeserver;
      throw new FlowEnd(outcome, undefined, true);
    }
    throw localFailure("unexpected_message_received", `expected ${types.join(" or ")}, got ${message.type}`);
  }

  /** Map any error to the outcome, tell the peer when the channel is up, and release the session. */
  async finish(error: unknown): Promise<FlowOutcome> {
    const end = this.toFlowEnd(error);
    let told = false;
    if (this.conversation && end.send) {
      try {
        await this.conversation.send(serialiseLoginMessage(end.send));
        this.emit({ type: "message_sent", messageType: end.send.type });
        told = true;
      } catch {
        // The session may already be gone (expired, deleted); nothing more to tell.
      }
    }
    // The outcome is the last event; the linger below is invisible to the UI.
    this.emit({ type: "outcome", role: this.role, result: end.outcome });
    if (told) await sleep(this.lingerMs);
    await this.release();
    return end.outcome;
  }

  /** DELETE the rendezvous session (best effort). */
  async release(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    this.conversation = undefined;
    if (!handle) return;
    try {
      await handle.close();
    } catch {
      // Already gone.
    }
  }

  /**
   * Success: emit the outcome, then release the session: at once (`"now"`, the new device, which read
   * the last message), or (`{ unlessPeerDeletesWithinMs }`, the existing device, which wrote it) after
   * the peer had that long to read it and delete the session itself. The wait is invisible to the UI.
   */
  async succeed(outcome: FlowOutcome, release: "now" | { unlessPeerDeletesWithinMs: number }): Promise<FlowOutcome> {
    this.state("done");
    this.emit({ type: "outcome", role: this.role, result: outcome });
    if (release !== "now" && this.conversation) {
      const within = release.unlessPeerDeletesWithinMs;
      // The peer needs a moment (its next poll, then the import) before it deletes: watching at once
      // would only poll a session that cannot have changed yet.
      const quiet = Math.min(SECRETS_QUIET_MS, within);
      await sleep(quiet);
      try {
        // Nothing more is expected: this receive ends when the peer deletes the session, or times out.
        await this.conversation.receive({ signal: AbortSignal.timeout(Math.max(1, within - quiet)) });
      } catch {
        // Gone (the peer deleted it), or the time is up.
      }
    }
    await this.release();
    return outcome;
  }

  private toFlowEnd(error: unknown): FlowEnd {
    if (error instanceof FlowEnd) return error;
    if (this.signal.aborted) return new FlowEnd({ outcome: "cancelled" }, failureMessage("user_cancelled"));
    if (error instanceof ChannelError) {
      switch (error.kind) {
        case "expired":
          return new FlowEnd({ outcome: "expired", retry: this.expiryRetry });
        case "closed":
          return new FlowEnd({ outcome: "closed" });
        case "insecure_channel":
          return new FlowEnd(isConcurrentWrite(error) ? { outcome: "insecure_channel", concurrentWrite: true } : { outcome: "insecure_channel" });
        case "check_code_mismatch":
          return new FlowEnd({ outcome: "check_code_mismatch" });
        case "invalid_qr":
          return new FlowEnd({ outcome: "qr_rejected", reason: "invalid_qr", detail: error.message });
        case "rendezvous_unavailable":
          return new FlowEnd({ outcome: "not_supported", reason: "rendezvous_unavailable", detail: error.message });
        case "rate_limited":
        case "network":
          return new FlowEnd({ outcome: "error", code: error.kind, detail: error.message });
      }
    }
    if (error instanceof OAuthError) {
      return new FlowEnd({ outcome: "error", code: error.kind, detail: error.message });
    }
    const detail = error instanceof Error ? error.message : String(error);
    return new FlowEnd({ outcome: "error", code: "internal", detail });
  }
}

/** A refused write (409/412) rather than a payload that did not open: the ProtocolError behind it says (channel/errors.ts keeps it as the cause). */
function isConcurrentWrite(error: ChannelError): boolean {
  return (error.cause as { code?: unknown } | undefined)?.code === "rendezvous_concurrent_write";
}

/** An error's message, for an outcome's detail. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Hex of the QR bytes for the renderer. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
