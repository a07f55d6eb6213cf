// The renderer's state: which screen, with what data. A pure reducer over main's progress events and
// the user's local choices, so every screen is reachable from plain data (and testable). What the app
// then does (call main, start a timer) is decided by renderer/policy.ts; the words come from copy.ts.
import type { SignInErrorCode, SignInState, StorageStatus } from "../contract/account.js";
import { SECRETS_STEPS, type ChannelSide, type DeviceRole, type ProtocolVersion, type SecretsStep, type StepStatus } from "../contract/flow.js";
import type { Account, AccountEvent, AppInfo, FlowError, ProgressEvent, ServerCheckEvent } from "../contract/schemas.js";
import { copy } from "./copy.js";
import { onServerCheckEvent, serverCheckScreen, type ServerCheckScreen } from "./server-check-model.js";

export type ScanSource = "camera" | "screen";

export type { Account };

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
  | { name: "loading"; what: keyof typeof copy.loading }
  | { name: "show_qr"; payload: Uint8Array; expiresAt: number; regenerating: boolean }
  | { name: "connecting" }
  | { name: "check_code"; code: string }
  | { name: "check_code_entry"; mismatch: boolean; attempt: number }
  | { name: "open_browser"; verificationUri: string; opened: boolean; consentPending: boolean }
  | { name: "user_code"; userCode: string; verificationUri: string }
  | { name: "confirm_account"; userId: string; homeserver: string; deviceId: string | null }
  | { name: "waiting"; what: keyof typeof copy.waiting }
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
  const base: ViewState = { fixedRole: role, role, side, app: null, account: null, storage: "unavailable", flowId: null, screen: { name: "loading", what: "starting" }, status: "", protocol: null };
  if (role === null) return base;
  if (side === null) return { ...base, screen: { name: "choose_side", role } };
  return { ...base, screen: side === "scan" ? { name: "prescan_warning", role } : { name: "loading", what: "qr" } };
}

/** Where "Done", "Cancel" and "Back" lead: the fixed role's start, or the account's home / first run. */
function rootState(s: ViewState): ViewState {
  const base = { ...s, flowId: null, status: "" };
  if (s.fixedRole) return { ...base, role: s.fixedRole, side: null, screen: { name: "choose_side", role: s.fixedRole } };
  if (!s.app) return { ...base, role: null, side: null, screen: { name: "loading", what: "starting" } };
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
        status: copy.signInStates[e.state],
      };
    case "sign_in_browser":
      if (!signingIn) return s;
      return { ...s, screen: { name: "sign_in_progress", state: "waiting_for_browser", url: e.url, opened: e.opened }, status: e.opened ? copy.status.browserOpenedSignIn : copy.status.openingBrowserSignIn };
    case "recovery_key_prompt":
      if (!signingIn) return s;
      return {
        ...s,
        screen: { name: "recovery_key", retry: e.retry, attemptsLeft: e.attemptsLeft, checking: false, problem: e.retry ? copy.recoveryKey.retry(e.attemptsLeft) : null },
        status: e.retry ? copy.recoveryKey.retry(e.attemptsLeft) : copy.status.enterRecoveryKey,
      };
    case "sign_in_error":
      if (!signingIn) return s;
      if (e.code === "invalid_homeserver") {
        const value = sc.name === "homeserver" ? sc.value : "";
        return { ...s, screen: { name: "homeserver", purpose: "sign_in", value, problem: e.message }, status: e.message };
      }
      return { ...s, screen: { name: "sign_in_error", code: e.code, message: e.message }, status: copy.signInErrors[e.code].title };
    case "account": {
      const next = { ...s, account: e.account, storage: e.storage };
      if (signingIn && e.account) return { ...next, screen: { name: "signed_in", account: e.account }, status: copy.status.signedInAs(e.account.userId) };
      if (sc.name === "home" || sc.name === "welcome" || sc.name === "loading") return rootState(next);
      return next;
    }
  }
}

function emptySteps(): Record<SecretsStep, StepStatus> {
  return Object.fromEntries(SECRETS_STEPS.map((s) => [s, "pending"])) as Record<SecretsStep, StepStatus>;
}

const WAITING = copy.waiting.otherDevice;

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
      return { ...s, screen: { name: "sign_in_progress", state: "discovering", url: null, opened: false }, status: copy.signInStates.discovering };
    case "checking_recovery_key":
      if (s.screen.name !== "recovery_key") return s;
      return { ...s, screen: { ...s.screen, checking: true, problem: null }, status: copy.recoveryKey.checking };
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
      return { ...s, side: "show", flowId: null, protocol: null, screen: { name: "loading", what: "qr" }, status: copy.status.loadingQr };
    }
    case "ready_to_scan":
      if (!s.role) return s;
      return { ...s, flowId: null, protocol: null, screen: { name: "scan", role: s.role, source: null, problem: null }, status: copy.status.readyToScan };
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
      return { ...s, screen: { ...s.screen, regenerating: true }, status: copy.status.qrExpired };
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
      return { ...s, screen: serverCheckScreen(s.screen.error), status: copy.status.checkingServer };
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
          return s.side === "scan" ? s : { ...s, screen: { name: "loading", what: "qr" }, status: copy.status.loadingQr };
        case "waiting_for_scan":
          return s;
        case "connecting":
          return { ...s, screen: { name: "connecting" }, status: copy.status.connecting };
        case "waiting_for_other_device":
          if (sc.name === "check_code" || sc.name === "user_code" || sc.name === "open_browser" || sc.name === "secrets") return { ...s, status: WAITING };
          return { ...s, screen: { name: "waiting", what: "otherDevice" }, status: WAITING };
        case "completing":
          if (sc.name === "secrets") return s;
          return { ...s, screen: { name: "secrets", role, steps: emptySteps() }, status: role === "new" ? copy.secrets.titleNew : copy.secrets.titleExisting };
      }
      return s;
    case "protocol":
      return { ...s, protocol: e.version };
    case "qr":
      return { ...s, screen: { name: "show_qr", payload: e.payload, expiresAt: e.expiresAt, regenerating: false }, status: copy.status.qrReady };
    case "check_code":
      return { ...s, screen: { name: "check_code", code: e.code }, status: copy.status.checkCode(e.code) };
    case "check_code_prompt": {
      const attempt = sc.name === "check_code_entry" ? sc.attempt + 1 : 0;
      return {
        ...s,
        screen: { name: "check_code_entry", mismatch: e.mismatch, attempt },
        status: e.mismatch ? copy.checkCodeEntry.mismatch : copy.status.enterCheckCode,
      };
    }
    case "user_code":
      return { ...s, screen: { name: "user_code", userCode: e.userCode, verificationUri: e.verificationUri }, status: copy.status.userCode(e.userCode) };
    case "open_browser":
      return {
        ...s,
        screen: { name: "open_browser", verificationUri: e.verificationUri, opened: e.opened, consentPending: sc.name === "open_browser" && sc.consentPending },
        status: e.opened ? copy.status.browserOpenedConsent : copy.status.openingBrowserConsent,
      };
    case "waiting_for_consent":
      if (sc.name === "open_browser") return { ...s, screen: { ...sc, consentPending: true }, status: copy.waiting.consent };
      if (sc.name === "user_code") return { ...s, status: WAITING };
      return { ...s, screen: { name: "waiting", what: "consent" }, status: copy.waiting.consent };
    case "confirm_account":
      return { ...s, screen: { name: "confirm_account", userId: e.userId, homeserver: e.homeserver, deviceId: e.deviceId ?? null }, status: copy.status.confirmAccount(e.userId) };
    case "secrets": {
      const steps = sc.name === "secrets" ? { ...sc.steps } : emptySteps();
      steps[e.step] = e.status;
      return { ...s, screen: { name: "secrets", role, steps }, status: copy.status.step(e.step, e.status) };
    }
    case "success":
      return {
        ...s,
        screen: { name: "success", role, userId: e.userId, deviceId: e.deviceId, verified: e.verified },
        status: role === "new" ? copy.status.signedInNew(e.userId, e.verified) : copy.status.linkedExisting(e.verified),
      };
    case "error":
      return { ...s, screen: { name: "error", error: e.error }, status: copy.errors[e.error.code].title };
  }
}

/** A check code that can match: MSC4388 (2025) codes are 10..99; the 2024 version's digits may start with 0. */
export function isPlausibleCheckCode(code: string, version: ProtocolVersion | null): boolean {
  return version === "2024" ? /^[0-9]{2}$/.test(code) : /^[1-9][0-9]$/.test(code);
}
