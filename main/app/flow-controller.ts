// The FlowController (what main/app/ipc.ts drives) over the MSC4108 flows of main/login/. It turns the
// renderer's requests into answers to the flows' UI ports (scanned QR, typed check code, account
// confirmation), and the flows' FlowEvents into the preload API's ProgressEvents. Only fields the
// screens need are copied: the flows' events are already secret-free, and ipc.ts rebuilds every event
// from an allow-list again before it leaves main.
// The answers wait in answer-waiter.ts; an outcome becomes the renderer's event in outcome-event.ts.
import { runExistingDevice } from "../login/flows/existing-device.js";
export type { ExistingAccount } from "../login/flows/ports.js";
import { runNewDevice, type NewDeviceOptions } from "../login/flows/new-device.js";
import type { SignedInMatrixClient } from "../login/matrix/port.js";
import { AccountNotVerifiedError } from "./account.js";
import { createOAuthPort } from "../login/oauth/port.js";
import type { ClientMetadata } from "../login/oauth/client.js";
import type { ExistingAccount, FlowEvent, HomeserverPort, NewDeviceMatrixPort, SignedInClient, OAuthPort, ProtocolChoice, SecureChannelPort } from "../login/flows/ports.js";
import type { ControllerEvent, ControllerFactory, FlowController } from "./ipc.js";
import { SECRETS_STEPS, type DeviceRole, type SecretsStep, type StepStatus } from "../../contract/flow.js";
import type { FlowError, StartOptions } from "../../contract/schemas.js";
import { HomeserverInputError, resolveHomeserver } from "./homeserver-input.js";
import { Waiter } from "./answer-waiter.js";
import { outcomeToEvent } from "./outcome-event.js";

export interface LoginEnvironment {
  /**
   * Rendezvous server the new device creates its session on (N=G), or null: then the renderer passes
   * the homeserver the user typed (StartOptions.homeserver), whose rendezvous endpoint is used.
   */
  rendezvousUrl: string | null;
  /** The typed homeserver → its base URL (main/app/homeserver-input.ts; tests may replace it). */
  resolveHomeserver?(input: string): Promise<string>;
  /** Wire profile of the 2025 version (element-2026 | msc4388). */
  profile?: string;
  /** Which version of sign in with QR (`auto`: the QR decides when scanning, the servers when showing). */
  protocol?: ProtocolChoice;
  /** The homeserver the new device expects: what the other device names must agree with it. */
  homeserver?: string;
  /** Existing device showing a QR: a 2024 rendezvous server for when its homeserver has none. */
  fallbackRendezvousUrl?: string;
  clientMetadata: ClientMetadata;
  /** This app's signed-in account, or null (then the existing role reports "not signed in"). */
  existingAccount(): Promise<ExistingAccount | null>;
  /** Open a URL in the system browser; main/app/index.ts applies the allow-list. */
  openVerificationPage(uri: string): Promise<void>;
  /** The new device signed in: keep its client (store the account session, start the client); only a cross-signed one links devices. */
  onSignedIn?(signedIn: SignedInMatrixClient, verified: { crossSigned: boolean }): Promise<void>;
  /** Tests: replace the adapters. */
  ports?: { channel?: SecureChannelPort; oauth?: OAuthPort; newDeviceMatrix?: NewDeviceMatrixPort<SignedInClient>; homeserver?: HomeserverPort };
  lingerMs?: number;
}

type Ask = "qr" | "check_code" | "confirm";

/** An error ipc.ts passes on as a FlowError (see toFlowError). */
function flowError(code: FlowError["code"], message: string): Error & { flowError: FlowError } {
  return Object.assign(new Error(message), { flowError: { code, message } });
}

/** Fallback only: the steps a session that reported none of them implies from its final state. */
const STEPS_FOR_VERIFIED = (crossSigned: boolean, backup: boolean): [SecretsStep, StepStatus][] => [
  ["cross_signing_keys", crossSigned ? "done" : "failed"],
  ["backup_key", backup ? "done" : "failed"],
  ["device_signed", crossSigned ? "done" : "failed"],
  ["keys_uploaded", crossSigned ? "done" : "failed"],
  ["backup_connected", backup ? "done" : "failed"],
];

export class LoginFlowController implements FlowController {
  private readonly abort = new AbortController();
  private readonly waiters = { qr: new Waiter<Uint8Array>(), check_code: new Waiter<string>(), confirm: new Waiter<boolean>() };
  private emit: (e: ControllerEvent) => void = () => undefined;
  private running: Promise<void> | null = null;
  private verificationUri: string | null = null;
  private homeserver = "";
  private deviceId: string | null = null;
  private account: ExistingAccount | null = null;
  private channelPort: SecureChannelPort | null = null;
  /** Secrets steps the flow reported itself (the final "verified" event fills in only the others). */
  private readonly reportedSteps = new Set<SecretsStep>();
  /** A scanning flow takes one QR; a rejected one (wrong_qr_code) leaves it open. */
  private scanOpen = false;
  /** The new device showing a QR: where its rendezvous session lives. */
  private rendezvousUrl: string | null = null;
  /** For "Check this server": where the rendezvous session lives, the homeserver signed in to, and the one the outcome points at. */
  private rendezvousServer: string | null = null;
  private homeserverServer: string | null = null;
  private checkTarget: string | null = null;

  constructor(
    readonly role: DeviceRole,
    private readonly env: LoginEnvironment,
  ) {}

  /** The real adapters are loaded on first use (they pull in the protocol core and matrix-js-sdk). */
  private async channel(accessToken?: string): Promise<SecureChannelPort> {
    if (this.env.ports?.channel) return this.env.ports.channel;
    if (!this.channelPort || accessToken) {
      const { createSecureChannelPort } = await import("../login/channel/port.js");
      this.channelPort = createSecureChannelPort({ ...(this.env.profile ? { profile: this.env.profile } : {}), ...(accessToken ? { accessToken } : {}) });
    }
    return this.channelPort;
  }

  async start(options: StartOptions, emit: (e: ControllerEvent) => void): Promise<void> {
    if (this.running) throw flowError("invalid_request", "already started");
    this.emit = emit;
    this.scanOpen = options.side === "scan";
    emit({ type: "state", state: "starting" });
    if (options.role === "new" && options.side === "show") {
      if (options.homeserver !== undefined) {
        try {
          this.rendezvousUrl = await (this.env.resolveHomeserver ?? ((i: string) => resolveHomeserver(i)))(options.homeserver);
        } catch (err) {
          throw flowError("homeserver_needed", err instanceof HomeserverInputError ? err.message : "That homeserver address cannot be used.");
        }
      } else if (this.env.rendezvousUrl) {
        this.rendezvousUrl = this.env.rendezvousUrl;
      } else {
        throw flowError("homeserver_needed", "Enter your homeserver: its rendezvous service carries the QR code session.");
      }
      this.rendezvousServer = this.rendezvousUrl;
    }
    if (options.role === "existing") {
      try {
        this.account = await this.env.existingAccount();
      } catch (err) {
        if (err instanceof AccountNotVerifiedError) {
          throw flowError("device_not_verified", `This device is signed in as ${err.userId} but is not verified, so it has no keys to give a new device. Verify it from another device, or sign out and sign in to your account again.`);
        }
        throw err;
      }
      if (!this.account) throw flowError("other_device_not_signed_in", "This app is not signed in to an account, so it cannot link a new device.");
      this.rendezvousServer = this.homeserverServer = this.account.matrix.baseUrl;
    }
    this.running = this.run(options).catch(() => {
      emit({ type: "error", error: { code: "unknown", message: "An unexpected error occurred." } });
    });
  }

  serverToCheck(): string | null {
    return this.checkTarget ?? this.rendezvousServer ?? this.homeserverServer;
  }

  async submitQr(payload: Uint8Array): Promise<void> {
    if (!this.scanOpen) throw flowError("invalid_request", "not scanning now");
    // Reject what is not a sign-in code (of either version) here, so the user can scan again; intent checks are the flow's.
    const channel = await this.channel();
    let named: ReturnType<SecureChannelPort["decodeQr"]>["homeserver"];
    try {
      named = channel.decodeQr(payload).homeserver;
    } catch {
      throw flowError("wrong_qr_code", "This is not a sign-in QR code.");
    }
    // A reciprocate QR names the homeserver the new device signs in to (2025: its URL, 2024: its server name).
    if (named && this.role === "new") this.rendezvousServer = this.homeserverServer = "baseUrl" in named ? named.baseUrl : named.serverName;
    this.scanOpen = false;
    if (!this.waiters.qr.answer(payload)) this.waiters.qr.hold(payload);
  }

  async submitCheckCode(code: string): Promise<void> {
    this.answer("check_code", code);
  }

  async confirmAccount(accept: boolean): Promise<void> {
    this.answer("confirm", accept);
  }

  async openVerificationUri(): Promise<void> {
    if (!this.verificationUri) throw flowError("invalid_request", "no browser page to open");
    await this.env.openVerificationPage(this.verificationUri);
  }

  async cancel(): Promise<void> {
    this.abort.abort(new Error("cancelled"));
    // Let the flow tell the peer and delete the rendezvous session, but do not hang the UI on it.
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }

  private answer(kind: Exclude<Ask, "qr">, value: string | boolean): void {
    const ok = kind === "check_code" ? this.waiters.check_code.answer(value as string) : this.waiters.confirm.answer(value as boolean);
    if (!ok) throw flowError("invalid_request", `not expecting ${kind} now`);
  }

  private onFlowEvent = (e: FlowEvent): void => {
    const emit = this.emit;
    switch (e.type) {
      case "state":
        switch (e.state) {
          case "prechecks":
          case "creating_qr":
            return emit({ type: "state", state: "starting" });
          case "showing_qr":
            return emit({ type: "state", state: "waiting_for_scan" });
          case "connecting":
            return emit({ type: "state", state: "connecting" });
          case "waiting_for_protocols":
          case "waiting_for_protocol":
          case "waiting_for_accept":
          case "waiting_for_outcome":
          case "waiting_for_device":
          case "waiting_for_secrets":
            return emit({ type: "state", state: "waiting_for_other_device" });
          default:
            return;
        }
      case "qr":
        return emit({ type: "qr", payload: Uint8Array.from(Buffer.from(e.hex, "hex")), expiresAt: e.expiresAt ?? Date.now() + 120_000 });
      case "check_code":
        return emit({ type: "check_code", code: e.code });
      case "check_code_required":
        return emit({ type: "check_code_prompt", mismatch: false });
      case "homeserver":
        this.homeserver = e.baseUrl;
        this.homeserverServer = e.baseUrl;
        return;
      case "protocol":
        return emit({ type: "protocol", version: e.version });
      case "device_id":
        this.deviceId = e.deviceId;
        return;
      case "user_code":
        return emit({ type: "user_code", userCode: e.userCode, verificationUri: e.verificationUri });
      case "opening_browser":
        this.verificationUri = e.uri;
        return emit({ type: "open_browser", verificationUri: e.uri, opened: false });
      case "waiting_for_consent":
        return emit({ type: "waiting_for_consent" });
      case "confirm_account": {
        const ev: ControllerEvent = { type: "confirm_account", userId: e.userId, homeserver: this.homeserver || "unknown" };
        if (this.deviceId) ev.deviceId = this.deviceId;
        return emit(ev);
      }
      case "transferring_secrets":
        return emit({ type: "state", state: "completing" });
      case "importing":
        emit({ type: "state", state: "completing" });
        emit({ type: "secrets", step: "cross_signing_keys", status: "active" });
        return emit({ type: "secrets", step: "backup_key", status: "active" });
      case "secrets_step": {
        this.reportedSteps.add(e.step);
        emit({ type: "secrets", step: e.step, status: e.status });
        // The bundle import covers the first two steps at once (both went active on "importing");
        // each later step starts when the one before it is done.
        const next = SECRETS_STEPS[SECRETS_STEPS.indexOf(e.step) + 1];
        if (e.status === "done" && next && e.step !== "cross_signing_keys" && !this.reportedSteps.has(next)) emit({ type: "secrets", step: next, status: "active" });
        return;
      }
      case "verified":
        for (const [step, status] of STEPS_FOR_VERIFIED(e.crossSigned, e.backup)) if (!this.reportedSteps.has(step)) emit({ type: "secrets", step, status });
        return;
      case "outcome": {
        // No OAuth 2.0 or device grant is the homeserver's; everything else the rendezvous server's.
        const oauth = e.result.outcome === "not_supported" && e.result.reason !== "rendezvous_unavailable";
        this.checkTarget = oauth ? (this.homeserverServer ?? this.rendezvousServer) : (this.rendezvousServer ?? this.homeserverServer);
        const ev = outcomeToEvent(e.result, this.role, this.account?.userId ?? null);
        if (ev) emit(ev);
        return;
      }
      default:
        return;
    }
  };

  private async run(options: StartOptions): Promise<void> {
    const signal = this.abort.signal;
    const lingerMs = this.env.lingerMs;
    if (options.role === "new") {
      const { createHomeserverPort } = await import("../login/matrix/homeserver.js");
      const deps = {
        channel: await this.channel(),
        homeserver: this.env.ports?.homeserver ?? createHomeserverPort(this.env.homeserver ? { pinned: this.env.homeserver } : {}),
        oauth: this.env.ports?.oauth ?? createOAuthPort({ clientMetadata: this.env.clientMetadata }),
        matrix: this.env.ports?.newDeviceMatrix ?? (await import("../login/matrix/port.js")).createNewDeviceMatrixPort(),
        ui: {
          enterCheckCode: (s: AbortSignal) => this.waiters.check_code.wait(s),
          confirmAccount: (_userId: string, s: AbortSignal) => this.waiters.confirm.wait(s),
        },
      };
      let mode: NewDeviceOptions["mode"];
      if (options.side === "show") mode = { kind: "generate", rendezvousUrl: this.rendezvousUrl! };
      else {
        let qr: Uint8Array;
        try {
          qr = await this.waiters.qr.wait(signal);
        } catch {
          return; // cancelled before a scan
        }
        mode = { kind: "scan", qr };
      }
      const result = await runNewDevice(deps, { mode, ...(lingerMs !== undefined ? { lingerMs } : {}), ...(this.env.protocol ? { protocol: this.env.protocol } : {}) }, { signal, onEvent: this.onFlowEvent });
      // Only the real adapter's signed-in client carries a matrix-js-sdk client worth keeping.
      if (result.outcome.outcome === "success" && result.signedIn && "client" in result.signedIn) {
        await this.env.onSignedIn?.(result.signedIn as SignedInMatrixClient, { crossSigned: result.outcome.crossSigned === true });
      }
      return;
    }
    const account = this.account!;
    const channel = await this.channel(account.accessToken);
    await runExistingDevice(
      {
        channel,
        oauth: this.env.ports?.oauth ?? createOAuthPort({ clientMetadata: this.env.clientMetadata }),
        matrix: account.matrix,
        ui: {
          scanQr: (s: AbortSignal) => this.waiters.qr.wait(s),
          enterCheckCode: (s: AbortSignal) => this.waiters.check_code.wait(s),
          openUri: async (uri: string) => {
            this.verificationUri = uri;
            await this.env.openVerificationPage(uri);
            this.emit({ type: "open_browser", verificationUri: uri, opened: true });
            return "opened" as const;
          },
        },
      },
      {
        mode: options.side === "scan" ? { kind: "scan" } : { kind: "generate", ...(this.env.fallbackRendezvousUrl ? { fallbackRendezvousUrl: this.env.fallbackRendezvousUrl } : {}) },
        ...(lingerMs !== undefined ? { lingerMs } : {}),
        ...(this.env.protocol ? { protocol: this.env.protocol } : {}),
      },
      { signal, onEvent: this.onFlowEvent },
    );
  }
}

export function createLoginControllerFactory(env: LoginEnvironment): ControllerFactory {
  return (role) => new LoginFlowController(role, env);
}
