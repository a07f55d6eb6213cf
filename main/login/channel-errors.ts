// Protocol-layer failures → the ChannelError kinds the flows switch on, for both versions' channels:
// the 2025 core and the 2024 adapter (main/protocol-2024) throw ProtocolErrors with the same codes, so
// a code needs one line here and nothing in the flows.
import { ProtocolError, type ProtocolErrorCode } from "../protocol/errors.js";
import { ChannelError, type ChannelErrorKind } from "./ports.js";

/** How each protocol-layer failure looks to the flows. */
export function channelErrorKind(code: ProtocolErrorCode): ChannelErrorKind | "cancelled" {
  switch (code) {
    case "cancelled":
      return "cancelled";
    case "rendezvous_expired":
      return "expired";
    case "rendezvous_not_found":
    case "rendezvous_closed":
    case "channel_dead":
      return "closed";
    case "check_code_mismatch":
    case "invalid_check_code":
      return "check_code_mismatch";
    case "decryption_failed":
    case "unexpected_handshake_message":
    case "invalid_message":
    case "invalid_public_key":
    case "invalid_base64":
    case "invalid_utf8":
    case "rendezvous_concurrent_write":
      // Someone else wrote to the session, or the payload does not open: treat as an attack.
      return "insecure_channel";
    case "unexpected_intent":
      return "invalid_qr";
    case "rendezvous_unavailable":
    case "rendezvous_forbidden":
      return "rendezvous_unavailable";
    default:
      return code.startsWith("qr_") ? "invalid_qr" : "network";
  }
}

export function translate(err: unknown): unknown {
  if (err instanceof ProtocolError) {
    const kind = channelErrorKind(err.code);
    // A cancelled wait stays an abort: the flow reads its own signal to report "cancelled".
    if (kind === "cancelled") return err;
    return new ChannelError(kind, `${err.code}: ${err.message}`, { cause: err });
  }
  return err;
}

export async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw translate(err);
  }
}

/**
 * The flow's signal must stop connecting, but must NOT be handed to the 2025 core as the session-wide
 * signal: the core links that one into every later request, and after a cancel the flow still has to
 * send m.login.failure and DELETE the session.
 */
export function duringSetup<T>(signal: AbortSignal | undefined, work: (setupSignal: AbortSignal) => Promise<T>): Promise<T> {
  const setup = new AbortController();
  const onAbort = (): void => setup.abort(signal?.reason);
  if (signal?.aborted) setup.abort(signal.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  return translated(() => work(setup.signal)).finally(() => signal?.removeEventListener("abort", onAbort));
}
