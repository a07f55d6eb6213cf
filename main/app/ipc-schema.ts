// Hand-written schemas for everything that crosses IPC. Requests from the renderer are untrusted input:
// each is checked field by field and rebuilt, so nothing but the expected shape reaches a flow. Events
// going out are rebuilt the same way from an allow-list of fields, which is what guarantees that a flow
// object carrying a token or a secrets bundle can never leak it to the renderer by accident.
import {
  FLOW_ERROR_CODES,
  FLOW_STATES,
  MAX_HOMESERVER_INPUT,
  MAX_QR_PAYLOAD,
  MAX_RECOVERY_KEY_INPUT,
  MSC4108_REASONS,
  PROTOCOL_VERSIONS,
  SECRETS_STEPS,
  SERVER_CHECK_STATUSES,
  SIGN_IN_ERROR_CODES,
  SIGN_IN_STATES,
  STORAGE_STATUSES,
  type AccountEvent,
  type AppInfo,
  type ChannelSide,
  type DeviceRole,
  type FlowError,
  type ProgressEvent,
  type ServerCheck,
  type ServerCheckEvent,
  type StartOptions,
  type StepStatus,
} from "../../preload/api.js";

export class ValidationError extends Error {
  override readonly name = "ValidationError";
}

type Rec = Record<string, unknown>;

function isRecord(v: unknown): v is Rec {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function oneOf<T extends string>(list: readonly T[], v: unknown, what: string): T {
  if (typeof v !== "string" || !(list as readonly string[]).includes(v)) throw new ValidationError(`${what}: not one of ${list.join(", ")}`);
  return v as T;
}

function str(v: unknown, what: string, max = 2048): string {
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw new ValidationError(`${what}: expected a non-empty string ≤ ${max} chars`);
  return v;
}

function onlyKeys(v: Rec, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw new ValidationError(`${what}: unexpected field "${k}"`);
}

/** Arguments of each request, after the IPC event. */
export function parseStartOptions(args: readonly unknown[]): StartOptions {
  if (args.length !== 1 || !isRecord(args[0])) throw new ValidationError("start: expected one options object");
  const o = args[0];
  onlyKeys(o, ["role", "side", "homeserver"], "start");
  const options: StartOptions = {
    role: oneOf<DeviceRole>(["new", "existing"], o.role, "start.role"),
    side: oneOf<ChannelSide>(["show", "scan"], o.side, "start.side"),
  };
  if (o.homeserver !== undefined) options.homeserver = str(o.homeserver, "start.homeserver", MAX_HOMESERVER_INPUT);
  return options;
}

/** signIn(homeserver): what the user typed; main/app/homeserver-input.ts makes sense of it. */
export function parseHomeserverArg(args: readonly unknown[]): string {
  if (args.length !== 1) throw new ValidationError("signIn: expected one string");
  return str(args[0], "signIn.homeserver", MAX_HOMESERVER_INPUT);
}

/** submitRecoveryKey(key): base58 in groups; letters, digits and spaces only. */
export function parseRecoveryKeyArg(args: readonly unknown[]): string {
  if (args.length !== 1) throw new ValidationError("submitRecoveryKey: expected one string");
  const key = str(args[0], "submitRecoveryKey.key", MAX_RECOVERY_KEY_INPUT);
  if (!/^[A-Za-z0-9 \t\r\n-]+$/.test(key)) throw new ValidationError("submitRecoveryKey: not a recovery key");
  return key;
}

/** A Uint8Array (structured clone keeps the type), 1..MAX_QR_PAYLOAD bytes. Copied, so main owns it. */
export function parseQrPayload(args: readonly unknown[]): Uint8Array {
  const v = args[0];
  if (args.length !== 1 || !(v instanceof Uint8Array)) throw new ValidationError("submitQr: expected one Uint8Array");
  if (v.length === 0 || v.length > MAX_QR_PAYLOAD) throw new ValidationError(`submitQr: payload must be 1..${MAX_QR_PAYLOAD} bytes`);
  return new Uint8Array(v);
}

/** Exactly two ASCII digits (the MSC4388 check code is 10..99, the channel checks the range). */
export function parseCheckCode(args: readonly unknown[]): string {
  const v = args[0];
  if (args.length !== 1 || typeof v !== "string" || !/^[0-9]{2}$/.test(v)) throw new ValidationError("submitCheckCode: expected two digits");
  return v;
}

export function parseConfirm(args: readonly unknown[]): boolean {
  if (args.length !== 1 || typeof args[0] !== "boolean") throw new ValidationError("confirmAccount: expected a boolean");
  return args[0];
}

export function parseNoArgs(name: string, args: readonly unknown[]): void {
  if (args.length !== 0) throw new ValidationError(`${name}: takes no arguments`);
}

const STEP_STATUSES: readonly StepStatus[] = ["pending", "active", "done", "failed"];

export function sanitizeFlowError(v: unknown): FlowError {
  if (!isRecord(v)) throw new ValidationError("error: not an object");
  const out: FlowError = {
    code: oneOf(FLOW_ERROR_CODES, v.code, "error.code"),
    message: typeof v.message === "string" ? v.message.slice(0, 500) : "",
  };
  if (v.reason !== undefined) out.reason = oneOf(MSC4108_REASONS, v.reason, "error.reason");
  if (v.checkServer === true) out.checkServer = true;
  return out;
}

const CHECK_ID = /^[a-z0-9][a-z0-9.-]{0,63}$/;
const text = (v: unknown, what: string, max: number): string => str(v, what, 100_000).slice(0, max);

function serverCheck(v: unknown): ServerCheck {
  if (!isRecord(v)) throw new ValidationError("server check: not an object");
  if (typeof v.id !== "string" || !CHECK_ID.test(v.id)) throw new ValidationError("server check.id: bad");
  return {
    id: v.id,
    status: oneOf(SERVER_CHECK_STATUSES, v.status, "server check.status"),
    summary: text(v.summary, "server check.summary", 1_000),
    fix: v.fix === null ? null : text(v.fix, "server check.fix", 1_000),
  };
}

/** Rebuild a server-check event (main/app/server-check.ts) from its allowed fields only. */
export function sanitizeServerCheckEvent(e: unknown): ServerCheckEvent {
  if (!isRecord(e)) throw new ValidationError("server check event: not an object");
  switch (e.type) {
    case "plan": {
      if (!Array.isArray(e.checks) || e.checks.length === 0 || e.checks.length > 40) throw new ValidationError("plan.checks: bad");
      const checks = e.checks.map((c: unknown) => {
        if (!isRecord(c) || typeof c.id !== "string" || !CHECK_ID.test(c.id)) throw new ValidationError("plan.checks[]: bad");
        return { id: c.id, title: text(c.title, "plan.checks[].title", 200) };
      });
      return { type: "plan", target: text(e.target, "plan.target", MAX_HOMESERVER_INPUT), checks };
    }
    case "running":
      if (typeof e.id !== "string" || !CHECK_ID.test(e.id)) throw new ValidationError("running.id: bad");
      return { type: "running", id: e.id, detail: text(e.detail, "running.detail", 300) };
    case "result":
      return { type: "result", check: serverCheck(e.check) };
    case "done": {
      if (typeof e.ok !== "boolean" || !Array.isArray(e.verdict) || e.verdict.length > 5) throw new ValidationError("done: bad");
      const verdict = e.verdict.map((v: unknown) => {
        if (!isRecord(v)) throw new ValidationError("done.verdict[]: bad");
        return { clients: text(v.clients, "verdict.clients", 200), status: oneOf(["pass", "warn", "fail"] as const, v.status, "verdict.status"), summary: text(v.summary, "verdict.summary", 1_000) };
      });
      return { type: "done", ok: e.ok, verdict };
    }
    case "failed":
      return { type: "failed", message: text(e.message, "failed.message", 300) };
    default:
      throw new ValidationError(`server check event.type: unknown ${String(e.type)}`);
  }
}

function httpUrl(v: unknown, what: string): string {
  const s = str(v, what);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ValidationError(`${what}: not a URL`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new ValidationError(`${what}: not http(s)`);
  return s;
}

function account(v: unknown, what: string): { userId: string; homeserver: string; verified?: false } | null {
  if (v === null) return null;
  if (!isRecord(v)) throw new ValidationError(`${what}: not an object`);
  const out = { userId: str(v.userId, `${what}.userId`, 255), homeserver: httpUrl(v.homeserver, `${what}.homeserver`) };
  // Only the "not verified" mark passes (a device signed in by QR that is not cross-signed).
  return v.verified === false ? { ...out, verified: false } : out;
}

/** Rebuild the app info a window gets (main/app/index.ts computes it; nothing else may ride along). */
export function sanitizeAppInfo(v: unknown): AppInfo {
  if (!isRecord(v)) throw new ValidationError("appInfo: not an object");
  const dev = v.dev;
  let devOut: AppInfo["dev"] = null;
  if (dev !== null) {
    if (!isRecord(dev)) throw new ValidationError("appInfo.dev: not an object");
    devOut = { homeserver: httpUrl(dev.homeserver, "appInfo.dev.homeserver"), username: str(dev.username, "appInfo.dev.username", 64), password: str(dev.password, "appInfo.dev.password", 128) };
  }
  return {
    label: typeof v.label === "string" ? v.label.slice(0, 200) : "",
    account: account(v.account, "appInfo.account"),
    storage: oneOf(STORAGE_STATUSES, v.storage, "appInfo.storage"),
    homeserverHint: v.homeserverHint === null ? null : str(v.homeserverHint, "appInfo.homeserverHint", MAX_HOMESERVER_INPUT),
    rendezvousConfigured: v.rendezvousConfigured === true,
    dev: devOut,
  };
}

/** Rebuild an account event from its allowed fields only (a session or a recovery key cannot pass). */
export function sanitizeAccountEvent(e: unknown): AccountEvent {
  if (!isRecord(e)) throw new ValidationError("account event: not an object");
  switch (e.type) {
    case "sign_in_state":
      return { type: "sign_in_state", state: oneOf(SIGN_IN_STATES, e.state, "sign_in_state.state") };
    case "sign_in_browser":
      return { type: "sign_in_browser", url: httpUrl(e.url, "sign_in_browser.url"), opened: e.opened === true };
    case "recovery_key_prompt": {
      const left = e.attemptsLeft;
      if (typeof left !== "number" || !Number.isSafeInteger(left) || left < 1 || left > 10) throw new ValidationError("recovery_key_prompt.attemptsLeft: bad");
      return { type: "recovery_key_prompt", retry: e.retry === true, attemptsLeft: left };
    }
    case "sign_in_error":
      return { type: "sign_in_error", code: oneOf(SIGN_IN_ERROR_CODES, e.code, "sign_in_error.code"), message: typeof e.message === "string" ? e.message.slice(0, 300) : "" };
    case "account":
      return { type: "account", account: account(e.account, "account.account"), storage: oneOf(STORAGE_STATUSES, e.storage, "account.storage"), saved: e.saved === true };
    default:
      throw new ValidationError(`account event.type: unknown ${String(e.type)}`);
  }
}

/**
 * Rebuild an outgoing event from its allowed fields only. Throws ValidationError on a malformed
 * event (a bug in a flow or its adapter): better to drop it than to send something unexpected.
 */
export function sanitizeEvent(e: unknown): ProgressEvent {
  if (!isRecord(e)) throw new ValidationError("event: not an object");
  const flowId = e.flowId;
  if (typeof flowId !== "number" || !Number.isSafeInteger(flowId) || flowId < 1) throw new ValidationError("event.flowId: bad");
  switch (e.type) {
    case "state":
      return { type: "state", flowId, state: oneOf(FLOW_STATES, e.state, "state") };
    case "protocol":
      return { type: "protocol", flowId, version: oneOf(PROTOCOL_VERSIONS, e.version, "protocol.version") };
    case "qr": {
      if (!(e.payload instanceof Uint8Array) || e.payload.length === 0 || e.payload.length > MAX_QR_PAYLOAD) throw new ValidationError("qr.payload: bad");
      if (typeof e.expiresAt !== "number" || !Number.isFinite(e.expiresAt)) throw new ValidationError("qr.expiresAt: bad");
      return { type: "qr", flowId, payload: new Uint8Array(e.payload), expiresAt: e.expiresAt };
    }
    case "check_code":
      if (typeof e.code !== "string" || !/^[0-9]{2}$/.test(e.code)) throw new ValidationError("check_code.code: bad");
      return { type: "check_code", flowId, code: e.code };
    case "check_code_prompt":
      return { type: "check_code_prompt", flowId, mismatch: e.mismatch === true };
    case "user_code":
      return { type: "user_code", flowId, userCode: str(e.userCode, "user_code.userCode", 64), verificationUri: httpUrl(e.verificationUri, "user_code.verificationUri") };
    case "open_browser":
      return { type: "open_browser", flowId, verificationUri: httpUrl(e.verificationUri, "open_browser.verificationUri"), opened: e.opened === true };
    case "waiting_for_consent":
      return { type: "waiting_for_consent", flowId };
    case "confirm_account": {
      const out: ProgressEvent = { type: "confirm_account", flowId, userId: str(e.userId, "confirm_account.userId", 255), homeserver: str(e.homeserver, "confirm_account.homeserver", 255) };
      if (e.deviceId !== undefined) out.deviceId = str(e.deviceId, "confirm_account.deviceId", 255);
      return out;
    }
    case "secrets":
      return { type: "secrets", flowId, step: oneOf(SECRETS_STEPS, e.step, "secrets.step"), status: oneOf(STEP_STATUSES, e.status, "secrets.status") };
    case "success":
      if (typeof e.verified !== "boolean") throw new ValidationError("success.verified: bad");
      return { type: "success", flowId, userId: str(e.userId, "success.userId", 255), deviceId: str(e.deviceId, "success.deviceId", 255), verified: e.verified };
    case "error":
      return { type: "error", flowId, error: sanitizeFlowError(e.error) };
    default:
      throw new ValidationError(`event.type: unknown ${String(e.type)}`);
  }
}
