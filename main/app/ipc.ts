// The only IPC surface of the app. One `ipcMain.handle` per request of the preload API (no generic
// "invoke anything" channel) and one event channel per role. Each request:
//   1. comes from a window we registered, from its main frame, at our renderer origin — else refused;
//   2. has its arguments validated and rebuilt (ipc-schema.ts);
//   3. goes to that window's FlowController; a throw becomes a typed FlowError value (code + short
//      message), never a stack trace.
// Events from a flow are rebuilt from an allow-list of fields before webContents.send, so nothing a
// flow holds (keys, tokens, the secrets bundle) can ride along.
import { ipcMain } from "electron";
import type { IpcMainInvokeEvent, WebContents } from "electron";
import {
  ACCOUNT_CHANNEL,
  EVENT_CHANNELS,
  FLOW_ERROR_CODES,
  IPC,
  type AccountEvent,
  type AppInfo,
  type AppInfoResult,
  type CallResult,
  type DeviceRole,
  type FlowError,
  type FlowErrorCode,
  type IpcRequest,
  type ProgressEvent,
  type ServerCheckEvent,
  type StartOptions,
  type StartResult,
  SERVER_CHECK_CHANNEL,
} from "../../preload/api.js";
import {
  ValidationError,
  parseCheckCode,
  parseConfirm,
  parseHomeserverArg,
  parseNoArgs,
  parseQrPayload,
  parseRecoveryKeyArg,
  parseStartOptions,
  sanitizeAccountEvent,
  sanitizeAppInfo,
  sanitizeEvent,
  sanitizeFlowError,
  sanitizeServerCheckEvent,
} from "./ipc-schema.js";
import { isAppOrigin } from "./origin.js";

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

export function toFlowError(err: unknown): FlowError {
  if (err instanceof ValidationError) return { code: "invalid_request", message: err.message };
  if (typeof err === "object" && err !== null) {
    const e = err as { flowError?: unknown; code?: unknown; reason?: unknown; message?: unknown };
    if (e.flowError !== undefined) {
      try {
        return sanitizeFlowError(e.flowError);
      } catch {
        /* fall through to the generic mapping */
      }
    }
    if (typeof e.code === "string" && (FLOW_ERROR_CODES as readonly string[]).includes(e.code)) {
      try {
        return sanitizeFlowError({ code: e.code as FlowErrorCode, message: typeof e.message === "string" ? e.message : "", reason: e.reason });
      } catch {
        return { code: e.code as FlowErrorCode, message: typeof e.message === "string" ? e.message.slice(0, 500) : "" };
      }
    }
  }
  // Unknown throwables carry messages we have not vetted (paths, URLs with tokens): do not pass them on.
  return { code: "unknown", message: "An unexpected error occurred." };
}

export class IpcSurface {
  private readonly windows = new Map<number, WindowEntry>();
  private readonly opts: IpcOptions;
  private registered = false;

  constructor(opts: IpcOptions) {
    this.opts = opts;
  }

  /** Install the handlers (once). */
  register(): void {
    if (this.registered) return;
    this.registered = true;
    this.handle("start", async (w, args) => this.start(w, parseStartOptions(args)));
    this.handle("retry", async (w, args) => {
      parseNoArgs("retry", args);
      if (!w.flow) throw new ValidationError("retry: nothing to retry");
      return this.start(w, w.flow.options);
    });
    this.handle("submitQr", async (w, args) => this.call(w, (c) => c.submitQr(parseQrPayload(args))));
    this.handle("submitCheckCode", async (w, args) => this.call(w, (c) => c.submitCheckCode(parseCheckCode(args))));
    this.handle("confirmAccount", async (w, args) => this.call(w, (c) => c.confirmAccount(parseConfirm(args))));
    this.handle("openVerificationUri", async (w, args) => {
      parseNoArgs("openVerificationUri", args);
      return this.call(w, (c) => c.openVerificationUri());
    });
    this.handle("getAppInfo", async (w, args): Promise<AppInfoResult> => {
      parseNoArgs("getAppInfo", args);
      if (!this.opts.appInfo) throw new ValidationError("getAppInfo: no app info here");
      return { ok: true, info: sanitizeAppInfo(await this.opts.appInfo(w.webContents.id)) };
    });
    this.handle("signIn", async (w, args) => {
      const homeserver = parseHomeserverArg(args);
      this.accountPort().signIn(homeserver, (e) => this.sendAccountEvent(w, e));
      return { ok: true };
    });
    this.handle("submitRecoveryKey", async (_w, args) => {
      this.accountPort().submitRecoveryKey(parseRecoveryKeyArg(args));
      return { ok: true };
    });
    this.handle("openSignInPage", async (_w, args) => {
      parseNoArgs("openSignInPage", args);
      await this.accountPort().openSignInPage();
      return { ok: true };
    });
    this.handle("cancelSignIn", async (_w, args) => {
      parseNoArgs("cancelSignIn", args);
      this.accountPort().cancelSignIn();
      return { ok: true };
    });
    this.handle("signOut", async (_w, args) => {
      parseNoArgs("signOut", args);
      await this.accountPort().signOut();
      return { ok: true };
    });
    this.handle("checkServer", async (w, args) => {
      parseNoArgs("checkServer", args);
      this.startServerCheck(w);
      return { ok: true };
    });
    this.handle("cancel", async (w, args) => {
      parseNoArgs("cancel", args);
      w.check?.abort();
      w.check = null;
      const flow = w.flow;
      if (!flow) return { ok: true };
      // Keep the options for retry; id 0 drops the cancelled flow's late events and refuses further calls.
      w.flow = { id: 0, options: flow.options, controller: flow.controller };
      await flow.controller.cancel();
      return { ok: true };
    });
  }

  /** Remove the handlers (tests, shutdown). */
  unregister(): void {
    for (const ch of Object.values(IPC)) ipcMain.removeHandler(ch);
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

  private sendAccountEvent(w: WindowEntry, event: AccountEvent): void {
    if (w.webContents.isDestroyed()) return;
    let clean: AccountEvent;
    try {
      clean = sanitizeAccountEvent(event);
    } catch (err) {
      this.reject(`account event ${String((event as { type?: unknown }).type)}`, err instanceof Error ? err.message : "bad event");
      return;
    }
    w.webContents.send(ACCOUNT_CHANNEL, clean);
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
      if (check.signal.aborted || w.webContents.isDestroyed()) return;
      let clean: ServerCheckEvent;
      try {
        clean = sanitizeServerCheckEvent(e);
      } catch (err) {
        this.reject(`server check event ${String((e as { type?: unknown }).type)}`, err instanceof Error ? err.message : "bad event");
        return;
      }
      w.webContents.send(SERVER_CHECK_CHANNEL, clean);
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

  private handle(name: IpcRequest, fn: (w: WindowEntry, args: unknown[]) => Promise<CallResult | StartResult | AppInfoResult>): void {
    ipcMain.handle(IPC[name], async (event: IpcMainInvokeEvent, ...args: unknown[]): Promise<CallResult | StartResult | AppInfoResult> => {
      const w = this.senderWindow(event);
      if (!w) {
        this.reject(name, `untrusted sender (webContents ${event.sender.id})`);
        return { ok: false, error: { code: "invalid_request", message: "Request refused." } };
      }
      try {
        return await fn(w, args);
      } catch (err) {
        if (err instanceof ValidationError) this.reject(name, err.message);
        return { ok: false, error: toFlowError(err) };
      }
    });
  }

  private async call(w: WindowEntry, fn: (c: FlowController) => Promise<void>): Promise<CallResult> {
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
    const channel = EVENT_CHANNELS[options.role];
    const emit = (event: ControllerEvent): void => {
      if (w.flow?.id !== id || w.webContents.isDestroyed()) return; // stale flow or closed window
      let clean: ProgressEvent;
      try {
        clean = sanitizeEvent({ ...event, flowId: id });
      } catch (err) {
        this.reject(`event ${String((event as { type?: unknown }).type)}`, err instanceof Error ? err.message : "bad event");
        return;
      }
      w.webContents.send(channel, clean);
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
