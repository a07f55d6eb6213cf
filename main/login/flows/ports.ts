// Ports: what the MSC4108 flows need from the layers below them (secure channel, OAuth, Matrix) and
// from the user interface, plus the one progress-event stream each flow emits.
//
// The flows (new-device.ts, existing-device.ts) depend only on these interfaces, so they run unchanged
// against in-memory fakes in unit tests and against the real modules: the adapters in the sibling
// folders (channel/port.ts, oauth/port.ts, matrix/port.ts, matrix/homeserver.ts), which depend on this
// file and never the other way round. Nothing that crosses into FlowEvent / FlowOutcome may carry a
// token or a secret: the renderer subscribes to exactly these values.

import type { ChannelFailure, FlowOutcome, OAuthFailure } from "../../../contract/failures.js";
import type { DeviceRole, ProtocolVersion, SecretsStep, StepStatus } from "../../../contract/flow.js";
import type { ScopeFlavour } from "../../../contract/oauth.js";
import type { QrIntent } from "../../protocol/qr.js";
import type { SecretsBundle } from "./messages.js";

// The outcomes and their failure codes, the secrets steps, the scopes and the QR's intent have one
// name each, the contract's (or the core's): these are re-exported, not redefined.
export type { FailedOutcome, FlowOutcome, NotSupportedReason, QrRejection, Side } from "../../../contract/failures.js";
export { SECRETS_STEPS, type SecretsStep } from "../../../contract/flow.js";
export type { ScopeFlavour };
export type { QrIntent };

// ---- secure channel (MSC4388 for the 2025 version, vodozemac ECIES for the 2024 version) ---------

/**
 * The two versions of sign in with QR (the contract's PROTOCOL_VERSIONS). "2025": MSC4108 (2025) over
 * the MSC4388 rendezvous and HPKE channel, QR type 0x03. "2024": MSC4108 (2024) over its ETag
 * rendezvous and ECIES channel, QR type 0x02: what every Element client shipped so far speaks.
 */
export type { ProtocolVersion };
/** What the user asked for: a version, or `auto` (the QR decides when scanning; the servers when generating). */
export type ProtocolChoice = ProtocolVersion | "auto";
export const PROTOCOL_CHOICES: readonly ProtocolChoice[] = ["auto", "2025", "2024"];

/** How a peer names the homeserver: the 2025 version by base URL, the 2024 version by server name. */
export type HomeserverRef = { readonly baseUrl: string } | { readonly serverName: string };

/** The fields of a decoded QR the flows look at. */
export interface DecodedQr {
  version: ProtocolVersion;
  intent: QrIntent;
  /** Intent reciprocate: the homeserver the new device signs in to, as the QR names it. */
  homeserver?: HomeserverRef;
}

/** A trusted, established secure channel. Messages are plain JSON objects; sealing is the port's job. */
export interface SecureConversation {
  send(message: object): Promise<void>;
  receive(opts?: { signal?: AbortSignal }): Promise<object>;
  /** Ends the rendezvous session (DELETE). Idempotent; never throws for an already gone session. */
  close(): Promise<void>;
}

/** Generator side after the scanner's LoginInitiate arrived and LoginOk went out: not trusted yet. */
export interface UnconfirmedChannel {
  /** Compares the code typed by the user with the channel's check code. Throws ChannelError("check_code_mismatch"). */
  confirm(code: string): Promise<SecureConversation>;
  close(): Promise<void>;
}

export interface GeneratedChannel {
  /** The version the QR speaks (chosen from what the rendezvous servers offer, or forced). */
  version: ProtocolVersion;
  /** QR payload bytes to display. */
  qr: Uint8Array;
  /** Epoch ms at which the rendezvous session expires, if known. */
  expiresAt?: number;
  waitForScanner(opts?: { signal?: AbortSignal }): Promise<UnconfirmedChannel>;
  close(): Promise<void>;
}

export interface ScannedChannel {
  /** Two digits to show to the user, who types them on the generating device. */
  checkCode: string;
  conversation: SecureConversation;
}

export interface StartGeneratorOptions {
  /**
   * Where to create the session: for the new device the rendezvous server the user configured, for
   * the existing device its homeserver (a 2025 reciprocate QR names it as the homeserver).
   */
  rendezvousUrl: string;
  /**
   * 2024 only: a rendezvous server to create the session on when `rendezvousUrl` offers no 2024
   * rendezvous (Element Web's fallback rendezvous server; element-web#33037 "Invalid rendezvous URI").
   */
  fallbackRendezvousUrl?: string;
  intent: QrIntent;
  /**
   * `auto` (default): 2025 if `rendezvousUrl` offers it (discovery says `create_available`), else 2024
   * if it advertises `org.matrix.msc4108` in `/versions`, else 2024 on the fallback server.
   */
  protocol?: ProtocolChoice;
  /** Reciprocate: our homeserver's server name (the 2024 QR carries it). */
  serverName?: string;
  signal?: AbortSignal;
}

export interface SecureChannelPort {
  /** Pure: no network. Throws ChannelError("invalid_qr"). */
  decodeQr(qr: Uint8Array): DecodedQr;
  /** Throws ChannelError("rendezvous_unavailable") when no server offers a usable version. */
  startGenerator(opts: StartGeneratorOptions): Promise<GeneratedChannel>;
  connectScanner(qr: Uint8Array, opts: { signal?: AbortSignal }): Promise<ScannedChannel>;
}

/**
 * A transport-level failure, as the adapter classifies the secure channel's errors
 * (main/login/channel/errors.ts): its kind is one of the contract's CHANNEL_FAILURES, each also a
 * failure code.
 */
export class ChannelError extends Error {
  constructor(readonly kind: ChannelFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ChannelError";
  }
}

// ---- homeserver resolution (new device) -----------------------------------------------------------

/** The homeserver the new device signs in to. */
export interface ResolvedHomeserver {
  baseUrl: string;
  /**
   * Set when the peer named the homeserver by server name: the account the user signs in to must be
   * on it (checked against whoami), which also proves a pinned base URL that .well-known could not confirm.
   */
  serverName?: string;
}

export interface HomeserverPort {
  /**
   * A base URL as is; a server name through `/.well-known/matrix/client` (validated with
   * `/versions`). With a pinned homeserver, the peer's naming must agree with it. Throws
   * HomeserverError; never switches silently to another homeserver than the one pinned.
   */
  resolve(named: HomeserverRef, signal?: AbortSignal): Promise<ResolvedHomeserver>;
}

export type HomeserverErrorKind = "unresolved" | "mismatch";

export class HomeserverError extends Error {
  constructor(readonly kind: HomeserverErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HomeserverError";
  }
}

// ---- OAuth 2.0 (new device; metadata check on the existing device) ------------------------------
// The OAuth client (main/login/oauth/) speaks in these types and throws this OAuthError: the port is the
// client itself, without a translation in between.

/**
 * The homeserver's authorization server metadata (RFC 8414), as discovery returns it: checked like
 * matrix-js-sdk's `isValidAuthMetadata`, with every endpoint held to the URL policy.
 */
export interface AuthMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  revocation_endpoint: string;
  registration_endpoint: string;
  /** Present when the server offers the device authorization grant (with DEVICE_CODE_GRANT in grant_types_supported). */
  device_authorization_endpoint?: string;
  response_types_supported: string[];
  response_modes_supported: string[];
  grant_types_supported: string[];
  code_challenge_methods_supported: string[];
  [field: string]: unknown;
}

/** A device authorization (RFC 8628 §3.2). */
export interface DeviceAuthorization {
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  /** Seconds between polls; RFC 8628's default of 5 when the server omits it. */
  interval: number;
  /** Opaque to the flow: handed back to pollToken(). */
  device_code: string;
}

/** A token endpoint's answer (RFC 6749 §5.1). Opaque to the flow: only passed from the OAuth port to the Matrix port. Never emitted. */
export interface OAuthTokens {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  scope?: string;
  [field: string]: unknown;
}

/** How polling a device code ended: tokens, `access_denied` (with the server's description, if any), or expiry. */
export type PollResult = { kind: "tokens"; tokens: OAuthTokens } | { kind: "denied"; description?: string } | { kind: "expired" };

export interface OAuthPort {
  /** `GET /_matrix/client/v1/auth_metadata`, unstable fallback. Throws OAuthError (kind `oauth_unavailable`). */
  discoverAuthMetadata(homeserver: string, signal?: AbortSignal): Promise<AuthMetadata>;
  /** Dynamic client registration. Throws OAuthError (kind `registration_unsupported` or `registration_failed`). */
  registerClient(metadata: AuthMetadata, signal?: AbortSignal): Promise<string>;
  generateDeviceId(): string;
  requestDeviceAuthorization(opts: { metadata: AuthMetadata; clientId: string; deviceId: string; scopes: ScopeFlavour; signal?: AbortSignal }): Promise<DeviceAuthorization>;
  /** RFC 8628 polling until tokens, access_denied, or expiry (expired_token or local expires_in). */
  pollToken(opts: { metadata: AuthMetadata; clientId: string; authorization: DeviceAuthorization; signal?: AbortSignal }): Promise<PollResult>;
  /** Best effort revocation when the user rejects the account after sign-in. Optional. */
  revokeTokens?(opts: { metadata: AuthMetadata; clientId: string; tokens: OAuthTokens }): Promise<void>;
}

/** Why an OAuth 2.0 request failed, in the detail the OAuth client knows it. */
export type OAuthErrorReason =
  | "network"
  | "metadata_unavailable"
  | "metadata_invalid"
  | "registration_unsupported"
  | "registration_failed"
  | "device_grant_unsupported"
  | "device_authorization_failed"
  | "token_request_failed"
  | "authorization_failed"
  | "state_mismatch"
  | "invalid_response"
  | "aborted"
  /** A homeserver URL that is neither https nor http to this computer. */
  | "insecure_url";

/** What each reason counts as where a flow ends on it: the contract's OAUTH_FAILURES (a total table). */
const OAUTH_FAILURE: Readonly<Record<OAuthErrorReason, OAuthFailure>> = {
  metadata_unavailable: "oauth_unavailable",
  metadata_invalid: "oauth_unavailable",
  device_grant_unsupported: "device_grant_unsupported",
  registration_unsupported: "registration_unsupported",
  registration_failed: "registration_failed",
  network: "request_failed",
  device_authorization_failed: "request_failed",
  token_request_failed: "request_failed",
  authorization_failed: "request_failed",
  state_mismatch: "request_failed",
  invalid_response: "request_failed",
  aborted: "request_failed",
  insecure_url: "request_failed",
};

/**
 * Every OAuth 2.0 failure: `reason` says what went wrong, `kind` what a flow that ends on it reports
 * (its `error` code), `details` the HTTP status and the server's OAuth error when there was one.
 */
export class OAuthError extends Error {
  override readonly name = "OAuthError";
  readonly kind: OAuthFailure;
  constructor(
    readonly reason: OAuthErrorReason,
    message: string,
    readonly details: { status?: number; error?: string; errorDescription?: string } = {},
  ) {
    super(message);
    this.kind = OAUTH_FAILURE[reason];
  }
}

// ---- Matrix (matrix-js-sdk behind the adapter) --------------------------------------------------

/**
 * The new device's secrets-import steps (the contract's SECRETS_STEPS), in the order the work is done:
 * import the private cross-signing keys and the backup key from the bundle, sign our device with the
 * self-signing key, send the one /keys/upload that carries the device keys with that signature,
 * connect to the key backup. Each ends done or failed.
 */
export type SecretsStepStatus = Extract<StepStatus, "done" | "failed">;
export type SecretsStepListener = (step: SecretsStep, status: SecretsStepStatus) => void;

/** The new device once the tokens arrived: a client signed in to the account. Holds the tokens; the flow never looks inside. */
export interface SignedInClient {
  whoami(signal?: AbortSignal): Promise<{ userId: string; deviceId?: string }>;
  /**
   * Import the bundle before the first /keys/upload, self-sign, connect backup. `onStep` hears each
   * SECRETS_STEPS step once, in that order, as the work is done (a fake may report them all).
   */
  importSecretsAndVerify(bundle: SecretsBundle, opts?: { onStep?: SecretsStepListener }): Promise<{ crossSigned: boolean; backup: boolean }>;
}

export interface NewDeviceMatrixPort<C extends SignedInClient = SignedInClient> {
  /** A client signed in with the fresh tokens (not started: nothing is uploaded before the secrets are imported). */
  createClient(opts: { baseUrl: string; deviceId: string; tokens: OAuthTokens; metadata: AuthMetadata; clientId: string }): Promise<C>;
}

/** The existing, signed-in device. */
export interface ExistingDeviceMatrixPort {
  /** Homeserver base URL the existing device is signed in to. */
  readonly baseUrl: string;
  /** Server name (the 2024 m.login.protocols and reciprocate QR, and `m.login.failure.homeserver`). */
  readonly serverName: string;
  /** matrix-js-sdk exportSecretsBundle(). Throws when the private cross-signing keys are missing. */
  exportSecrets(): Promise<SecretsBundle>;
  /** `GET /_matrix/client/v3/devices/{id}`: true on 200, false on 404; throws on anything else. */
  deviceExists(deviceId: string, signal?: AbortSignal): Promise<boolean>;
}

/** A signed-in existing device (the app's own account, or the devstack's seeded one). */
export interface ExistingAccount {
  userId: string;
  matrix: ExistingDeviceMatrixPort;
  /** For creating a rendezvous session on a server that requires authentication (E generating). */
  accessToken?: string;
}

// ---- user interface -----------------------------------------------------------------------------

export type OpenUriResult = "opened" | "declined";

export interface NewDeviceUi {
  /** Generator only: the two digits shown on the other device. */
  enterCheckCode(signal: AbortSignal): Promise<string>;
  /** "Signed in as @x — continue?" (MSC4108, shoulder-surfing mitigation). */
  confirmAccount(userId: string, signal: AbortSignal): Promise<boolean>;
}

export interface ExistingDeviceUi {
  /** Scanner only: supplies the scanned QR bytes (camera, screen capture, file, pasted hex). */
  scanQr?(signal: AbortSignal): Promise<Uint8Array>;
  /** Generator only: the two digits shown on the other device. */
  enterCheckCode(signal: AbortSignal): Promise<string>;
  /**
   * Open the verification URI in the system browser. Resolves "declined" when the user refused;
   * throws when it could not be opened. Only ever called with an https URI (or http on loopback).
   */
  openUri(uri: string, signal: AbortSignal): Promise<OpenUriResult>;
}

// ---- progress events and outcomes (serialisable; no secrets, no tokens) --------------------------

/**
 * Where a flow is: the states of the two state machines, in `state` events. The app reduces them to the
 * contract's coarse FlowState for the screen.
 */
export type FlowStage =
  | "prechecks"
  | "creating_qr"
  | "showing_qr"
  | "scanning"
  | "connecting"
  | "check_code_entry"
  | "showing_check_code"
  | "waiting_for_protocols"
  | "oauth_discovery"
  | "device_authorization"
  | "waiting_for_protocol"
  | "checking_device"
  | "opening_browser"
  | "waiting_for_accept"
  | "waiting_for_consent"
  | "confirm_account"
  | "waiting_for_outcome"
  | "waiting_for_device"
  | "transferring_secrets"
  | "waiting_for_secrets"
  | "importing"
  | "done";

export type FlowEvent =
  | { type: "state"; state: FlowStage }
  /** QR payload as lowercase hex, for the renderer to draw. */
  | { type: "qr"; hex: string; expiresAt?: number }
  | { type: "check_code"; code: string }
  | { type: "check_code_required" }
  | { type: "homeserver"; baseUrl: string }
  /** The version of sign in with QR this run speaks (known once the QR is made or scanned). */
  | { type: "protocol"; version: ProtocolVersion }
  | { type: "device_id"; deviceId: string }
  | { type: "user_code"; userCode: string; verificationUri: string; verificationUriComplete?: string }
  | { type: "opening_browser"; uri: string }
  | { type: "waiting_for_consent" }
  | { type: "confirm_account"; userId: string }
  | { type: "transferring_secrets" }
  | { type: "importing" }
  /** One secrets-import step finished (names only: never a key). */
  | { type: "secrets_step"; step: SecretsStep; status: SecretsStepStatus }
  | { type: "verified"; crossSigned: boolean; backup: boolean }
  | { type: "message_sent"; messageType: string }
  | { type: "message_received"; messageType: string }
  | { type: "outcome"; role: DeviceRole; result: FlowOutcome };

export type FlowListener = (event: FlowEvent) => void;
