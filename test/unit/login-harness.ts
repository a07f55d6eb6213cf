// Runs the new-device and existing-device state machines back to back over the in-memory fakes.

import { runNewDevice } from "../../main/login/flows/new-device.js";
import { runExistingDevice } from "../../main/login/flows/existing-device.js";
import type { SecretsBundle } from "../../main/login/flows/messages.js";
import { createHomeserverPort } from "../../main/login/matrix/homeserver.js";
import type { FlowEvent, FlowOutcome, FlowStage, OpenUriResult, ProtocolChoice, ProtocolVersion, ScopeFlavour } from "../../main/login/flows/ports.js";
import { FakeHomeserver, FakeRendezvous, abortable, fakeDiscoveryFetch, fakeSecrets, type ConsentDecision, type Device } from "./login-fakes.js";

export const RENDEZVOUS_URL = "https://rendezvous.example.net/";

export type Pairing = "new_generates" | "existing_generates";

export interface Scenario {
  pairing: Pairing;
  consent?: ConsentDecision | "never";
  openUri?: OpenUriResult | "throw";
  wrongCode?: boolean;
  confirmAccount?: boolean;
  secrets?: SecretsBundle | Error;
  scopes?: ScopeFlavour;
  /** Abort one side when it emits this state (or event type). */
  cancel?: { side: Device; at: FlowStage | FlowEvent["type"] };
  /** Expire the rendezvous session when this side emits this state. */
  expire?: { side: Device; at: FlowStage | FlowEvent["type"] };
  /** Replace the QR the scanner reads (wrong QR tests). */
  scannerQr?: (generated: Uint8Array) => Uint8Array;
  setup?: (hs: FakeHomeserver, net: FakeRendezvous) => void;
  /** After one side ended, how long to wait before the server TTL ends the other one. */
  ttlMs?: number;
  qrRotations?: number;
  /** The existing device scans this long after the first QR appeared, and takes the newest QR. */
  scanDelayMs?: number;
  /** The version the rendezvous server offers to a generator asking for `auto` (default 2025). */
  offers?: ProtocolVersion;
  /** `--protocol` per side (default auto). */
  protocol?: Partial<Record<Device, ProtocolChoice>>;
  /** The new device's pinned homeserver (`--homeserver`). */
  pinnedHomeserver?: string;
  /** Client .well-known per server name (default: example.org → the fake homeserver). */
  wellKnown?: Record<string, string>;
  /** Where the existing device generates, and its 2024 fallback rendezvous server. */
  existingRendezvous?: { rendezvousUrl?: string; fallbackRendezvousUrl?: string };
}

export interface PairResult {
  new: FlowOutcome;
  existing: FlowOutcome;
  events: Record<Device, FlowEvent[]>;
  hs: FakeHomeserver;
  net: FakeRendezvous;
  openedUris: string[];
  secrets: SecretsBundle | Error;
  newSession: unknown;
}

class EventBus {
  readonly events: FlowEvent[] = [];
  private readonly waiters: Array<{ test: (e: FlowEvent) => boolean; resolve: (e: FlowEvent) => void }> = [];
  push(e: FlowEvent): void {
    this.events.push(e);
    for (const w of [...this.waiters]) {
      if (w.test(e)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  }
  wait<T extends FlowEvent>(test: (e: FlowEvent) => e is T, signal?: AbortSignal): Promise<T> {
    const seen = this.events.find(test);
    if (seen) return Promise.resolve(seen as T);
    return abortable(new Promise<T>((resolve) => this.waiters.push({ test, resolve: resolve as (e: FlowEvent) => void })), signal);
  }
}

const isQr = (e: FlowEvent): e is Extract<FlowEvent, { type: "qr" }> => e.type === "qr";
const isCode = (e: FlowEvent): e is Extract<FlowEvent, { type: "check_code" }> => e.type === "check_code";

function wrongCode(code: string): string {
  return code === "10" ? "11" : "10";
}

export async function runPair(s: Scenario): Promise<PairResult> {
  const hs = new FakeHomeserver();
  const net = new FakeRendezvous();
  if (s.offers) net.offers = s.offers;
  s.setup?.(hs, net);
  const secrets = s.secrets ?? fakeSecrets();
  const bus: Record<Device, EventBus> = { new: new EventBus(), existing: new EventBus() };
  const controllers: Record<Device, AbortController> = { new: new AbortController(), existing: new AbortController() };
  const openedUris: string[] = [];

  let expired = false;
  const listener = (side: Device) => (e: FlowEvent): void => {
    bus[side].push(e);
    const at = e.type === "state" ? e.state : e.type;
    if (s.cancel?.side === side && s.cancel.at === at) controllers[side].abort();
    if (s.expire?.side === side && s.expire.at === at && !expired) {
      expired = true; // once: a rotated QR must be able to survive
      net.expireAll();
    }
  };

  const enterCheckCode = (other: Device) => async (signal: AbortSignal): Promise<string> => {
    const e = await bus[other].wait(isCode, signal);
    return s.wrongCode ? wrongCode(e.code) : e.code;
  };

  const newGenerates = s.pairing === "new_generates";

  const startNew = async (): Promise<{ outcome: FlowOutcome; session?: unknown }> => {
    let mode;
    if (newGenerates) mode = { kind: "generate" as const, rendezvousUrl: RENDEZVOUS_URL };
    else {
      const qr = await bus.existing.wait(isQr, controllers.new.signal).then((e) => new Uint8Array(Buffer.from(e.hex, "hex")), () => undefined);
      if (!qr) return { outcome: { outcome: "cancelled" } };
      mode = { kind: "scan" as const, qr: s.scannerQr ? s.scannerQr(qr) : qr };
    }
    return runNewDevice(
      {
        channel: net.port("new"),
        homeserver: createHomeserverPort({ fetch: fakeDiscoveryFetch(s.wellKnown), ...(s.pinnedHomeserver ? { pinned: s.pinnedHomeserver } : {}) }),
        oauth: hs.oauth(),
        matrix: hs.newDeviceMatrix(),
        ui: {
          enterCheckCode: enterCheckCode("existing"),
          confirmAccount: async () => s.confirmAccount ?? true,
        },
      },
      { mode, lingerMs: 30, ...(s.scopes ? { scopes: s.scopes } : {}), ...(s.qrRotations !== undefined ? { qrRotations: s.qrRotations } : {}), ...(s.protocol?.new ? { protocol: s.protocol.new } : {}) },
      { signal: controllers.new.signal, onEvent: listener("new") },
    );
  };

  const startExisting = (): Promise<FlowOutcome> =>
    runExistingDevice(
      {
        channel: net.port("existing"),
        oauth: hs.oauth(),
        matrix: hs.existingDeviceMatrix(secrets),
        ui: {
          scanQr: async (signal) => {
            let e = await bus.new.wait(isQr, signal);
            if (s.scanDelayMs) {
              await abortable(new Promise((r) => setTimeout(r, s.scanDelayMs)), signal);
              e = bus.new.events.filter(isQr).at(-1)!;
            }
            const qr = new Uint8Array(Buffer.from(e.hex, "hex"));
            return s.scannerQr ? s.scannerQr(qr) : qr;
          },
          enterCheckCode: enterCheckCode("new"),
          openUri: async (uri) => {
            openedUris.push(uri);
            const how = s.openUri ?? "opened";
            if (how === "throw") throw new Error("no browser");
            if (how === "opened" && s.consent !== "never") {
              // The user consents (or not) in the browser a moment later.
              setTimeout(() => hs.decide(uri, s.consent === "never" ? "approve" : s.consent ?? "approve"), 5);
            }
            return how;
          },
        },
      },
      {
        mode: newGenerates ? { kind: "scan" } : { kind: "generate", ...s.existingRendezvous },
        lingerMs: 30,
        secretsReadMs: 100,
        deviceWaitMs: 150,
        devicePollMs: 10,
        ...(s.protocol?.existing ? { protocol: s.protocol.existing } : {}),
      },
      { signal: controllers.existing.signal, onEvent: listener("existing") },
    );

  // When one side has ended and the other is still waiting, the server's TTL eventually expires the
  // session: model it so that a test never hangs, and so the waiting side's outcome is observable.
  const ttl = s.ttlMs ?? 300;
  let timer: NodeJS.Timeout | undefined;
  let giveUp: NodeJS.Timeout | undefined;
  const armTtl = (): void => {
    timer ??= setTimeout(() => {
      net.expireAll();
      // A side blocked before it touched the rendezvous (waiting for a QR from a peer that gave up)
      // only learns by the user giving up.
      giveUp = setTimeout(() => { controllers.new.abort(); controllers.existing.abort(); }, 100);
    }, ttl);
  };
  const newP = startNew().finally(armTtl);
  const existingP = startExisting().finally(armTtl);
  const [n, e] = await Promise.all([newP, existingP]);
  clearTimeout(timer);
  clearTimeout(giveUp);
  return { new: n.outcome, existing: e, events: { new: bus.new.events, existing: bus.existing.events }, hs, net, openedUris, secrets, newSession: n.session };
}

export function statesOf(events: FlowEvent[]): FlowStage[] {
  return events.flatMap((e) => (e.type === "state" ? [e.state] : []));
}
