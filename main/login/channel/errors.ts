// Protocol-layer failures → the ChannelError kinds the flows switch on, for both versions' channels:
// the 2025 core and the 2024 adapter (main/protocol-2024) throw ProtocolErrors with the same codes, so
// a code needs one line here and nothing in the flows. The kinds are the contract's CHANNEL_FAILURES
// (contract/failures.ts), which carry on unchanged to the outcome, the CLI and the screen.
import { ProtocolError, type ProtocolErrorCode } from "../../protocol/errors.js";
import type { ChannelFailure } from "../../../contract/failures.js";
import { ChannelError } from "../flows/ports.js";

/**
 * How each protocol-layer failure looks to the flows. Total: a new protocol code does not compile
 * until it is classified here. `cancelled` stays an abort (the flow reads its own signal).
 */
const CHANNEL_KIND: Readonly<Record<ProtocolErrorCode, ChannelFailure | "cancelled">> = {
  // QR codec: not a sign-in code of ours
  qr_too_short: "invalid_qr",
  qr_invalid_prefix: "invalid_qr",
  qr_invalid_type: "invalid_qr",
  qr_invalid_intent: "invalid_qr",
  qr_truncated: "invalid_qr",
  qr_not_utf8: "invalid_qr",
  qr_invalid_rendezvous_id: "invalid_qr",
  qr_invalid_url: "invalid_qr",
  qr_trailing: "invalid_qr",
  qr_invalid_key: "invalid_qr",
  qr_invalid_server_name: "invalid_qr",
  unexpected_intent: "invalid_qr",
  // A payload that does not open, or someone else wrote to the session: treat as an attack.
  decryption_failed: "insecure_channel",
  unexpected_handshake_message: "insecure_channel",
  invalid_message: "insecure_channel",
  invalid_public_key: "insecure_channel",
  invalid_base64: "insecure_channel",
  invalid_utf8: "insecure_channel",
  rendezvous_concurrent_write: "insecure_channel",
  check_code_mismatch: "check_code_mismatch",
  invalid_check_code: "check_code_mismatch",
  rendezvous_expired: "expired",
  rendezvous_not_found: "closed",
  rendezvous_closed: "closed",
  channel_dead: "closed",
  rendezvous_unavailable: "rendezvous_unavailable",
  rendezvous_forbidden: "rendezvous_unavailable",
  cancelled: "cancelled",
  // Everything else the transport or the input can do wrong.
  rendezvous_too_large: "network",
  rendezvous_rate_limited: "rate_limited",
  rendezvous_bad_response: "network",
  rendezvous_bad_request: "network",
  rendezvous_http_error: "network",
  rendezvous_network: "network",
  rendezvous_reply_unreadable: "network",
  out_of_turn: "network",
  field_too_long: "network",
  invalid_secret_key: "network",
  message_limit_reached: "network",
  export_not_allowed: "network",
  not_established: "network",
  sequence_token_too_long: "network",
  rendezvous_id_too_long: "network",
  base_url_too_long: "network",
  unknown_profile: "network",
};

export function channelErrorKind(code: ProtocolErrorCode): ChannelFailure | "cancelled" {
  return CHANNEL_KIND[code];
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
