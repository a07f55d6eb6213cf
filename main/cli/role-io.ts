// Terminal I/O shared by the headless sign-in roles (`qr-login new-device`, `qr-login existing-device`):
// stdin as a queue of lines (check code, "continue?" answers, a pasted QR), progress lines on stderr,
// the QR drawn in the terminal, and the one JSON summary on stdout.
//
// stdout carries exactly one line, the summary, so a script can `JSON.parse` it; everything meant for
// the person at the terminal (QR, check code, verification URI, prompts, progress) goes to stderr.
import { createInterface } from "node:readline";
import QRCode from "qrcode";
import type { FlowEvent, FlowOutcome } from "../login/ports.js";
import { UsageError } from "./args.js";

export { openInBrowser } from "./open-url.js";

/** stdin as a queue of lines; lines typed early wait until asked for. */
export class LineQueue {
  private readonly lines: string[] = [];
  private ended = false;
  private waiters: (() => void)[] = [];

  constructor(input: NodeJS.ReadableStream) {
    const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
    rl.on("line", (line) => {
      this.lines.push(line);
      this.wake();
    });
    rl.on("close", () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next non-empty line (trimmed), or undefined at EOF or when `signal` aborts. */
  async next(signal?: AbortSignal): Promise<string | undefined> {
    for (;;) {
      if (signal?.aborted) return undefined;
      const line = this.lines.shift();
      if (line !== undefined) {
        if (line.trim() === "") continue;
        return line.trim();
      }
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal?.removeEventListener("abort", done);
          resolve();
        };
        this.waiters.push(done);
        signal?.addEventListener("abort", done, { once: true });
      });
    }
  }
}

export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The QR drawn with half-block characters (two modules per character row), payload in byte mode. */
export async function terminalQr(payload: Uint8Array): Promise<string> {
  // A byte segment keeps the binary payload exact (a string would be re-encoded as UTF-8).
  return QRCode.toString([{ data: payload, mode: "byte" }], { type: "terminal", small: true, errorCorrectionLevel: "L" });
}

/** One progress line per flow event (stderr). Never includes tokens or secrets: events carry none. */
export function describeEvent(e: FlowEvent): string | undefined {
  switch (e.type) {
    case "state":
      return `… ${e.state.replace(/_/g, " ")}`;
    case "qr":
    case "check_code":
    case "user_code":
    case "confirm_account":
    case "opening_browser":
    case "outcome":
      return undefined; // printed by the command itself, in a form meant for the user
    case "check_code_required":
      return "… waiting for the check code";
    case "homeserver":
      return `homeserver: ${e.baseUrl}`;
    case "protocol":
      return `protocol: MSC4108 ${e.version} version`;
    case "device_id":
      return `new device id: ${e.deviceId}`;
    case "waiting_for_consent":
      return "… waiting for consent on the other device";
    case "transferring_secrets":
      return "… secrets received";
    case "importing":
      return "… importing secrets";
    case "secrets_step":
      return `secrets: ${e.step.replace(/_/g, " ")} ${e.status}`;
    case "verified":
      return `verified: cross-signed ${e.crossSigned}, key backup ${e.backup}`;
    case "message_sent":
      return `→ ${e.messageType}`;
    case "message_received":
      return `← ${e.messageType}`;
  }
}

export interface Summary {
  outcome: FlowOutcome["outcome"];
  userId?: string;
  deviceId?: string;
  crossSigned: boolean;
  backup: boolean;
  reason?: string;
  side?: string;
  detail?: string;
}

/** The summary line: outcome, and on success who and which device, and whether it is verified. */
export function summarise(outcome: FlowOutcome, known: { userId?: string; deviceId?: string } = {}): Summary {
  const s: Summary = { outcome: outcome.outcome, crossSigned: false, backup: false };
  const userId = outcome.outcome === "success" ? (outcome.userId ?? known.userId) : known.userId;
  const deviceId = outcome.outcome === "success" ? outcome.deviceId : known.deviceId;
  if (userId !== undefined) s.userId = userId;
  if (deviceId !== undefined) s.deviceId = deviceId;
  if (outcome.outcome === "success") {
    s.crossSigned = outcome.crossSigned ?? false;
    s.backup = outcome.backup ?? false;
  }
  if ("reason" in outcome) s.reason = outcome.reason;
  if ("side" in outcome) s.side = outcome.side;
  if ("detail" in outcome && outcome.detail !== undefined) s.detail = outcome.detail;
  if (outcome.outcome === "error") s.reason = outcome.code;
  return s;
}

export function printSummary(summary: Summary): void {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

/** A signal aborted by the first SIGINT/SIGTERM (the flow then tells the peer and deletes the session). */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    say("interrupted: cancelling");
    controller.abort(new Error("interrupted"));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

export function hexToBytes(hex: string, flag: string): Uint8Array {
  const clean = hex.trim().replace(/\s+/g, "");
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(clean)) throw new UsageError(`${flag}: not a hex string`);
  return new Uint8Array(Buffer.from(clean, "hex"));
}
