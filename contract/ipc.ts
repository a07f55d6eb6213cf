// The IPC table: every request the renderer may make of Electron main, and every event main sends, each
// declared once with its channel and schemas. Everything else is derived from it:
//   - the API the renderer gets, `window.qrLogin` (QrLoginApi, below), which preload/index.ts builds by
//     walking the table: one method per request, one subscription per event;
//   - main's handlers (main/app/ipc.ts): one `ipcMain.handle` per request, whose arguments are checked
//     against `args` before the handler runs and whose result is rebuilt through `result`; events are
//     rebuilt through their schema before `webContents.send`.
// Adding a request is one line here and its handler in main/app/ipc.ts (the compiler asks for it).
import * as v from "valibot";
import type { ChannelSide, DeviceRole } from "./flow.js";
import { AccountEvent, AppInfoResult, CallResult, CheckCode, HomeserverInput, ProgressEvent, QrPayload, RecoveryKey, ServerCheckEvent, StartOptions, StartResult } from "./schemas.js";

interface Request<A extends v.GenericSchema[], R extends v.GenericSchema> {
  readonly channel: string;
  /** The arguments, after the IPC event: exactly these, in this order. */
  readonly args: v.StrictTupleSchema<A, undefined>;
  readonly result: R;
}

function request<const A extends v.GenericSchema[], R extends v.GenericSchema>(channel: string, args: A, result: R): Request<A, R> {
  return { channel, args: v.strictTuple(args), result };
}

/** One channel per request: no generic "invoke anything" channel. */
export const REQUESTS = {
  /** Start (or restart) this window's flow. */
  start: request("qr-login:start", [StartOptions], StartResult),
  /** S: the raw bytes decoded from a QR code (byte mode). Main parses them. */
  submitQr: request("qr-login:submit-qr", [QrPayload], CallResult),
  /** G: the two digits the user typed. */
  submitCheckCode: request("qr-login:submit-check-code", [CheckCode], CallResult),
  /** Answer a confirm_account prompt. */
  confirmAccount: request("qr-login:confirm-account", [v.boolean()], CallResult),
  /** Existing device: open the flow's verification URI in the system browser again (fallback button). */
  openVerificationUri: request("qr-login:open-verification-uri", [], CallResult),
  cancel: request("qr-login:cancel", [], CallResult),
  /** Start again with the same options after an error. */
  retry: request("qr-login:retry", [], StartResult),
  /** The app's state for this window: label, account, how a sign-in is kept, the dev stack. */
  getAppInfo: request("qr-login:get-app-info", [], AppInfoResult),
  /** "Sign in to your account": OAuth 2.0 in the system browser, then the recovery key. */
  signIn: request("qr-login:sign-in", [HomeserverInput], CallResult),
  /** Answer a recovery_key_prompt. The key stays in main; it is never sent back. */
  submitRecoveryKey: request("qr-login:submit-recovery-key", [RecoveryKey], CallResult),
  /** Open the authorization page in the system browser again. */
  openSignInPage: request("qr-login:open-sign-in-page", [], CallResult),
  cancelSignIn: request("qr-login:cancel-sign-in", [], CallResult),
  /** Forget this app's session (and revoke it at the account provider). */
  signOut: request("qr-login:sign-out", [], CallResult),
  /** After an error with `checkServer`: check the server that flow used (events on onServerCheck; cancel() stops it). */
  checkServer: request("qr-login:check-server", [], CallResult),
} as const;

export type RequestName = keyof typeof REQUESTS;
export type RequestArgs<K extends RequestName> = v.InferOutput<(typeof REQUESTS)[K]["args"]>;
export type RequestResult<K extends RequestName> = v.InferOutput<(typeof REQUESTS)[K]["result"]>;

/** Progress events: one channel per role (each window runs one flow). */
export const PROGRESS_CHANNELS: Readonly<Record<DeviceRole, string>> = {
  new: "qr-login:progress:new-device",
  existing: "qr-login:progress:existing-device",
};

/** Account events: the app's own sign-in (to the window that asked, and on changes to all). */
export const ACCOUNT_CHANNEL = "qr-login:account";

/** The server check's progress, to the window that asked. */
export const SERVER_CHECK_CHANNEL = "qr-login:server-check";

/** Events main sends, by the API method that subscribes to them. */
export const EVENTS = {
  onProgress: { channels: Object.values(PROGRESS_CHANNELS), schema: ProgressEvent },
  onAccount: { channels: [ACCOUNT_CHANNEL], schema: AccountEvent },
  onServerCheck: { channels: [SERVER_CHECK_CHANNEL], schema: ServerCheckEvent },
} as const;

export type EventName = keyof typeof EVENTS;
export type EventOf<K extends EventName> = v.InferOutput<(typeof EVENTS)[K]["schema"]>;

/** The object exposed as `window.qrLogin`. */
export type QrLoginApi = { readonly [K in RequestName]: (...args: RequestArgs<K>) => Promise<RequestResult<K>> } & {
  /** Receive events; returns the unsubscribe function. */
  readonly [K in EventName]: (listener: (event: EventOf<K>) => void) => () => void;
} & {
  /** This window's configured role and side (from the command line), so the UI can skip "choose role". */
  readonly initial: { role: DeviceRole | null; side: ChannelSide | null };
};

/** Each request's channel, by name (derived from REQUESTS: for tests and tools that speak to main). */
export const REQUEST_CHANNELS = Object.fromEntries(Object.entries(REQUESTS).map(([name, r]) => [name, r.channel])) as { readonly [K in RequestName]: string };
