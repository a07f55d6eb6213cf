// One vocabulary of failure, from the wire to the screen. Every program of the repository imports it:
// the protocol core (the MSC4108 reasons), the flows (their outcomes), the CLI (which prints them), the
// app (which maps them to screens) and the renderer (which words them).
//
// The path of a failure (docs/architecture.md "One path from the wire to the screen"):
//   1. the protocol core throws a ProtocolError with a detailed code (main/protocol/errors.ts: a 412,
//      a payload that does not open, …) — the core's own vocabulary, printed by `qr-login channel`;
//   2. main/login/channel/errors.ts classifies each code as one of CHANNEL_FAILURES, below;
//   3. the flow ends with one FlowOutcome (below), whose failure code (failureCode) is one of
//      FAILURE_CODES: a received `m.login.failure` reason is one already;
//   4. SCREEN_ERROR (below) gives the screen each failure code shows, checked by the compiler for every
//      code, and renderer/copy.ts words each screen.
// Nothing on this path matches on messages: each step is a typed value or a total table.
//
// This file imports nothing: the protocol core may use it without breaking its layer rule.

/** MSC4108 `m.login.failure` reasons: what one device tells the other when it ends a sign-in. */
export const FAILURE_REASONS = [
  "authorization_expired",
  "device_already_exists",
  "device_not_found",
  "unexpected_message_received",
  "unsupported_protocol",
  "user_cancelled",
  "unable_to_open_verification_uri",
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === "string" && (FAILURE_REASONS as readonly string[]).includes(value);
}

/**
 * Every way a sign-in can fail, one name each. A FlowOutcome's failure code is its `reason` or `code`
 * where it has one, else the outcome's own name (failureCode below). These are also the values the
 * CLI prints in its JSON summary (`outcome`, `reason`): an outside contract, so they never change.
 */
export const FAILURE_CODES = [
  // sent or received as m.login.failure
  ...FAILURE_REASONS,
  // the consent was refused (access_denied; m.login.declined)
  "declined",
  // the secure channel (CHANNEL_FAILURES)
  "expired",
  "closed",
  "insecure_channel",
  "check_code_mismatch",
  "invalid_qr",
  "rendezvous_unavailable",
  "rate_limited",
  "network",
  // a QR of the wrong kind, refused before any request
  "other_device_already_signed_in",
  "other_device_not_signed_in",
  // this device or its homeserver cannot do it
  "oauth_unavailable",
  "device_grant_unsupported",
  "registration_unsupported",
  "secrets_unavailable",
  // anything else (an `error` outcome)
  "registration_failed",
  "request_failed",
  "message_too_large",
  "no_scanner",
  "device_id_mismatch",
  "homeserver_mismatch",
  "homeserver_unresolved",
  "import_failed",
  "internal",
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

type Codes = readonly FailureCode[];

/**
 * How the secure channel failed, as the flows see it (ChannelError.kind):
 * - `expired`: the rendezvous session's lifetime ran out (404 after expiry, or the local timer)
 * - `closed`: the session is gone before its expiry (the peer sent DELETE)
 * - `insecure_channel`: handshake or AEAD failure, or a third party wrote to the session — possibly an attack
 * - `check_code_mismatch`: the user typed the wrong check code on the generator
 * - `invalid_qr`: not a QR code for this protocol
 * - `rendezvous_unavailable`: no rendezvous server offers a usable API
 * - `rate_limited`: the rendezvous server still answered 429 when our retries ran out (its limits:
 *   waiting helps, checking its configuration does not)
 * - `network`: anything else (HTTP errors, 413 too large, …)
 */
export const CHANNEL_FAILURES = ["expired", "closed", "insecure_channel", "check_code_mismatch", "invalid_qr", "rendezvous_unavailable", "rate_limited", "network"] as const satisfies Codes;
export type ChannelFailure = (typeof CHANNEL_FAILURES)[number];

/** A QR refused before any request: of the wrong intent for this device, or not a sign-in code. */
export const QR_REJECTIONS = ["other_device_already_signed_in", "other_device_not_signed_in", "invalid_qr"] as const satisfies Codes;
export type QrRejection = (typeof QR_REJECTIONS)[number];

/** Why sign in with QR cannot start: found by the existing device's pre-checks, or no rendezvous API. */
export const NOT_SUPPORTED_REASONS = ["oauth_unavailable", "device_grant_unsupported", "registration_unsupported", "secrets_unavailable", "rendezvous_unavailable"] as const satisfies Codes;
export type NotSupportedReason = (typeof NOT_SUPPORTED_REASONS)[number];

/** The OAuth 2.0 port's failures (main/login/flows/ports.ts: each OAuthError reason counts as one of these). */
export const OAUTH_FAILURES = ["oauth_unavailable", "device_grant_unsupported", "registration_unsupported", "registration_failed", "request_failed"] as const satisfies Codes;
export type OAuthFailure = (typeof OAUTH_FAILURES)[number];

/** The code of an `error` outcome: every other way a flow ends badly. */
export const ERROR_CODES = [
  "network",
  "rate_limited", // the rendezvous server kept answering 429
  ...OAUTH_FAILURES,
  "message_too_large", // a message of ours does not fit the rendezvous limit
  "no_scanner", // the existing device was asked to scan without a way to
  "device_id_mismatch", // whoami names another device than the one authorised
  "homeserver_mismatch", // the peer's homeserver is not the pinned one
  "homeserver_unresolved", // the peer's server name cannot be resolved
  "import_failed", // signed in, but the secrets could not be imported: not verified
  "internal", // a bug: an error nothing above classified
] as const satisfies Codes;
export type ErrorCode = (typeof ERROR_CODES)[number];

export type Side = "local" | "peer";

/** How one side's sign-in ended. Serialisable; never carries a token or a key. */
export type FlowOutcome =
  | { outcome: "success"; userId?: string; deviceId: string; crossSigned?: boolean; backup?: boolean }
  /** The consent was refused (access_denied on the new device; m.login.declined on the existing one). */
  | { outcome: "declined"; side: Side }
  /** An MSC4108 m.login.failure, sent (`local`) or received (`peer`). */
  | { outcome: "failure"; reason: FailureReason; side: Side; homeserver?: string; detail?: string }
  /** The user cancelled on this device. */
  | { outcome: "cancelled" }
  /** The rendezvous session expired; `retry` says a fresh QR can be offered at once. */
  | { outcome: "expired"; retry: boolean }
  /** The peer ended the rendezvous session without telling why. */
  | { outcome: "closed" }
  | { outcome: "check_code_mismatch" }
  /** `concurrentWrite`: another party wrote to the rendezvous session (409/412), which backends that do not share sessions also cause. */
  | { outcome: "insecure_channel"; concurrentWrite?: boolean }
  | { outcome: "qr_rejected"; reason: QrRejection; detail?: string }
  | { outcome: "not_supported"; reason: NotSupportedReason; detail?: string }
  | { outcome: "error"; code: ErrorCode; detail: string };

/** An outcome that is a failure: neither a success nor the user's own cancel. */
export type FailedOutcome = Exclude<FlowOutcome, { outcome: "success" } | { outcome: "cancelled" }>;

/** The one failure code of an outcome. */
export function failureCode(o: FailedOutcome): FailureCode {
  switch (o.outcome) {
    case "failure":
    case "qr_rejected":
    case "not_supported":
      return o.reason;
    case "error":
      return o.code;
    default:
      return o.outcome;
  }
}

/**
 * The error screens the app distinguishes (Element's error screens; docs/architecture.md "Failure
 * catalogue"), sent to the renderer as FlowError.code and worded by renderer/copy.ts. MSC4108 failure
 * reasons have a screen of their own; transport and local problems get theirs rather than "unknown".
 */
export const FLOW_ERROR_CODES = [
  "expired", // rendezvous session or device authorization expired
  "user_cancelled", // cancelled on the other device
  "user_declined", // declined in the browser / m.login.declined
  "unsupported_protocol", // other device not compatible
  "homeserver_lacks_support", // no OAuth / rendezvous on this server
  "insecure_channel_detected", // handshake or decryption failed
  "check_code_mismatch", // the typed code was wrong (terminal; the inline retry is a separate event)
  "other_device_already_signed_in",
  "other_device_not_signed_in", // scanned a login QR with the new device, or vice versa
  "device_not_verified", // this app is signed in but not cross-signed: it has no secrets to give
  "device_already_exists",
  "device_not_found",
  "unexpected_message_received",
  "unable_to_open_verification_uri",
  "wrong_qr_code", // the scanned bytes are not a valid sign-in code
  "rate_limited",
  "network", // rendezvous / homeserver unreachable
  "camera_denied", // local only: the renderer reports it to itself
  "homeserver_needed", // new device showing a QR: no homeserver known to carry the rendezvous session
  "invalid_request", // main rejected a call (validation failed); never reaches the peer
  "unknown",
] as const;
export type FlowErrorCode = (typeof FLOW_ERROR_CODES)[number];

/** The screen each failure shows. Total: a new failure code does not compile until it has a screen. */
export const SCREEN_ERROR: Readonly<Record<FailureCode, FlowErrorCode>> = {
  authorization_expired: "expired",
  device_already_exists: "device_already_exists",
  device_not_found: "device_not_found",
  unexpected_message_received: "unexpected_message_received",
  unsupported_protocol: "unsupported_protocol",
  user_cancelled: "user_cancelled",
  unable_to_open_verification_uri: "unable_to_open_verification_uri",
  declined: "user_declined",
  expired: "expired",
  closed: "user_cancelled", // the peer ended the session: as good as a cancel, to the user
  insecure_channel: "insecure_channel_detected",
  check_code_mismatch: "check_code_mismatch",
  invalid_qr: "wrong_qr_code",
  rendezvous_unavailable: "homeserver_lacks_support",
  network: "network",
  rate_limited: "rate_limited",
  other_device_already_signed_in: "other_device_already_signed_in",
  other_device_not_signed_in: "other_device_not_signed_in",
  oauth_unavailable: "homeserver_lacks_support",
  device_grant_unsupported: "homeserver_lacks_support",
  registration_unsupported: "homeserver_lacks_support",
  secrets_unavailable: "homeserver_lacks_support",
  // The rest is "Something went wrong": the details stay in main, the code is enough to report a bug.
  registration_failed: "unknown",
  request_failed: "unknown",
  message_too_large: "unknown",
  no_scanner: "unknown",
  device_id_mismatch: "unknown",
  homeserver_mismatch: "unknown",
  homeserver_unresolved: "unknown",
  import_failed: "unknown",
  internal: "unknown",
};
