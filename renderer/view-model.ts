// The renderer's state: which screen, with what data. A pure reducer over the preload API's progress
// events and the user's local choices, so every screen is reachable from plain data (and testable).
import type { SignInErrorCode, SignInState, StorageStatus } from "../contract/account.js";
import { SECRETS_STEPS, type ChannelSide, type DeviceRole, type ProtocolVersion, type SecretsStep, type StepStatus } from "../contract/flow.js";
import type { AccountEvent, AppInfo, FlowError, ProgressEvent, ServerCheckEvent } from "../contract/schemas.js";
import { onServerCheckEvent, serverCheckScreen, type ServerCheckScreen } from "./server-check-model.js";

export type ScanSource = "camera" | "screen";

export type Account = { userId: string; homeserver: string; verified?: false };

export type Screen =
  // first run and the app's own account (a window without a fixed role)
  | { name: "welcome" }
  | { name: "home"; account: Account }
  | { name: "homeserver"; purpose: "sign_in" | "show_qr"; value: string; problem: string | null }
  | { name: "sign_in_progress"; state: SignInState; url: string | null; opened: boolean }
  | { name: "recovery_key"; retry: boolean; attemptsLeft: number; checking: boolean; problem: string | null }
  | { name: "signed_in"; account: Account }
  | { name: "sign_in_error"; code: SignInErrorCode; message: string }
  // the MSC4108 flows
  | { name: "choose_side"; role: DeviceRole }
  | { name: "prescan_warning"; role: DeviceRole }
  | { name: "scan"; role: DeviceRole; source: ScanSource | null; problem: string | null }
  | { name: "camera_permission"; role: DeviceRole }
  | { name: "loading"; text: string }
  | { name: "show_qr"; payload: Uint8Array; expiresAt: number; regenerating: boolean }
  | { name: "connecting" }
  | { name: "check_code"; code: string }
  | { name: "check_code_entry"; mismatch: boolean; attempt: number }
  | { name: "open_browser"; verificationUri: string; opened: boolean; consentPending: boolean }
  | { name: "user_code"; userCode: string; verificationUri: string }
  | { name: "confirm_account"; userId: string; homeserver: string; deviceId: string | null }
  | { name: "waiting"; text: string }
  | { name: "secrets"; role: DeviceRole; steps: Record<SecretsStep, StepStatus> }
  | { name: "success"; role: DeviceRole; userId: string; deviceId: string; verified: boolean }
  | { name: "error"; error: FlowError }
  | ServerCheckScreen;

export type ScreenName = Screen["name"];

export interface ViewState {
  /** Fixed by the command line (the development pair, --role); null: the window chooses. */
  fixedRole: DeviceRole | null;
  role: DeviceRole | null;
  side: ChannelSide | null;
  /** From main (getAppInfo); null until it arrived. */
  app: AppInfo | null;
  account: Account | null;
  storage: StorageStatus;
  /** Events of other flows (an older run) are ignored. */
  flowId: number | null;
  screen: Screen;
  /** One-line status for the aria-live region. */
  status: string;
  /** The version of sign in with QR this flow speaks, once known (a details line). */
  protocol: ProtocolVersion | null;
}

export type Action =
  | { type: "app_info"; info: AppInfo }
  | { type: "account_event"; event: AccountEvent }
  | { type: "want_sign_in" }
  | { type: "want_homeserver_for_qr" }
  | { type: "homeserver_problem"; value: string; problem: string }
  | { type: "signing_in"; value: string }
  | { type: "checking_recovery_key" }
  | { type: "recovery_key_problem"; problem: string }
  | { type: "link_device" }
  | { type: "choose_role"; role: DeviceRole }
  | { type: "choose_side"; side: ChannelSide }
  | { type: "ready_to_scan" }
  | { type: "want_camera" }
  | { type: "scan_source"; source: ScanSource | null }
  | { type: "scan_problem"; problem: string }
  | { type: "started"; flowId: number }
  | { type: "regenerating" }
  | { type: "local_error"; error: FlowError }
  | { type: "reset" }
  | { type: "event"; event: ProgressEvent }
  /** "Check this server" on an error screen; its progress; Back to the error. */
  | { type: "server_check" }
  | { type: "server_check_event"; event: ServerCheckEvent }
  | { type: "server_check_back" };

export function initialState(role: DeviceRole | null, side: ChannelSide | null): ViewState {
  const base: ViewState = { fixedRole: role, role, side, app: null, account: null, storage: "unavailable", flowId: null, screen: { name: "loading", text: "Starting…" }, status: "", protocol: null };
  if (role === null) return base;
  if (side === null) return { ...base, screen: { name: "choose_side", role } };
  return { ...base, screen: side === "scan" ? { name: "prescan_warning", role } : { name: "loading", text: "Loading QR code…" } };
}

/** Where "Done", "Cancel" and "Back" lead: the fixed role's start, or the account's home / first run. */
function rootState(s: ViewState): ViewState {
  const base = { ...s, flowId: null, status: "" };
  if (s.fixedRole) return { ...base, role: s.fixedRole, side: null, screen: { name: "choose_side", role: s.fixedRole } };
  if (!s.app) return { ...base, role: null, side: null, screen: { name: "loading", text: "Starting…" } };
  return { ...base, role: null, side: null, screen: s.account ? { name: "home", account: s.account } : { name: "welcome" } };
}

const SIGN_IN_SCREENS: readonly Screen["name"][] = ["homeserver", "sign_in_progress", "recovery_key"];

function onAccountEvent(s: ViewState, e: AccountEvent): ViewState {
  const sc = s.screen;
  const signingIn = SIGN_IN_SCREENS.includes(sc.name) && !(sc.name === "homeserver" && sc.purpose === "show_qr");
  switch (e.type) {
    case "sign_in_state":
      if (!signingIn) return s;
      return {
        ...s,
        screen: { name: "sign_in_progress", state: e.state, url: sc.name === "sign_in_progress" ? sc.url : null, opened: sc.name === "sign_in_progress" && sc.opened },
        status: SIGN_IN_STATE_LABELS[e.state],
      };
    case "sign_in_browser":
      if (!signingIn) return s;
      return { ...s, screen: { name: "sign_in_progress", state: "waiting_for_browser", url: e.url, opened: e.opened }, status: e.opened ? "Your browser opened. Sign in there." : "Opening your browser" };
    case "recovery_key_prompt":
      if (!signingIn) return s;
      return {
        ...s,
        screen: { name: "recovery_key", retry: e.retry, attemptsLeft: e.attemptsLeft, checking: false, problem: e.retry ? recoveryRetryText(e.attemptsLeft) : null },
        status: e.retry ? recoveryRetryText(e.attemptsLeft) : "Signed in. Enter your recovery key.",
      };
    case "sign_in_error":
      if (!signingIn) return s;
      if (e.code === "invalid_homeserver") {
        const value = sc.name === "homeserver" ? sc.value : "";
        return { ...s, screen: { name: "homeserver", purpose: "sign_in", value, problem: e.message }, status: e.message };
      }
      return { ...s, screen: { name: "sign_in_error", code: e.code, message: e.message }, status: signInErrorText(e.code).title };
    case "account": {
      const next = { ...s, account: e.account, storage: e.storage };
      if (signingIn && e.account) return { ...next, screen: { name: "signed_in", account: e.account }, status: `Signed in as ${e.account.userId}` };
      if (sc.name === "home" || sc.name === "welcome" || sc.name === "loading") return rootState(next);
      return next;
    }
  }
}

function recoveryRetryText(left: number): string {
  return `That recovery key does not unlock your account. Check it and try again (${left} ${left === 1 ? "try" : "tries"} left).`;
}

function emptySteps(): Record<SecretsStep, StepStatus> {
  return Object.fromEntries(SECRETS_STEPS.map((s) => [s, "pending"])) as Record<SecretsStep, StepStatus>;
}

const WAITING = "Waiting for your other device";

export function reduce(s: ViewState, a: Action): ViewState {
  switch (a.type) {
    case "app_info": {
      const next = { ...s, app: a.info, account: a.info.account, storage: a.info.storage };
      return s.screen.name === "loading" && s.flowId === null && !s.fixedRole ? rootState(next) : next;
    }
    case "account_event":
      return onAccountEvent(s, a.event);
    case "want_sign_in":
      return { ...s, screen: { name: "homeserver", purpose: "sign_in", value: s.app?.homeserverHint ?? "", problem: null }, status: "" };
    case "want_homeserver_for_qr":
      return { ...s, screen: { name: "homeserver", purpose: "show_qr", value: s.app?.homeserverHint ?? "", problem: null }, status: "" };
    case "homeserver_problem":
      if (s.screen.name !== "homeserver") return s;
      return { ...s, screen: { ...s.screen, value: a.value, problem: a.problem }, status: a.problem };
    case "signing_in":
      return { ...s, screen: { name: "sign_in_progress", state: "discovering", url: null, opened: false }, status: SIGN_IN_STATE_LABELS.discovering };
    case "checking_recovery_key":
      if (s.screen.name !== "recovery_key") return s;
      return { ...s, screen: { ...s.screen, checking: true, problem: null }, status: "Checking the recovery key" };
    case "recovery_key_problem":
      if (s.screen.name !== "recovery_key") return s;
      return { ...s, screen: { ...s.screen, checking: false, problem: a.problem }, status: a.problem };
    case "link_device":
      return { ...s, role: "existing", side: null, screen: { name: "choose_side", role: "existing" }, status: "" };
    case "choose_role":
      return { ...s, role: a.role, screen: { name: "choose_side", role: a.role }, status: "" };
    case "choose_side": {
      if (!s.role) return s;
      if (a.side === "scan") return { ...s, side: "scan", screen: { name: "prescan_warning", role: s.role } };
      return { ...s, side: "show", flowId: null, protocol: null, screen: { name: "loading", text: "Loading QR code…" }, status: "Loading QR code" };
    }
    case "ready_to_scan":
      if (!s.role) return s;
      return { ...s, flowId: null, protocol: null, screen: { name: "scan", role: s.role, source: null, problem: null }, status: "Ready to scan" };
    case "want_camera":
      if (!s.role) return s;
      return { ...s, screen: { name: "camera_permission", role: s.role } };
    case "scan_source":
      if (!s.role) return s;
      return { ...s, screen: { name: "scan", role: s.role, source: a.source, problem: null } };
    case "scan_problem":
      if (s.screen.name !== "scan") return s;
      return { ...s, screen: { ...s.screen, problem: a.problem }, status: a.problem };
    case "started":
      return { ...s, flowId: a.flowId };
    case "regenerating":
      if (s.screen.name !== "show_qr") return s;
      return { ...s, screen: { ...s.screen, regenerating: true }, status: "The QR code expired. Making a new one." };
    case "local_error":
      if (a.error.code === "homeserver_needed" && s.role === "new" && s.side === "show") {
        // The new device needs a homeserver for its QR session: ask for it (again), saying why.
        const value = s.screen.name === "homeserver" ? s.screen.value : (s.app?.homeserverHint ?? "");
        return { ...s, flowId: null, screen: { name: "homeserver", purpose: "show_qr", value, problem: a.error.message }, status: a.error.message };
      }
      return { ...s, screen: { name: "error", error: a.error }, status: a.error.message };
    case "reset":
      // Back to the start: the fixed role's first choice, or the account's home / first run.
      return rootState(s);
    case "event":
      return onEvent(s, a.event);
    case "server_check":
      if (s.screen.name !== "error") return s;
      return { ...s, screen: serverCheckScreen(s.screen.error), status: "Checking the server" };
    case "server_check_event": {
      if (s.screen.name !== "server_check") return s;
      const next = onServerCheckEvent(s.screen, a.event);
      return { ...s, screen: next.screen, status: next.announce ?? s.status };
    }
    case "server_check_back":
      if (s.screen.name !== "server_check") return s;
      return { ...s, screen: { name: "error", error: s.screen.error }, status: "" };
  }
}

function onEvent(s: ViewState, e: ProgressEvent): ViewState {
  // Before start() resolves we do not know the id yet: adopt the first one seen, then filter.
  if (s.flowId !== null && e.flowId !== s.flowId) return s;
  s = { ...s, flowId: e.flowId };
  const role = s.role ?? "new";
  const sc = s.screen;
  switch (e.type) {
    case "state":
      switch (e.state) {
        case "starting":
          return s.side === "scan" ? s : { ...s, screen: { name: "loading", text: "Loading QR code…" }, status: "Loading QR code" };
        case "waiting_for_scan":
          return s;
        case "connecting":
          return { ...s, screen: { name: "connecting" }, status: "Establishing a secure connection" };
        case "waiting_for_other_device":
          if (sc.name === "check_code" || sc.name === "user_code" || sc.name === "open_browser" || sc.name === "secrets") return { ...s, status: WAITING };
          return { ...s, screen: { name: "waiting", text: WAITING }, status: WAITING };
        case "completing":
          if (sc.name === "secrets") return s;
          return { ...s, screen: { name: "secrets", role, steps: emptySteps() }, status: role === "new" ? "Completing set up of your new device" : "Sending your keys to the new device" };
      }
      return s;
    case "protocol":
      return { ...s, protocol: e.version };
    case "qr":
      return { ...s, screen: { name: "show_qr", payload: e.payload, expiresAt: e.expiresAt, regenerating: false }, status: "QR code ready. Scan it with your other device." };
    case "check_code":
      return { ...s, screen: { name: "check_code", code: e.code }, status: `Secure connection made. Enter the number ${e.code[0]} ${e.code[1]} on your other device.` };
    case "check_code_prompt": {
      const attempt = sc.name === "check_code_entry" ? sc.attempt + 1 : 0;
      return {
        ...s,
        screen: { name: "check_code_entry", mismatch: e.mismatch, attempt },
        status: e.mismatch ? "The numbers don't match. Check the number on your other device and try again." : "Enter the number shown on your other device",
      };
    }
    case "user_code":
      return { ...s, screen: { name: "user_code", userCode: e.userCode, verificationUri: e.verificationUri }, status: `Your verification code is ${e.userCode}` };
    case "open_browser":
      return {
        ...s,
        screen: { name: "open_browser", verificationUri: e.verificationUri, opened: e.opened, consentPending: sc.name === "open_browser" && sc.consentPending },
        status: e.opened ? "Your browser opened. Approve the sign-in there." : "Opening your browser to approve the sign-in",
      };
    case "waiting_for_consent":
      if (sc.name === "open_browser") return { ...s, screen: { ...sc, consentPending: true }, status: "Waiting for you to approve in the browser" };
      if (sc.name === "user_code") return { ...s, status: WAITING };
      return { ...s, screen: { name: "waiting", text: "Waiting for you to approve in the browser" }, status: "Waiting for you to approve in the browser" };
    case "confirm_account":
      return { ...s, screen: { name: "confirm_account", userId: e.userId, homeserver: e.homeserver, deviceId: e.deviceId ?? null }, status: `Confirm signing in as ${e.userId}` };
    case "secrets": {
      const steps = sc.name === "secrets" ? { ...sc.steps } : emptySteps();
      steps[e.step] = e.status;
      return { ...s, screen: { name: "secrets", role, steps }, status: `${STEP_LABELS[e.step]}: ${STATUS_LABELS[e.status]}` };
    }
    case "success":
      return {
        ...s,
        screen: { name: "success", role, userId: e.userId, deviceId: e.deviceId, verified: e.verified },
        status: role === "new" ? `Signed in as ${e.userId}${e.verified ? ", verified" : ""}` : `The new device is signed in${e.verified ? " and verified" : ""}`,
      };
    case "error":
      return { ...s, screen: { name: "error", error: e.error }, status: errorText(e.error).title };
  }
}

/** The details line naming the version (both are "sign in with QR" to the user). */
export function protocolDetail(version: ProtocolVersion): string {
  return version === "2024" ? "Sign in with QR, MSC4108 2024 version (as in Element's current apps)" : "Sign in with QR, MSC4108 2025 version (MSC4388 secure channel)";
}

/** A check code that can match: MSC4388 (2025) codes are 10..99; the 2024 version's digits may start with 0. */
export function isPlausibleCheckCode(code: string, version: ProtocolVersion | null): boolean {
  return version === "2024" ? /^[0-9]{2}$/.test(code) : /^[1-9][0-9]$/.test(code);
}

export const STEP_LABELS: Record<SecretsStep, string> = {
  cross_signing_keys: "Cross-signing keys",
  backup_key: "Key backup key",
  device_signed: "Device signed",
  keys_uploaded: "Keys uploaded",
  backup_connected: "Key backup connected",
};

export const STATUS_LABELS: Record<StepStatus, string> = { pending: "waiting", active: "in progress", done: "done", failed: "failed" };

/**
 * Error wording: Element's strings where they exist, made concrete where users were confused
 * (docs/architecture.md "Screens and their wording").
 */
export function errorText(e: FlowError): { title: string; body: string; list?: string[] } {
  switch (e.code) {
    case "expired":
      return { title: "The sign in was not completed in time", body: "Sign in expired. Please try again." };
    case "user_cancelled":
      return { title: "Sign in request cancelled", body: "The sign in was cancelled on the other device." };
    case "user_declined":
      return { title: "Sign in declined", body: "You or your homeserver declined the sign-in request." };
    case "unsupported_protocol":
      return { title: "Other device not compatible", body: "The other device does not support signing in with a QR code. Try signing in manually, or use another device." };
    case "homeserver_lacks_support":
      return {
        title: "QR code not supported",
        body: "Your homeserver (the server that holds your account) doesn't support signing in with a QR code. Its administrator can enable it; until then, sign in with your password.",
      };
    case "insecure_channel_detected":
      return {
        title: "Connection not secure",
        body: "A secure connection could not be made to the other device. Your existing devices are still safe and you don't need to worry about them.",
        list: ["Try again, in case this was a network problem.", "If it happens again, try a different network.", "If that doesn't work, sign in manually."],
      };
    case "check_code_mismatch":
      return {
        title: "The numbers don't match",
        body: "Please try again and make sure that you've entered the 2-digit code correctly. If the numbers still don't match, someone may be interfering: sign in manually.",
      };
    case "other_device_already_signed_in":
      return { title: "Your other device is already signed in", body: "You don't need to do anything else." };
    case "other_device_not_signed_in":
      return { title: "Other device not signed in", body: "Sign in to your other device and then try again, or use another device that's already signed in." };
    case "device_not_verified":
      return {
        title: "This device is not verified",
        body: "This device is signed in but not verified, so it has no keys to give a new device. Verify it from another device, or sign out and sign in to your account again.",
      };
    case "device_already_exists":
      return { title: "Something went wrong", body: "A device with the same ID is already signed in to your account. The request has been cancelled." };
    case "device_not_found":
      return { title: "The new device did not finish signing in", body: "The new device did not appear on your account in time. Please try again." };
    case "unexpected_message_received":
      return { title: "Something went wrong", body: "The other device sent an unexpected message. The request has been cancelled." };
    case "unable_to_open_verification_uri":
      return { title: "Couldn't open the browser", body: "The browser page to approve the sign-in could not be opened. Please try again." };
    case "wrong_qr_code":
      return { title: "Wrong QR code", body: "Use the QR code shown on the other device." };
    case "rate_limited":
      return { title: "Too many attempts", body: "Too many attempts in a short time. Wait some time before trying again." };
    case "network":
      return { title: "Can't reach the server", body: "Check your internet connection and try again." };
    case "camera_denied":
      return { title: "Allow camera access to scan the QR code", body: "You need to give permission to use your camera, or choose another way to scan." };
    case "homeserver_needed":
      return { title: "Which homeserver is your account on?", body: "Enter your homeserver to show a QR code." };
    case "invalid_request":
    case "unknown":
      return { title: "Something went wrong", body: "An unexpected error occurred. Please try again." };
  }
}

export const SIGN_IN_STATE_LABELS: Record<SignInState, string> = {
  discovering: "Contacting your homeserver",
  waiting_for_browser: "Continue in your browser",
  finishing: "Signed in. Setting up this device",
  unlocking: "Unlocking your keys",
};

/** Storage wording: what the user should know about how this sign-in is kept. */
export function storageText(status: StorageStatus): { kept: boolean; text: string } {
  switch (status) {
    case "keychain":
      return { kept: true, text: "This sign-in is kept in your system's keychain, so qr-login stays signed in after you quit." };
    case "no_keyring":
      return {
        kept: false,
        text: "This computer has no keyring (such as GNOME Keyring or KWallet) for qr-login to keep your sign-in in, so it is not saved: qr-login forgets it when you quit. Install or unlock a keyring to stay signed in.",
      };
    case "unavailable":
      return { kept: false, text: "Your system offers qr-login no encrypted storage, so this sign-in is not saved: qr-login forgets it when you quit." };
  }
}

export function signInErrorText(code: SignInErrorCode): { title: string; body: string } {
  switch (code) {
    case "invalid_homeserver":
      return { title: "Check the homeserver address", body: "That is not a homeserver address." };
    case "homeserver_unreachable":
      return { title: "Can't reach the homeserver", body: "Check the address and your internet connection, then try again." };
    case "homeserver_lacks_support":
      return { title: "This homeserver can't be used", body: "Your homeserver doesn't offer the sign-in qr-login uses (OAuth 2.0, also called next-generation auth). Its administrator can enable it." };
    case "browser_failed":
      return { title: "Couldn't open the browser", body: "qr-login could not open your web browser for the sign-in page." };
    case "timeout":
      return { title: "The sign-in was not completed in time", body: "The browser did not come back to qr-login in time. Please try again." };
    case "declined":
      return { title: "Sign in declined", body: "The sign-in was declined in the browser." };
    case "invalid_recovery_key":
      return { title: "The recovery key didn't work", body: "None of the keys entered unlocks your account's keys. Find your recovery key (saved when you set up recovery) and try again." };
    case "no_secret_storage":
      return { title: "Set up recovery first", body: "Your account has no recovery key yet. Set up recovery in another app where you are signed in (Settings → Security), then try again." };
    case "secrets_unavailable":
      return { title: "Your keys are incomplete", body: "Your account's recovery does not hold all of its cross-signing keys. Reset your recovery in another app, then try again." };
    case "unsafe_url":
      return {
        title: "qr-login did not open the sign-in page",
        body: "Your homeserver's account provider gave a sign-in page that is not a secure web address (https), so qr-login did not open it. Someone may be interfering; tell your homeserver's administrator.",
      };
    case "unknown":
      return { title: "Something went wrong", body: "The sign-in could not be completed. Please try again." };
  }
}
