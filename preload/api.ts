// The one API the renderer gets (window.qrLogin), shared as types by preload/, main/app/ipc.ts and renderer/.
// Everything here crosses the process boundary, so it is plain data: no functions except the API
// methods themselves, no Node objects, and — by construction — no secret. The payloads carry only what a
// screen shows: the QR bytes (already public: they are drawn on screen), the two-digit check code, the
// OAuth user code and verification URI, account and device ids, step states and typed errors.
//
// This file must stay free of imports with run-time effects: the renderer imports it for types only
// and the preload bundles the constants.

/** Which device this window is. */
export type DeviceRole = "new" | "existing";
/** Which side of the secure channel it plays: shows the QR (G) or scans it (S). */
export type ChannelSide = "show" | "scan";

export interface StartOptions {
  role: DeviceRole;
  side: ChannelSide;
  /**
   * New device showing a QR without a configured rendezvous server: the homeserver the user typed
   * (its rendezvous endpoint carries the session). Ignored otherwise.
   */
  homeserver?: string;
}

/** The secrets-transfer steps on the new device (import), in order. */
export const SECRETS_STEPS = [
  "cross_signing_keys", // cross-signing private keys received and imported
  "backup_key", // key-backup decryption key received and imported
  "device_signed", // our device signed with the self-signing key
  "keys_uploaded", // device keys + that signature uploaded in one /keys/upload
  "backup_connected", // key backup found and trusted
] as const;
export type SecretsStep = (typeof SECRETS_STEPS)[number];
export type StepStatus = "pending" | "active" | "done" | "failed";

/**
 * Error codes the UI distinguishes (Element's error screens; docs/architecture.md "Failure catalogue").
 * MSC4108 failure reasons map 1:1 where one exists; transport and local problems get their own codes
 * rather than "unknown".
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
  "wrong_qr_code", // the scanned bytes are not a valid MSC4388 code
  "rate_limited",
  "network", // rendezvous / homeserver unreachable
  "camera_denied", // local only: the renderer reports it to itself
  "homeserver_needed", // new device showing a QR: no homeserver known to carry the rendezvous session
  "invalid_request", // main rejected a call (validation failed); never reaches the peer
  "unknown",
] as const;
export type FlowErrorCode = (typeof FLOW_ERROR_CODES)[number];

/** The MSC4108 m.login.failure reason, when the error came from (or was sent to) the peer. */
export const MSC4108_REASONS = [
  "authorization_expired",
  "device_already_exists",
  "device_not_found",
  "unexpected_message_received",
  "unsupported_protocol",
  "user_cancelled",
  "unable_to_open_verification_uri",
] as const;
export type Msc4108Reason = (typeof MSC4108_REASONS)[number];

export interface FlowError {
  code: FlowErrorCode;
  /** Short human-readable detail (never a stack trace). */
  message: string;
  reason?: Msc4108Reason;
  /** The cause may lie with the server: the error screen offers "Check this server" (checkServer()). */
  checkServer?: boolean;
}

/** Coarse states, for the status line and screen-reader announcements. */
export const FLOW_STATES = [
  "starting", // creating the rendezvous session / opening the camera
  "waiting_for_scan", // QR on screen (G)
  "connecting", // establishing the secure channel
  "waiting_for_other_device", // our part done, the peer is acting
  "completing", // secrets import on the new device
] as const;
export type FlowState = (typeof FLOW_STATES)[number];

/** The versions of sign in with QR: MSC4108 2025 (over MSC4388) and 2024 (what Element's shipped clients speak). */
export const PROTOCOL_VERSIONS = ["2024", "2025"] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

/** One progress event. `flowId` tells events of a restarted flow from stale ones. */
export type ProgressEvent =
  | { type: "state"; flowId: number; state: FlowState }
  /** The version this flow speaks, once the QR is made or scanned (shown in a details line). */
  | { type: "protocol"; flowId: number; version: ProtocolVersion }
  /** G: the QR payload to draw, and when the rendezvous session expires (ms since epoch). */
  | { type: "qr"; flowId: number; payload: Uint8Array; expiresAt: number }
  /** S: the two-digit code to show; the user types it on the other device. */
  | { type: "check_code"; flowId: number; code: string }
  /** G: ask the user to type the code shown on the other device. `mismatch`: the last try was wrong. */
  | { type: "check_code_prompt"; flowId: number; mismatch: boolean }
  /** New device: the OAuth user code the consent page may show, and where consent happens. */
  | { type: "user_code"; flowId: number; userCode: string; verificationUri: string }
  /** Existing device: main is opening (opened: false) or has opened the browser for consent. */
  | { type: "open_browser"; flowId: number; verificationUri: string; opened: boolean }
  /** Waiting for the user to consent in the browser. */
  | { type: "waiting_for_consent"; flowId: number }
  /** Ask the user to confirm the account before continuing (new device: "sign in as …?"). */
  | { type: "confirm_account"; flowId: number; userId: string; homeserver: string; deviceId?: string }
  | { type: "secrets"; flowId: number; step: SecretsStep; status: StepStatus }
  | { type: "success"; flowId: number; userId: string; deviceId: string; verified: boolean }
  | { type: "error"; flowId: number; error: FlowError };

export type ProgressEventType = ProgressEvent["type"];

/** Result of a request: ok, or a typed error (never a thrown stack trace across IPC). */
export type CallResult = { ok: true } | { ok: false; error: FlowError };
export type StartResult = { ok: true; flowId: number } | { ok: false; error: FlowError };

/** How this app keeps its own sign-in between runs (safeStorage; docs/desktop.md "Your session"). */
export const STORAGE_STATUSES = [
  "keychain", // encrypted with the OS keychain / DPAPI / libsecret / KWallet: kept across restarts
  "no_keyring", // Linux without a keyring (safeStorage's basic_text backend): kept only until quit
  "unavailable", // no OS encryption at all: kept only until quit
] as const;
export type StorageStatus = (typeof STORAGE_STATUSES)[number];

/** What a window shows about the app: asked once over IPC (never on a renderer's command line). */
export interface AppInfo {
  /** Window label, e.g. "Existing device — signed in as @alice". */
  label: string;
  /** This app's own account, when it is signed in. */
  /** `verified: false`: signed in by QR, but the device is not cross-signed (it cannot link devices). */
  account: { userId: string; homeserver: string; verified?: false } | null;
  storage: StorageStatus;
  /** A homeserver to prefill in the sign-in field (--homeserver). */
  homeserverHint: string | null;
  /** The new device can show a QR without asking for a homeserver (a rendezvous server is configured). */
  rendezvousConfigured: boolean;
  /** The embedded development stack (npm start, --dev): where to approve sign-ins, and as whom. */
  dev: { homeserver: string; username: string; password: string } | null;
}
export type AppInfoResult = { ok: true; info: AppInfo } | { ok: false; error: FlowError };

/** Why signing this app in to its account failed (main/app/account.ts). */
export const SIGN_IN_ERROR_CODES = [
  "invalid_homeserver", // not a URL / host name
  "homeserver_unreachable", // no answer, or not a Matrix homeserver
  "homeserver_lacks_support", // no OAuth 2.0 (next-generation auth) on it
  "browser_failed", // the system browser could not be opened
  "timeout", // the browser did not come back in time
  "declined", // the account provider refused (access_denied, …)
  "invalid_recovery_key", // three tries did not unlock the secret storage
  "no_secret_storage", // the account has no recovery set up
  "secrets_unavailable", // secret storage lacks the cross-signing keys
  "unsafe_url", // the account provider's page is not https (or http on this computer): not opened
  "unknown",
] as const;
export type SignInErrorCode = (typeof SIGN_IN_ERROR_CODES)[number];

/** Steps of "Sign in to your account", in order. */
export const SIGN_IN_STATES = ["discovering", "waiting_for_browser", "finishing", "unlocking"] as const;
export type SignInState = (typeof SIGN_IN_STATES)[number];

/** Events about this app's own account, on their own channel (ACCOUNT_CHANNEL). */
export type AccountEvent =
  | { type: "sign_in_state"; state: SignInState }
  /** The authorization page in the system browser (public: it carries no secret, the browser has it). */
  | { type: "sign_in_browser"; url: string; opened: boolean }
  /** Type the recovery key; `retry`: the last one did not unlock the secrets. */
  | { type: "recovery_key_prompt"; retry: boolean; attemptsLeft: number }
  | { type: "sign_in_error"; code: SignInErrorCode; message: string }
  /** The account changed: signed in (by either way), or signed out (account null). */
  | { type: "account"; account: { userId: string; homeserver: string; verified?: false } | null; storage: StorageStatus; saved: boolean };

/** "Check this server": the deployment checks of `qr-login doctor` (main/doctor), as the renderer shows them. */
export const SERVER_CHECK_STATUSES = ["pass", "warn", "fail", "skip"] as const;
export type ServerCheckStatus = (typeof SERVER_CHECK_STATUSES)[number];

export interface ServerCheck {
  id: string;
  status: ServerCheckStatus;
  /** What was seen. */
  summary: string;
  /** What the server's administrator can change; null when nothing. */
  fix: string | null;
}

/** Which clients can sign in with this server, and how. */
export interface ServerVerdict {
  clients: string;
  status: "pass" | "warn" | "fail";
  summary: string;
}

export type ServerCheckEvent =
  /** The checks that will run, with their titles, and the server they run against. */
  | { type: "plan"; target: string; checks: { id: string; title: string }[] }
  /** A check is running (what it does right now). */
  | { type: "running"; id: string; detail: string }
  | { type: "result"; check: ServerCheck }
  | { type: "done"; ok: boolean; verdict: ServerVerdict[] }
  /** The check itself could not run (never a stack trace). */
  | { type: "failed"; message: string };

/** The object exposed as `window.qrLogin`. */
export interface QrLoginApi {
  /** Start (or restart) this window's flow. */
  start(options: StartOptions): Promise<StartResult>;
  /** S: the raw bytes decoded from a QR code (byte mode). Main parses them. */
  submitQr(payload: Uint8Array): Promise<CallResult>;
  /** G: the two digits the user typed. */
  submitCheckCode(code: string): Promise<CallResult>;
  /** Answer a confirm_account prompt. */
  confirmAccount(accept: boolean): Promise<CallResult>;
  /** Existing device: open the flow's verification URI in the system browser again (fallback button). */
  openVerificationUri(): Promise<CallResult>;
  cancel(): Promise<CallResult>;
  /** Start again with the same options after an error. */
  retry(): Promise<StartResult>;
  /** Receive progress events; returns the unsubscribe function. */
  onProgress(listener: (event: ProgressEvent) => void): () => void;
  /** The app's state for this window: label, account, how a sign-in is kept, the dev stack. */
  getAppInfo(): Promise<AppInfoResult>;
  /** "Sign in to your account": OAuth 2.0 in the system browser, then the recovery key. */
  signIn(homeserver: string): Promise<CallResult>;
  /** Answer a recovery_key_prompt. The key stays in main; it is never sent back. */
  submitRecoveryKey(key: string): Promise<CallResult>;
  /** Open the authorization page in the system browser again. */
  openSignInPage(): Promise<CallResult>;
  cancelSignIn(): Promise<CallResult>;
  /** Forget this app's session (and revoke it at the account provider). */
  signOut(): Promise<CallResult>;
  /** Receive account events; returns the unsubscribe function. */
  onAccount(listener: (event: AccountEvent) => void): () => void;
  /** After an error with `checkServer`: check the server that flow used (events on onServerCheck; cancel() stops it). */
  checkServer(): Promise<CallResult>;
  /** Receive the server check's progress; returns the unsubscribe function. */
  onServerCheck(listener: (event: ServerCheckEvent) => void): () => void;
  /** This window's configured role and side (from the command line), so the UI can skip "choose role". */
  readonly initial: { role: DeviceRole | null; side: ChannelSide | null };
}

/** IPC channel names: one per request, one event channel per role (each window runs one flow). */
export const IPC = {
  start: "qr-login:start",
  submitQr: "qr-login:submit-qr",
  submitCheckCode: "qr-login:submit-check-code",
  confirmAccount: "qr-login:confirm-account",
  openVerificationUri: "qr-login:open-verification-uri",
  cancel: "qr-login:cancel",
  retry: "qr-login:retry",
  getAppInfo: "qr-login:get-app-info",
  signIn: "qr-login:sign-in",
  submitRecoveryKey: "qr-login:submit-recovery-key",
  openSignInPage: "qr-login:open-sign-in-page",
  cancelSignIn: "qr-login:cancel-sign-in",
  signOut: "qr-login:sign-out",
  checkServer: "qr-login:check-server",
} as const;
export type IpcRequest = keyof typeof IPC;

export const EVENT_CHANNELS: Record<DeviceRole, string> = {
  new: "qr-login:progress:new-device",
  existing: "qr-login:progress:existing-device",
};

/** Account events: one channel for the app's own sign-in (sent to the window that asked, and on changes to all). */
export const ACCOUNT_CHANNEL = "qr-login:account";

/** The server check's progress, to the window that asked. */
export const SERVER_CHECK_CHANNEL = "qr-login:server-check";

/** Longest homeserver address and recovery key main accepts (a recovery key is 48 base58 characters plus spaces). */
export const MAX_HOMESERVER_INPUT = 512;
export const MAX_RECOVERY_KEY_INPUT = 200;

/** Largest QR payload main accepts (a version-40 QR in byte mode holds 2953 bytes). */
export const MAX_QR_PAYLOAD = 2953;
