// The app's own account (its sign-in in the browser, how it is kept) and the "Check this server"
// checks, as the screens see them. Plain constants (no imports), like contract/flow.ts.

/** How this app keeps its own sign-in between runs (safeStorage; docs/desktop.md "Your session"). */
export const STORAGE_STATUSES = [
  "keychain", // encrypted with the OS keychain / DPAPI / libsecret / KWallet: kept across restarts
  "no_keyring", // Linux without a keyring (safeStorage's basic_text backend): kept only until quit
  "unavailable", // no OS encryption at all: kept only until quit
] as const;
export type StorageStatus = (typeof STORAGE_STATUSES)[number];

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

/** "Check this server": the status of one deployment check of `qr-login doctor` (main/doctor). */
export const SERVER_CHECK_STATUSES = ["pass", "warn", "fail", "skip"] as const;
export type ServerCheckStatus = (typeof SERVER_CHECK_STATUSES)[number];

/** Which clients can sign in with the server: yes, partly, no. */
export const VERDICT_STATUSES = ["pass", "warn", "fail"] as const;
export type VerdictStatus = (typeof VERDICT_STATUSES)[number];
