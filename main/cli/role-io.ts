// Terminal I/O shared by the headless sign-in roles (`qr-login new-device`, `qr-login existing-device`):
// stdin as a queue of lines (check code, "continue?" answers, a pasted QR), progress lines on stderr,
// the QR drawn in the terminal, and the one JSON summary on stdout.
//
// stdout carries exactly one line, the summary, so a script can `JSON.parse` it; everything meant for
// the person at the terminal (QR, check code, verification URI, prompts, progress) goes to stderr.
import QRCode from "qrcode";
import type { FlowEvent, FlowOutcome } from "../login/flows/ports.js";
import { UsageError } from "./args.js";
import type { LineQueue } from "./line-queue.js";
import { interruptSignal } from "./stop-signals.js";

export { LineQueue } from "./line-queue.js";
export { openInBrowser } from "./open-url.js";

export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The QR drawn with half-block characters (two modules per character row), payload in byte mode. */
export async function terminalQr(payload: Uint8Array): Promise<string> {
  // A byte segment keeps the binary payload exact (a string would be re-encoded as UTF-8).
  return QRCode.toString([{ data: payload, mode: "byte" }], { type: "terminal", small: true, errorCorrectionLevel: "L" });
}

/**
 * Shows a flow event to the person at the terminal: the QR (drawn, and as hex), the check code, and a
 * progress line; `where` says on which device to scan the QR and enter the code. The user code is
 * each role's own.
 */
export function showEvent(e: FlowEvent, where: { scanQrOn: string; enterCheckCodeOn: string }): void {
  if (e.type === "qr") {
    void terminalQr(new Uint8Array(Buffer.from(e.hex, "hex"))).then((art) => {
      say(`QR code (scan it on ${where.scanQrOn}):\n${art}`);
      say(`QR: ${e.hex}`);
    });
    return;
  }
  if (e.type === "check_code") say(`check code: ${e.code}  (enter it on ${where.enterCheckCodeOn})`);
  const line = describeEvent(e);
  if (line) say(line);
}

/** Asks on stderr and reads the answer from stdin; stdin closing first is an error naming `what`. */
export async function ask(stdin: LineQueue, prompt: string, what: string, signal: AbortSignal): Promise<string> {
  say(prompt);
  const line = await stdin.next(signal);
  if (line === undefined) throw signal.aborted ? signal.reason : new Error(`stdin closed before ${what}`);
  return line;
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

/**
 * Ends a sign-in role: the outcome on stderr, the summary on stdout, and an explicit exit with `code`
 * (stdin and matrix-js-sdk's timers would otherwise keep the process alive).
 */
export function finishRole(s: Summary, code: number): number {
  say(`outcome: ${s.outcome}${s.reason ? ` (${s.reason})` : ""}`);
  printSummary(s);
  setImmediate(() => process.exit(code));
  return code;
}

/** A signal aborted by the first SIGINT/SIGTERM (the flow then tells the peer and deletes the session). */
export function interruptFlow(): { signal: AbortSignal; dispose(): void } {
  return interruptSignal(() => say("interrupted: cancelling"));
}

export function hexToBytes(hex: string, flag: string): Uint8Array {
  const clean = hex.trim().replace(/\s+/g, "");
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(clean)) throw new UsageError(`${flag}: not a hex string`);
  return new Uint8Array(Buffer.from(clean, "hex"));
}
