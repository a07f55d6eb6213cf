// Every value that crosses between Electron main and the renderer, declared once as a valibot schema:
// the TypeScript type is inferred from it, and main checks each value against it (contract/ipc.ts).
//
// Requests come from the renderer and are untrusted: their schemas are strict (an unexpected field, a
// wrong type, a string too long: refused). What main sends back is rebuilt from the schema's fields
// only (valibot's `object` drops any other key), which is what guarantees that a flow object carrying a
// token or a secrets bundle can never leak it to the renderer by accident; free text from main is cut
// to a length rather than refused.
import * as v from "valibot";
import { SERVER_CHECK_STATUSES, SIGN_IN_ERROR_CODES, SIGN_IN_STATES, STORAGE_STATUSES, VERDICT_STATUSES } from "./account.js";
import { FAILURE_REASONS, FLOW_ERROR_CODES } from "./failures.js";
import { CHANNEL_SIDES, DEVICE_ROLES, FLOW_STATES, MAX_HOMESERVER_INPUT, MAX_QR_PAYLOAD, MAX_RECOVERY_KEY_INPUT, PROTOCOL_VERSIONS, SECRETS_STEPS, STEP_STATUSES } from "./flow.js";

// ---- building blocks -------------------------------------------------------------------------------

/** A non-empty string of at most `max` characters. */
const str = (max = 2048) => v.pipe(v.string(), v.minLength(1), v.maxLength(max));

/** Free text from main: non-empty, cut to `max` characters. */
const text = (max: number) => v.pipe(v.string(), v.minLength(1), v.maxLength(100_000), v.transform((s) => s.slice(0, max)));

/** A message that may be missing or empty (then ""), cut to `max` characters. */
const message = (max: number) => v.pipe(v.fallback(v.string(), ""), v.transform((s) => s.slice(0, max)));

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === "https:" || u.protocol === "http:";
  } catch {
    return false;
  }
}

/** An http(s) URL: nothing else (javascript:, file:) is ever shown as a link or an address. */
const httpUrl = v.pipe(str(), v.check(isHttpUrl, "not an http(s) URL"));

/** Bytes: 1..MAX_QR_PAYLOAD, copied so the receiver owns them. */
const qrBytes = v.pipe(v.instance(Uint8Array), v.minLength(1), v.maxLength(MAX_QR_PAYLOAD), v.transform((b): Uint8Array => new Uint8Array(b)));

/** A doctor check id ("rendezvous-2025.create"): never a path or markup. */
const checkId = v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9.-]{0,63}$/));

// ---- requests (renderer → main) --------------------------------------------------------------------

export const StartOptions = v.strictObject({
  role: v.picklist(DEVICE_ROLES),
  side: v.picklist(CHANNEL_SIDES),
  /**
   * New device showing a QR without a configured rendezvous server: the homeserver the user typed
   * (its rendezvous endpoint carries the session). Ignored otherwise.
   */
  homeserver: v.optional(str(MAX_HOMESERVER_INPUT)),
});
export type StartOptions = v.InferOutput<typeof StartOptions>;

/** S: the raw bytes decoded from a QR code (byte mode). Main parses them. */
export const QrPayload = qrBytes;
/** G: exactly two ASCII digits (the channel checks the range of its version). */
export const CheckCode = v.pipe(v.string(), v.regex(/^[0-9]{2}$/, "expected two digits"));
/** What the user typed; main/app/homeserver-input.ts makes sense of it. */
export const HomeserverInput = str(MAX_HOMESERVER_INPUT);
/** Base58 in groups: letters, digits and spaces only. The key stays in main; it is never sent back. */
export const RecoveryKey = v.pipe(str(MAX_RECOVERY_KEY_INPUT), v.regex(/^[A-Za-z0-9 \t\r\n-]+$/, "not a recovery key"));

// ---- errors and results (main → renderer) ------------------------------------------------------------

export const FlowError = v.object({
  code: v.picklist(FLOW_ERROR_CODES),
  /** Short human-readable detail (never a stack trace). */
  message: message(500),
  /** The MSC4108 m.login.failure reason, when the error came from (or was sent to) the peer. */
  reason: v.optional(v.picklist(FAILURE_REASONS)),
  /** The cause may lie with the server: the error screen offers "Check this server" (checkServer()). */
  checkServer: v.exactOptional(v.literal(true)),
});
export type FlowError = v.InferOutput<typeof FlowError>;

const failed = v.object({ ok: v.literal(false), error: FlowError });

/** Result of a request: ok, or a typed error (never a thrown stack trace across IPC). */
export const CallResult = v.variant("ok", [v.object({ ok: v.literal(true) }), failed]);
export type CallResult = v.InferOutput<typeof CallResult>;

export const StartResult = v.variant("ok", [v.object({ ok: v.literal(true), flowId: v.pipe(v.number(), v.safeInteger(), v.minValue(1)) }), failed]);
export type StartResult = v.InferOutput<typeof StartResult>;

/** This app's own account. `verified: false`: signed in by QR, but the device is not cross-signed (it cannot link devices). */
const Account = v.object({ userId: str(255), homeserver: httpUrl, verified: v.exactOptional(v.literal(false)) });
export type Account = v.InferOutput<typeof Account>;

/** What a window shows about the app: asked once over IPC (never on a renderer's command line). */
export const AppInfo = v.object({
  /** Window label, e.g. "Existing device — signed in as @alice". */
  label: message(200),
  account: v.nullable(Account),
  storage: v.picklist(STORAGE_STATUSES),
  /** A homeserver to prefill in the sign-in field (--homeserver). */
  homeserverHint: v.nullable(str(MAX_HOMESERVER_INPUT)),
  /** The new device can show a QR without asking for a homeserver (a rendezvous server is configured). */
  rendezvousConfigured: v.boolean(),
  /** The embedded development stack (npm start, --dev): where to approve sign-ins, and as whom. */
  dev: v.nullable(v.object({ homeserver: httpUrl, username: str(64), password: str(128) })),
});
export type AppInfo = v.InferOutput<typeof AppInfo>;

export const AppInfoResult = v.variant("ok", [v.object({ ok: v.literal(true), info: AppInfo }), failed]);
export type AppInfoResult = v.InferOutput<typeof AppInfoResult>;

// ---- events (main → renderer) ----------------------------------------------------------------------

const flowId = v.pipe(v.number(), v.safeInteger(), v.minValue(1));
const event = <T extends string, E extends v.ObjectEntries>(type: T, entries: E) => v.object({ type: v.literal(type), flowId, ...entries });

/** One progress event of a flow. `flowId` tells events of a restarted flow from stale ones. */
export const ProgressEvent = v.variant("type", [
  event("state", { state: v.picklist(FLOW_STATES) }),
  /** The version this flow speaks, once the QR is made or scanned (shown in a details line). */
  event("protocol", { version: v.picklist(PROTOCOL_VERSIONS) }),
  /** G: the QR payload to draw, and when the rendezvous session expires (ms since epoch). */
  event("qr", { payload: qrBytes, expiresAt: v.pipe(v.number(), v.finite()) }),
  /** S: the two-digit code to show; the user types it on the other device. */
  event("check_code", { code: CheckCode }),
  /** G: ask the user to type the code shown on the other device. `mismatch`: the last try was wrong. */
  event("check_code_prompt", { mismatch: v.boolean() }),
  /** New device: the OAuth user code the consent page may show, and where consent happens. */
  event("user_code", { userCode: str(64), verificationUri: httpUrl }),
  /** Existing device: main is opening (opened: false) or has opened the browser for consent. */
  event("open_browser", { verificationUri: httpUrl, opened: v.boolean() }),
  /** Waiting for the user to consent in the browser. */
  event("waiting_for_consent", {}),
  /** Ask the user to confirm the account before continuing (new device: "sign in as …?"). */
  event("confirm_account", { userId: str(255), homeserver: str(255), deviceId: v.optional(str(255)) }),
  event("secrets", { step: v.picklist(SECRETS_STEPS), status: v.picklist(STEP_STATUSES) }),
  event("success", { userId: str(255), deviceId: str(255), verified: v.boolean() }),
  event("error", { error: FlowError }),
]);
export type ProgressEvent = v.InferOutput<typeof ProgressEvent>;
export type ProgressEventType = ProgressEvent["type"];

/** Events about this app's own account (sent to the window that asked, and on changes to all). */
export const AccountEvent = v.variant("type", [
  v.object({ type: v.literal("sign_in_state"), state: v.picklist(SIGN_IN_STATES) }),
  /** The authorization page in the system browser (public: it carries no secret, the browser has it). */
  v.object({ type: v.literal("sign_in_browser"), url: httpUrl, opened: v.boolean() }),
  /** Type the recovery key; `retry`: the last one did not unlock the secrets. */
  v.object({ type: v.literal("recovery_key_prompt"), retry: v.boolean(), attemptsLeft: v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(10)) }),
  v.object({ type: v.literal("sign_in_error"), code: v.picklist(SIGN_IN_ERROR_CODES), message: message(300) }),
  /** The account changed: signed in (by either way), or signed out (account null). */
  v.object({ type: v.literal("account"), account: v.nullable(Account), storage: v.picklist(STORAGE_STATUSES), saved: v.boolean() }),
]);
export type AccountEvent = v.InferOutput<typeof AccountEvent>;

/** One deployment check's result. */
export const ServerCheck = v.object({
  id: checkId,
  status: v.picklist(SERVER_CHECK_STATUSES),
  /** What was seen. */
  summary: text(1_000),
  /** What the server's administrator can change; null when nothing. */
  fix: v.nullable(text(1_000)),
});
export type ServerCheck = v.InferOutput<typeof ServerCheck>;

/** Which clients can sign in with this server, and how. */
const ServerVerdict = v.object({ clients: text(200), status: v.picklist(VERDICT_STATUSES), summary: text(1_000) });
export type ServerVerdict = v.InferOutput<typeof ServerVerdict>;

/** "Check this server": the deployment checks of `qr-login doctor` (main/doctor), as the renderer shows them. */
export const ServerCheckEvent = v.variant("type", [
  /** The checks that will run, with their titles, and the server they run against. */
  v.object({ type: v.literal("plan"), target: text(MAX_HOMESERVER_INPUT), checks: v.pipe(v.array(v.object({ id: checkId, title: text(200) })), v.minLength(1), v.maxLength(40)) }),
  /** A check is running (what it does right now). */
  v.object({ type: v.literal("running"), id: checkId, detail: text(300) }),
  v.object({ type: v.literal("result"), check: ServerCheck }),
  v.object({ type: v.literal("done"), ok: v.boolean(), verdict: v.pipe(v.array(ServerVerdict), v.maxLength(5)) }),
  /** The check itself could not run (never a stack trace). */
  v.object({ type: v.literal("failed"), message: text(300) }),
]);
export type ServerCheckEvent = v.InferOutput<typeof ServerCheckEvent>;
