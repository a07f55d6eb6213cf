// Typed failures of the protocol core. Every malformed input and every security failure surfaces as a
// ProtocolError with a stable `code` (callers switch on it; the CLI prints it), never as a bare Error,
// a TypeError or a partial result.
//
// To add codes (e.g. for the rendezvous client), extend the matching `as const` list below: the union
// type is derived from the lists, so one edit keeps the type and the run-time list in step.
import type { FailureReason } from "../../contract/failures.js";

/** QR payload codec (qr.ts). */
export const QR_ERROR_CODES = [
  "qr_too_short", // fewer bytes than the prefix + type + intent + key need
  "qr_invalid_prefix", // neither "MATRIX" nor "IO_ELEMENT_MSC4388"
  "qr_invalid_type", // type byte is not 0x03
  "qr_invalid_intent", // intent byte is not 0x00 or 0x01
  "qr_truncated", // a length field points past the end of the data
  "qr_not_utf8", // rendezvous id or base URL is not valid UTF-8
  "qr_invalid_rendezvous_id", // empty, too long, or outside the opaque identifier grammar
  "qr_invalid_url", // base URL does not parse, is not http(s), or carries credentials/query/fragment
  "qr_trailing", // bytes left over after the base URL
  "qr_invalid_key", // public key is not 32 bytes (encoder input)
  "qr_invalid_server_name", // MSC4108 2024 reciprocate QR: the homeserver's server name is missing or not a server name
] as const;

/** Encodings shared by every layer (bytes.ts, channel.ts). */
export const ENCODING_ERROR_CODES = [
  "invalid_base64", // not standard-alphabet base64, bad padding or non-canonical trailing bits
  "invalid_utf8", // bytes that must be UTF-8 are not (or a string has lone surrogates)
  "field_too_long", // a length-prefixed field does not fit its length prefix
] as const;

/** HPKE layer (hpke.ts). */
export const HPKE_ERROR_CODES = [
  "invalid_public_key", // not 32 bytes, or the X25519 shared secret is all zero (small-order point)
  "invalid_secret_key", // not 32 bytes
  "decryption_failed", // AEAD open failed: wrong key, AAD, sequence number, or tampered ciphertext
  "message_limit_reached", // the sequence counter would overflow
  "export_not_allowed", // export on a response context (its exporter secret is a dummy, MSC4388 §5)
] as const;

/** Secure channel (channel.ts). */
export const CHANNEL_ERROR_CODES = [
  "invalid_message", // wrong size or structure for the expected message
  "unexpected_handshake_message", // decrypted, but not MATRIX_QR_CODE_LOGIN_INITIATE / _OK
  "check_code_mismatch", // the code the user typed is not ours: possible Specter, channel dead
  "invalid_check_code", // not a two-digit code 10..99 (input error; channel stays usable)
  "channel_dead", // this state object was already used, or an earlier failure killed the channel
  "not_established", // seal/open attempted on something that is not an established channel
  "sequence_token_too_long", // AAD token longer than 255 bytes (MSC EncodeStringAsBytes8)
  "rendezvous_id_too_long", // AAD/QR id longer than 255 bytes
  "base_url_too_long", // AAD/QR base URL longer than 65535 bytes
] as const;

/** Rendezvous transport (rendezvous.ts) and the secure session over it (secure-session.ts). */
export const RENDEZVOUS_ERROR_CODES = [
  "rendezvous_unavailable", // the rendezvous API is not served at any known prefix (404 M_UNRECOGNIZED)
  "rendezvous_forbidden", // 401/403: not allowed to use or create rendezvous sessions
  "rendezvous_not_found", // 404 M_NOT_FOUND before our deadline: the session was cancelled or is gone
  "rendezvous_expired", // expires_in_ms elapsed (monotonic clock) or the server says so after it
  "rendezvous_closed", // the session was deleted by us; no further requests
  "rendezvous_concurrent_write", // 409: a third party wrote to the session (not our idempotent retry)
  "rendezvous_too_large", // 413: payload over the 4096-byte limit
  "rendezvous_rate_limited", // 429 persisted beyond our retry budget
  "rendezvous_bad_response", // a 200 whose body lacks required fields
  "rendezvous_bad_request", // invalid input to the client (bad base URL, empty id)
  "rendezvous_http_error", // any other unexpected HTTP status
  "rendezvous_network", // responses kept getting lost; gave up
  "rendezvous_reply_unreadable", // our write's answer was lost and the peer answered it before we learned its token: its reply cannot be opened
  "cancelled", // the caller's AbortSignal fired
  "out_of_turn", // a second send before the peer answered would overwrite an unread payload
  "unexpected_intent", // the QR's intent is not the one this role expects
] as const;

/** Wire profiles (profile.ts). */
export const PROFILE_ERROR_CODES = ["unknown_profile"] as const;

export type ProtocolErrorCode =
  | (typeof QR_ERROR_CODES)[number]
  | (typeof ENCODING_ERROR_CODES)[number]
  | (typeof HPKE_ERROR_CODES)[number]
  | (typeof CHANNEL_ERROR_CODES)[number]
  | (typeof PROFILE_ERROR_CODES)[number]
  | (typeof RENDEZVOUS_ERROR_CODES)[number];

export const PROTOCOL_ERROR_CODES: readonly ProtocolErrorCode[] = [
  ...QR_ERROR_CODES,
  ...ENCODING_ERROR_CODES,
  ...HPKE_ERROR_CODES,
  ...CHANNEL_ERROR_CODES,
  ...PROFILE_ERROR_CODES,
  ...RENDEZVOUS_ERROR_CODES,
];

/**
 * The MSC4108 `m.login.failure` reason a peer should be sent for a code, where one applies (when the
 * channel still works). The reasons themselves are the contract's (contract/failures.ts).
 */
const FAILURE_REASONS: Partial<Record<ProtocolErrorCode, FailureReason>> = {
  unexpected_handshake_message: "unexpected_message_received",
};

export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly code: ProtocolErrorCode;
  /** MSC4108 failure reason to send to the peer, when one applies. */
  readonly failureReason: FailureReason | undefined;

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown; failureReason?: FailureReason }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.failureReason = options?.failureReason ?? FAILURE_REASONS[code];
  }
}

export function isProtocolError(err: unknown, code?: ProtocolErrorCode): err is ProtocolError {
  return err instanceof ProtocolError && (code === undefined || err.code === code);
}
