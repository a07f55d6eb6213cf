// The only IPC surface of the app, derived from the IPC table (contract/ipc.ts): one `ipcMain.handle`
// per request of the table (no generic "invoke anything" channel) and one event channel per role. Each
// request:
//   1. comes from a window we registered, from its main frame, at our renderer origin — else refused;
//   2. has its arguments checked against the table's schema (and rebuilt: main owns what it got);
//   3. goes to its handler below, usually that window's FlowController; a throw becomes a typed
//      FlowError value (code + short message), never a stack trace; the result is rebuilt through the
//      table's result schema.
// Events are rebuilt through their schema before webContents.send, so nothing a flow holds (keys,
// tokens, the secrets bundle) can ride along: only the fields the schema names leave main.
import { ipcMain } from "electron";
import type { IpcMainInvokeEvent, WebContents } from "electron";
import * as v from "valibot";
import { FLOW_ERROR_CODES, type FlowErrorCode } from "../../contract/failures.js";
import type { DeviceRole } from "../../contract/flow.js";
import { ACCOUNT_CHANNEL, EVENTS, PROGRESS_CHANNELS, REQUESTS, SERVER_CHECK_CHANNEL, type RequestArgs, type RequestName, type RequestResult } from "../../contract/ipc.js";
import { FlowError as FlowErrorSchema, type AccountEvent, type AppInfo, type FlowError, type ProgressEvent, type ServerCheckEvent, type StartOptions, type StartResult } from "../../contract/schemas.js";
import { isAppOrigin } from "./origin.js";

/** A request main refuses (bad arguments, not now): the renderer gets `invalid_request` with the message. */
export class ValidationError extends Error {
  override readonly name = "ValidationError";
}

/** A progress event as a flow emits it; the IPC layer stamps the flow id. */
export type ControllerEvent = ProgressEvent extends infer E ? (E extends ProgressEvent ? Omit<E, "flowId"> : never) : never;

/**
 * One run of one role in one window. main/login flows are wrapped into this (see flow-controller.ts);
 * tests use a fake. Methods may throw: an error with a `flowError` (FlowError) or a `code` that is a
 * FlowErrorCode is passed on as that code; anything else becomes "unknown".
 */
export interface FlowController {
  /** Begin the flow; emit events until success, error or cancel. Resolves once started. */
  start(options: StartOptions, emit: (event: ControllerEvent) => void): Promise<void>;
  submitQr(payload: Uint8Array): Promise<void>;
  submitCheckCode(code: string): Promise<void>;
  confirmAccount(accept: boolean): Promise<void>;
  openVerificationUri(): Promise<void>;
  /** Stop, tell the peer where the protocol allows (user_cancelled), release the rendezvous session. */
  cancel(): Promise<void>;
  /** The server this flow used (homeserver or rendezvous server URL, or a server name), for "Check this server". */
  serverToCheck?(): string | null;
}

export type ControllerFactory = (role: DeviceRole, windowId: number) => FlowController;

/** This app's own account (main/app/account.ts AccountController; tests use a fake). */
export interface AccountPort {
  signIn(homeserver: string, emit: (e: AccountEvent) => void): void;
  submitRecoveryKey(key: string): void;
  openSignInPage(): Promise<void>;
  cancelSignIn(): void;
  signOut(): Promise<void>;
}

export interface IpcOptions {
  createController: ControllerFactory;
  /** Origin of our renderer pages (e.g. "app://qr-login"); frames elsewhere are refused. */
  rendererOrigin: string;
  /** Told about refused calls and dropped events (for the log); never sent to the renderer. */
  onRejected?: (what: string, detail: string) => void;
  /** What a window shows about the app (label, account, storage, dev stack). */
  appInfo?: (webContentsId: number) => AppInfo | Promise<AppInfo>;
  /** The app's own account; without it the account requests are refused (a pair of fixed windows). */
  account?: AccountPort;
  /** Runs the deployment checks against `target` (main/app/server-check.ts); without it checkServer is refused. */
  checkServer?: (target: string, emit: (e: ServerCheckEvent) => void, signal: AbortSignal) => Promise<void>;
}

interface WindowEntry {
  webContents: WebContents;
  /** Fixed by the command line (--role) or null: the renderer may choose. */
  fixedRole: DeviceRole | null;
  flow: { id: number; options: StartOptions; controller: FlowController } | null;
  /** The running server check, if any. */
  check: AbortController | null;
}

let nextFlowId = 1;

const UNKNOWN: FlowError = { code: "unknown", message: "An unexpected error occurred." };

/** The first problem valibot found, with where: enough for the log and the renderer's detail line. */
function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0];
  if (!first) return "invalid";
  const where = v.getDotPath(first);
  return where ? `${where}: ${first.message}` : first.message;
}

function isFlowErrorCode(code: string): code is FlowErrorCode {
  return (FLOW_ERROR_CODES as readonly string[]).includes(code);
}

export function toFlowError(err: unknown): FlowError {
  if (err instanceof ValidationError) return { code: "invalid_request", message: err.message };
  if (typeof err === "object" && err !== null) {
    const e = err as { flowError?: unknown; code?: unknown; reason?: unknown; message?: unknown };
    if (e.flowError !== undefined) {
      const parsed = v.safeParse(FlowErrorSchema, e.flowError);
      if (parsed.success) return parsed.output;
    }
    if (typeof e.code === "string" && isFlowErrorCode(e.code)) {
      const parsed = v.safeParse(FlowErrorSchema, { code: e.code, message: e.message, ...(e.reason !== undefined ? { reason: e.reason } : {}) });
      return parsed.success ? parsed.output : { code: e.code, message: typeof e.message === "string" ? e.message.slice(0, 500) : "" };
    }
  }
  // Unknown throwables carry messages we have not vetted (paths, URLs with tokens): do not pass them on.
  return UNKNOWN;
}

type Handler<K extends RequestName> = (w: WindowEntry, ...args: RequestArgs<K>) => Promise<RequestResult<K>>;

export class IpcSurface {
  private readonly windows = new Map<number, WindowEntry>();
  private readonly opts: IpcOptions;
  private registered = false;

  constructor(opts: IpcOptions) {
    this.opts = opts;
  }

  /** What each request of the table does. A request without a handler does not compile. */
  private readonly handlers: { readonly [K in RequestName]: Handler<K> } = {
    start: (w, options) => this.start(w, options),
    retry: async (w) => {
      if (!w.flow) throw new ValidationError("retry: nothing to retry");
      return this.start(w, w.flow.options);
    },
    submitQr: (w, payload) => this.call(w, (c) => c.submitQr(payload)),
    submitCheckCode: (w, code) => this.call(w, (c) => c.submitCheckCode(code)),
    confirmAccount: (w, accept) => this.call(w, (c) => c.confirmAccount(accept)),
    openVerificationUri: (w) => this.call(w, (c) => c.openVerificationUri()),
    getAppInfo: async (w) => {
      if (!this.opts.appInfo) throw new ValidationError("getAppInfo: no app info here");
      return { ok: true, info: await this.opts.appInfo(w.webContents.id) };
    },
    signIn: async (w, homeserver) => {
      this.accountPort().signIn(homeserver, (e) => this.sendAccountEvent(w, e));
      return { ok: true };
    },
    submitRecoveryKey: async (_w, key) => {
      this.accountPort().submitRecoveryKey(key);
      return { ok: true };
    },
    openSignInPage: async () => {
      await this.accountPort().openSignInPage();
      return { ok: true };
    },
    cancelSignIn: async () => {
      this.accountPort().cancelSignIn();
      return { ok: true };
    },
    signOut: async () => {
      await this.accountPort().signOut();
      return { ok: true };
    },
    checkServer: async (w) => {
      this.startServerCheck(w);
      return { ok: true };
    },
    cancel: async (w) => {
      w.check?.abort();
      w.check = null;
      const flow = w.flow;
      if (!flow) return { ok: true };
      // Keep the options for retry; id 0 drops the cancelled flow's late events and refuses further calls.
      w.flow = { id: 0, options: flow.options, controller: flow.controller };
      await flow.controller.cancel();
      return { ok: true };
    },
  };

  /** Install one handler per request of the table (once). */
  register(): void {
    if (this.registered) return;
    this.registered = true;
    for (const name of Object.keys(REQUESTS) as RequestName[]) this.handle(name);
  }

  /** Remove the handlers (tests, shutdown). */
  unregister(): void {
    for (const r of Object.values(REQUESTS)) ipcMain.removeHandler(r.channel);
    this.registered = false;
  }

  /** Allow IPC from this window's main frame; its flow is cancelled when it goes away. */
  attachWindow(webContents: WebContents, fixedRole: DeviceRole | null): void {
    const entry: WindowEntry = { webContents, fixedRole, flow: null, check: null };
    this.windows.set(webContents.id, entry);
    webContents.once("destroyed", () => {
      this.windows.delete(webContents.id);
      entry.check?.abort();
      void entry.flow?.controller.cancel().catch(() => undefined);
    });
  }

  /** The running flow's options for a window (main's permission handlers: camera/screen only while scanning). */
  flowOptions(webContentsId: number): StartOptions | null {
    const flow = this.windows.get(webContentsId)?.flow;
    return flow && flow.id > 0 ? flow.options : null;
  }

  /** An account event for every window (the account changed). */
  broadcastAccountEvent(event: AccountEvent): void {
    for (const w of this.windows.values()) this.sendAccountEvent(w, event);
  }

  private accountPort(): AccountPort {
    if (!this.opts.account) throw new ValidationError("this window has no account of its own");
    return this.opts.account;
  }

  /**
   * Send an event, rebuilt through its schema; a malformed one (a bug in a flow or its adapter) is
   * dropped and logged: better than sending something unexpected.
   */
  private send(w: WindowEntry, channel: string, schema: v.GenericSchema, event: unknown, what: string): void {
    if (w.webContents.isDestroyed()) return;
    const parsed = v.safeParse(schema, event);
    if (!parsed.success) {
      this.reject(`${what} ${String((event as { type?: unknown } | null)?.type)}`, describeIssues(parsed.issues));
      return;
    }
    w.webContents.send(channel, parsed.output);
  }

  private sendAccountEvent(w: WindowEntry, event: AccountEvent): void {
    this.send(w, ACCOUNT_CHANNEL, EVENTS.onAccount.schema, event, "account event");
  }

  /** Check the server the window's last flow used; progress goes to that window only. */
  private startServerCheck(w: WindowEntry): void {
    const run = this.opts.checkServer;
    if (!run) throw new ValidationError("checkServer: not available here");
    const target = w.flow?.controller.serverToCheck?.() ?? null;
    if (!target) throw new ValidationError("checkServer: no server to check");
    w.check?.abort();
    const check = new AbortController();
    w.check = check;
    const emit = (e: ServerCheckEvent): void => {
      if (check.signal.aborted) return;
      this.send(w, SERVER_CHECK_CHANNEL, EVENTS.onServerCheck.schema, e, "server check event");
    };
    void run(target, emit, check.signal)
      .catch(() => emit({ type: "failed", message: "The check could not be completed." }))
      .finally(() => {
        if (w.check === check) w.check = null;
      });
  }

  /** Cancel every flow (app quit). */
  async cancelAll(): Promise<void> {
    for (const w of this.windows.values()) w.check?.abort();
    await Promise.allSettled([...this.windows.values()].map((w) => w.flow?.controller.cancel()));
  }

  private reject(what: string, detail: string): void {
    this.opts.onRejected?.(what, detail);
  }

  /** Our window, its main frame, our origin. */
  private senderWindow(event: IpcMainInvokeEvent): WindowEntry | null {
    const entry = this.windows.get(event.sender.id);
    if (!entry || entry.webContents !== event.sender) return null;
    const frame = event.senderFrame;
    const main = event.sender.mainFrame;
    if (!frame || !main || frame.processId !== main.processId || frame.routingId !== main.routingId) return null;
    return isAppOrigin(frame.url, this.opts.rendererOrigin) ? entry : null;
  }

  /** The handler of one request: sender check, arguments through the table's schema, result rebuilt. */
  private handle<K extends RequestName>(name: K): void {
    const { channel, args: argsSchema, result: resultSchema } = REQUESTS[name];
    const handler = this.handlers[name] as (w: WindowEntry, ...args: unknown[]) => Promise<unknown>;
    ipcMain.handle(channel, async (event: IpcMainInvokeEvent, ...raw: unknown[]): Promise<unknown> => {
      const w = this.senderWindow(event);
      if (!w) {
        this.reject(name, `untrusted sender (webContents ${event.sender.id})`);
        return { ok: false, error: { code: "invalid_request", message: "Request refused." } };
      }
      const args = v.safeParse(argsSchema, raw);
      if (!args.success) {
        const message = `${name}: ${describeIssues(args.issues)}`;
        this.reject(name, message);
        return { ok: false, error: { code: "invalid_request", message } };
      }
      let out: unknown;
      try {
        out = await handler(w, ...(args.output as unknown[]));
      } catch (err) {
        if (err instanceof ValidationError) this.reject(name, err.message);
        return { ok: false, error: toFlowError(err) };
      }
      const clean = v.safeParse(resultSchema, out);
      if (clean.success) return clean.output;
      this.reject(`${name} result`, describeIssues(clean.issues));
      return { ok: false, error: UNKNOWN };
    });
  }

  private async call(w: WindowEntry, fn: (c: FlowController) => Promise<void>): Promise<{ ok: true }> {
    if (!w.flow || w.flow.id <= 0) throw new ValidationError("no flow running");
    await fn(w.flow.controller);
    return { ok: true };
  }

  private async start(w: WindowEntry, options: StartOptions): Promise<StartResult> {
    if (w.fixedRole !== null && options.role !== w.fixedRole) throw new ValidationError(`start: this window is the ${w.fixedRole} device`);
    w.check?.abort();
    const old = w.flow;
    if (old) {
      w.flow = null;
      await old.controller.cancel().catch(() => undefined);
    }
    const id = nextFlowId++;
    const controller = this.opts.createController(options.role, w.webContents.id);
    w.flow = { id, options, controller };
    const channel = PROGRESS_CHANNELS[options.role];
    const emit = (event: ControllerEvent): void => {
      if (w.flow?.id !== id) return; // a stale flow
      this.send(w, channel, EVENTS.onProgress.schema, { ...event, flowId: id }, "event");
    };
    try {
      await controller.start(options, emit);
    } catch (err) {
      const error = toFlowError(err);
      emit({ type: "error", error });
      // Not running (no camera permission, no calls), but retry still knows the options.
      if (w.flow?.id === id) w.flow = { id: 0, options, controller };
      return { ok: false, error };
    }
    return { ok: true, flowId: id };
  }
}
