// What the app does when something happens: the user acts on a screen, main sends an event or answers a
// request, a timer fires. update() is pure: it returns the next state (the screen, from view-model.ts)
// and the effects to run, as data — call a request of main, fire a message later — which main.ts
// carries out. So the policies below are unit-tested in Node without a DOM or a timer:
//   - a QR that expires while it is on screen is replaced, after a short pause, instead of failing;
//     one that is still up 3 s after its expiry (the flow did not replace it) is replaced too;
//   - "Try again" retries the flow, and starts it afresh when main no longer knows it (invalid_request,
//     after a reload);
//   - a scanned code that is not a sign-in code is a scanning problem, not the end of the flow;
//   - "Show a QR code" on the new device asks for a homeserver unless a rendezvous server is configured;
//   - an account change reloads the app info (the window label names the account).
import type { ChannelSide, DeviceRole } from "../contract/flow.js";
import type { RequestArgs, RequestName, RequestResult } from "../contract/ipc.js";
import type { AppInfoResult, CallResult, StartResult } from "../contract/schemas.js";
import { copy } from "./copy.js";
import { reduce, type Action, type ViewState } from "./view-model.js";

/** What main answered, by what to do with the answer. */
interface Replies {
  /** start: the flow runs, or its error screen. */
  started: StartResult;
  /** retry after an error: main forgets a flow whose window was reloaded; start afresh then. */
  retried: StartResult;
  /** A request whose failure is an error screen. */
  done: CallResult;
  /** submitQr: a code that is not a sign-in code is a scanning problem. */
  qr_submitted: CallResult;
  server_check_started: CallResult;
  /** cancel, cancelSignIn: back to the start, whatever main said. */
  cancelled: CallResult;
  /** "No, cancel" on "Is this your account?": then cancel the flow. */
  account_declined: CallResult;
  /** Back from the server check (which cancel stopped) to its error. */
  server_check_left: CallResult;
  app_info: AppInfoResult;
}
export type ReplyName = keyof Replies;
export type Reply = { [R in ReplyName]: { type: "reply"; to: R; result: Replies[R] } }[ReplyName];

/** What the user does on a screen, and the timers' messages. */
export type Intent =
  | { type: "boot" }
  | { type: "side_chosen"; role: DeviceRole; side: ChannelSide }
  | { type: "scan_now"; role: DeviceRole }
  | { type: "homeserver_entered"; value: string }
  | { type: "recovery_key_entered"; value: string }
  | { type: "qr_scanned"; bytes: Uint8Array }
  | { type: "check_code_entered"; code: string }
  | { type: "account_confirmed"; accept: boolean }
  | { type: "open_verification_uri" }
  | { type: "open_sign_in_page" }
  | { type: "cancel_sign_in" }
  | { type: "sign_out" }
  | { type: "cancel" }
  | { type: "retry" }
  | { type: "check_server" }
  | { type: "leave_server_check" }
  /** The pause before a fresh QR is over. */
  | { type: "regenerate_now" }
  /** The QR that expires at `expiresAt` should have been replaced by now. */
  | { type: "qr_overdue"; expiresAt: number };

export type Msg = Action | Intent | Reply;

/** A request to main, and where its answer goes. */
export type Call = { type: "call"; request: RequestName; args: readonly unknown[]; reply: ReplyName };
export type Effect = Call | { type: "after"; ms: number; msg: Msg } | { type: "at"; time: number; msg: Msg };

export interface Update {
  state: ViewState;
  effects: Effect[];
}

/** The replies whose result type is exactly the request's (so an answer cannot go to the wrong handler). */
type ReplyFor<K extends RequestName> = { [R in ReplyName]: [RequestResult<K>] extends [Replies[R]] ? ([Replies[R]] extends [RequestResult<K>] ? R : never) : never }[ReplyName];

function call<K extends RequestName>(request: K, args: RequestArgs<K>, reply: ReplyFor<K>): Call {
  return { type: "call", request, args, reply };
}

/** The pause before a fresh QR, so the old code visibly goes away instead of flickering (Element does the same). */
export const REGENERATE_PAUSE_MS = 1000;
/** How long past its expiry a QR may stay up before the app replaces it itself. */
export const QR_OVERDUE_MS = 3000;

const only = (state: ViewState): Update => ({ state, effects: [] });
const and = (state: ViewState, ...effects: Effect[]): Update => ({ state, effects });

/** Replace the QR on screen with a fresh one (once: a second expiry during the pause changes nothing). */
function regenerate(s: ViewState): Update {
  if (s.screen.name !== "show_qr" || s.screen.regenerating) return only(s);
  return and(reduce(s, { type: "regenerating" }), { type: "after", ms: REGENERATE_PAUSE_MS, msg: { type: "regenerate_now" } });
}

function onReply(s: ViewState, r: Reply): Update {
  const fail = (result: { ok: boolean; error?: unknown }): Update => (result.ok ? only(s) : only(reduce(s, { type: "local_error", error: (result as Extract<CallResult, { ok: false }>).error })));
  switch (r.to) {
    case "started":
      return r.result.ok ? only(reduce(s, { type: "started", flowId: r.result.flowId })) : fail(r.result);
    case "retried":
      if (!r.result.ok && r.result.error.code === "invalid_request" && s.role && s.side) return and(s, call("start", [{ role: s.role, side: s.side }], "started"));
      return onReply(s, { type: "reply", to: "started", result: r.result });
    case "done":
      return fail(r.result);
    case "qr_submitted": {
      if (r.result.ok) return only(s);
      // A code that is not a sign-in code is a scanning problem, not the end of the flow: scan again.
      if (r.result.error.code !== "wrong_qr_code") return fail(r.result);
      const t = copy.errors.wrong_qr_code;
      return only(reduce(s, { type: "scan_problem", problem: `${t.title}. ${t.body}` }));
    }
    case "server_check_started":
      if (r.result.ok) return only(s);
      return only(reduce(s, { type: "server_check_event", event: { type: "failed", message: r.result.error.message || copy.serverCheck.notStarted } }));
    case "cancelled":
      return only(reduce(s, { type: "reset" }));
    case "account_declined":
      return and(s, call("cancel", [], "cancelled"));
    case "server_check_left":
      return only(reduce(s, { type: "server_check_back" }));
    case "app_info":
      return r.result.ok ? only(reduce(s, { type: "app_info", info: r.result.info })) : only(s);
  }
}

function onIntent(s: ViewState, i: Intent): Update {
  switch (i.type) {
    case "boot": {
      const effects: Effect[] = [call("getAppInfo", [], "app_info")];
      if (s.role && s.side === "show") effects.push(call("start", [{ role: s.role, side: "show" }], "started"));
      return and(s, ...effects);
    }
    case "side_chosen":
      // The new device showing a QR needs a homeserver to carry the session, unless one is configured.
      if (i.side === "show" && i.role === "new" && !s.app?.rendezvousConfigured) return only(reduce(s, { type: "want_homeserver_for_qr" }));
      if (i.side === "scan") return only(reduce(s, { type: "choose_side", side: "scan" }));
      return and(reduce(s, { type: "choose_side", side: "show" }), call("start", [{ role: i.role, side: "show" }], "started"));
    case "scan_now":
      return and(reduce(s, { type: "ready_to_scan" }), call("start", [{ role: i.role, side: "scan" }], "started"));
    case "homeserver_entered": {
      const value = i.value.trim();
      if (s.screen.name !== "homeserver") return only(s);
      if (value === "") return only(reduce(s, { type: "homeserver_problem", value, problem: copy.homeserver.empty }));
      if (s.screen.purpose === "sign_in") return and(reduce(s, { type: "signing_in", value }), call("signIn", [value], "done"));
      return and(reduce(s, { type: "choose_side", side: "show" }), call("start", [{ role: "new", side: "show", homeserver: value }], "started"));
    }
    case "recovery_key_entered":
      // A recovery key is 48 base58 characters (no 0, O, I or l), usually written in groups of four.
      if (!/^[1-9A-HJ-NP-Za-km-z]{48}$/.test(i.value.replace(/\s+/g, ""))) return only(reduce(s, { type: "recovery_key_problem", problem: copy.recoveryKey.invalid }));
      return and(reduce(s, { type: "checking_recovery_key" }), call("submitRecoveryKey", [i.value], "done"));
    case "qr_scanned":
      return and(s, call("submitQr", [i.bytes], "qr_submitted"));
    case "check_code_entered":
      return and(s, call("submitCheckCode", [i.code], "done"));
    case "account_confirmed":
      return and(s, call("confirmAccount", [i.accept], i.accept ? "done" : "account_declined"));
    case "open_verification_uri":
      return and(s, call("openVerificationUri", [], "done"));
    case "open_sign_in_page":
      return and(s, call("openSignInPage", [], "done"));
    case "cancel_sign_in":
      return and(s, call("cancelSignIn", [], "cancelled"));
    case "sign_out":
      return and(s, call("signOut", [], "done"));
    case "cancel":
      return and(s, call("cancel", [], "cancelled"));
    case "retry": {
      const { role, side } = s;
      if (!role || !side) return only(reduce(s, { type: "reset" }));
      return and(reduce(s, side === "scan" ? { type: "ready_to_scan" } : { type: "choose_side", side: "show" }), call("retry", [], "retried"));
    }
    case "check_server":
      return and(reduce(s, { type: "server_check" }), call("checkServer", [], "server_check_started"));
    case "leave_server_check":
      return and(s, call("cancel", [], "server_check_left"));
    case "regenerate_now":
      return and(s, call("retry", [], "started"));
    case "qr_overdue":
      // The flow usually replaces an expired code itself (a new "qr" event); start over only if it did not.
      return s.screen.name === "show_qr" && s.screen.expiresAt === i.expiresAt ? regenerate(s) : only(s);
  }
}

export function update(s: ViewState, msg: Msg): Update {
  switch (msg.type) {
    case "reply":
      return onReply(s, msg);
    case "event": {
      const e = msg.event;
      // Expiry while our QR is still waiting to be scanned is not an error: show a fresh code instead.
      if (e.type === "error" && e.error.code === "expired" && s.screen.name === "show_qr" && e.flowId === s.flowId) return regenerate(s);
      const next = reduce(s, msg);
      if (e.type === "qr" && next.screen.name === "show_qr") return and(next, { type: "at", time: e.expiresAt + QR_OVERDUE_MS, msg: { type: "qr_overdue", expiresAt: e.expiresAt } });
      return only(next);
    }
    case "account_event":
      // The window label names the account: ask main for it again.
      return msg.event.type === "account" ? and(reduce(s, msg), call("getAppInfo", [], "app_info")) : only(reduce(s, msg));
    case "boot":
    case "side_chosen":
    case "scan_now":
    case "homeserver_entered":
    case "recovery_key_entered":
    case "qr_scanned":
    case "check_code_entered":
    case "account_confirmed":
    case "open_verification_uri":
    case "open_sign_in_page":
    case "cancel_sign_in":
    case "sign_out":
    case "cancel":
    case "retry":
    case "check_server":
    case "leave_server_check":
    case "regenerate_now":
    case "qr_overdue":
      return onIntent(s, msg);
    default:
      // The rest only changes what is on screen (an intent missing above would not compile here).
      return only(reduce(s, msg));
  }
}
