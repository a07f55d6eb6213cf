// One whole MSC4108 sign-in between our two roles, in one process: the login flows of main/login over
// the real secure channel of the chosen version, the real OAuth client and matrix-js-sdk, against a
// development homeserver, with the consent given by the scripted browser. Shared by the fault tests
// (test/integration/*-faults.test.ts) and the fault measurement (`npm run faults`), so both run exactly
// the same sign-in.
//
// direction "existing_scans" (the headline): the new device creates the session on `rendezvousUrl` and
// shows the QR; the existing device scans it. "new_scans": the existing device creates the session on
// `rendezvousUrl` and shows the QR; the new device scans it (a 2025 QR names that URL as the homeserver,
// so the new device is pinned to it; a 2024 QR names the server name, which the pin stands in for).
import { runNewDevice } from "../../main/login/flows/new-device.js";
import { runExistingDevice } from "../../main/login/flows/existing-device.js";
import { createSecureChannelPort, type SecureChannelAdapterOptions } from "../../main/login/channel/port.js";
import { createNewDeviceMatrixPort } from "../../main/login/matrix/port.js";
import { createOAuthPort } from "../../main/login/oauth/port.js";
import { createHomeserverPort } from "../../main/login/matrix/homeserver.js";
import { driveDevConsent } from "../../main/devstack/dev-consent.js";
import { stopClient } from "../../main/login/matrix/client.js";
import type { DeviceRole as Role } from "../../contract/flow.js";
import type { ExistingDeviceMatrixPort, FlowEvent, FlowOutcome, ProtocolVersion } from "../../main/login/flows/ports.js";

export type Direction = "existing_scans" | "new_scans";
export const DIRECTIONS: readonly Direction[] = ["existing_scans", "new_scans"];

export interface PairAccount {
  /** The development homeserver's base URL (OAuth and the Client-Server API). */
  readonly homeserverUrl: string;
  /** The account's signed-in existing device. */
  readonly existing: ExistingDeviceMatrixPort;
  readonly username: string;
  readonly password: string;
  readonly userId: string;
}

export interface PairOptions {
  readonly version: ProtocolVersion;
  readonly direction: Direction;
  /** Where the generating side creates the rendezvous session. */
  readonly rendezvousUrl: string;
  /** The new device's pinned homeserver (default: the 2025 new_scans QR's URL, else the homeserver). */
  readonly pinned?: string;
  /** Every flow event of both sides, as it happens (a fault rig injects its fault here). */
  readonly onEvent?: (role: Role, event: FlowEvent) => void;
  readonly channel?: SecureChannelAdapterOptions;
  /** Give up after this long: both flows are cancelled (default 90 s). */
  readonly timeoutMs?: number;
}

export interface PairRun {
  readonly newOutcome: FlowOutcome;
  readonly existingOutcome: FlowOutcome;
  readonly events: Record<Role, FlowEvent[]>;
  readonly ms: number;
  /** Both devices succeeded and the new one is cross-signed with the key backup. */
  readonly verified: boolean;
}

const CLIENT = { client_name: "qr-login fault runs", client_uri: "https://example.org/", application_type: "native" as const };

/** One line per run: the two outcomes, with the error code or reason where there is one. */
export function describeOutcome(o: FlowOutcome): string {
  switch (o.outcome) {
    case "error":
      return `error (${o.code})`;
    case "failure":
      return `failure (${o.reason}, ${o.side})`;
    case "not_supported":
    case "qr_rejected":
      return `${o.outcome} (${o.reason})`;
    case "success":
      return o.crossSigned === false ? "success (not cross-signed)" : "success";
    default:
      return o.outcome;
  }
}

export async function signInPair(account: PairAccount, o: PairOptions): Promise<PairRun> {
  const events: Record<Role, FlowEvent[]> = { new: [], existing: [] };
  const waiters: Array<() => void> = [];
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new Error("the sign-in took too long")), o.timeoutMs ?? 90_000);
  const push = (role: Role) => (e: FlowEvent): void => {
    events[role].push(e);
    o.onEvent?.(role, e);
    for (const w of waiters.splice(0)) w();
  };
  const waitFor = async <T extends FlowEvent["type"]>(role: Role, type: T, signal: AbortSignal): Promise<Extract<FlowEvent, { type: T }>> => {
    for (;;) {
      const found = events[role].find((e) => e.type === type);
      if (found) return found as Extract<FlowEvent, { type: T }>;
      if (signal.aborted) throw signal.reason;
      await new Promise<void>((r) => {
        waiters.push(r);
        signal.addEventListener("abort", () => r(), { once: true });
      });
    }
  };
  const hexBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"));
  const channel = createSecureChannelPort(o.channel ?? {});
  const consents: Promise<void>[] = [];
  const pinned = o.pinned ?? (o.version === "2025" && o.direction === "new_scans" ? o.rendezvousUrl : account.homeserverUrl);
  const started = performance.now();
  const existingRun = runExistingDevice(
    {
      channel,
      oauth: createOAuthPort({ clientMetadata: CLIENT }),
      matrix: account.existing,
      ui: {
        scanQr: async (signal) => hexBytes((await waitFor("new", "qr", signal)).hex),
        enterCheckCode: async (signal) => (await waitFor("new", "check_code", signal)).code,
        openUri: async (uri) => {
          consents.push(driveDevConsent(uri, { username: account.username, password: account.password }).catch(() => undefined));
          return "opened";
        },
      },
    },
    {
      mode: o.direction === "existing_scans" ? { kind: "scan" } : { kind: "generate", rendezvousUrl: o.rendezvousUrl },
      protocol: o.version,
      lingerMs: 1_000,
      secretsReadMs: 2_000,
    },
    { onEvent: push("existing"), signal: stop.signal },
  );
  const newRun = (async () => {
    const mode = o.direction === "existing_scans"
      ? ({ kind: "generate", rendezvousUrl: o.rendezvousUrl } as const)
      : ({ kind: "scan", qr: hexBytes((await waitFor("existing", "qr", stop.signal)).hex) } as const);
    return runNewDevice(
      {
        channel,
        homeserver: createHomeserverPort({ pinned }),
        oauth: createOAuthPort({ clientMetadata: CLIENT }),
        matrix: createNewDeviceMatrixPort(),
        ui: {
          enterCheckCode: async (signal) => (await waitFor("existing", "check_code", signal)).code,
          confirmAccount: async (userId) => userId === account.userId,
        },
      },
      { mode, lingerMs: 1_000, protocol: o.version },
      { onEvent: push("new"), signal: stop.signal },
    );
  })().catch((err: unknown): { outcome: FlowOutcome; signedIn?: undefined } => ({
    outcome: { outcome: "error", code: "internal", detail: err instanceof Error ? err.message : String(err) },
  }));
  try {
    const [n, e] = await Promise.all([newRun, existingRun]);
    await Promise.all(consents);
    if (n.signedIn) stopClient(n.signedIn.client);
    const verified = e.outcome === "success" && n.outcome.outcome === "success" && n.outcome.crossSigned === true && n.outcome.backup === true;
    return { newOutcome: n.outcome, existingOutcome: e, events, ms: performance.now() - started, verified };
  } finally {
    clearTimeout(timer);
  }
}
