// `qr-login channel generate|scan`: the bare MSC4388 secure channel over a real rendezvous server,
// as G or S, for testing against other implementations (docs/architecture.md "Contracts").
//
// stdout: one JSON object per line — qr, checkcode, confirmed, received, sent, error.
// stdin:  on G the first line is the check code; then each line is sent as {"type":"echo","body":line}.
// The scanner speaks first, then the sides alternate; a buffered line goes out as soon as it is our
// turn. On stdin EOF a side finishes the send in progress and stops without waiting for another
// message (the scanner DELETEs the session), exit 0.

import { ProtocolError } from "../protocol/errors.js";
import { getProfile, type WireProfile } from "../protocol/profile.js";
import type { QrIntent } from "../protocol/qr.js";
import type { SecureConversation } from "../protocol/conversation.js";
import { RendezvousError } from "../protocol/rendezvous-errors.js";
import type { RendezvousSession } from "../protocol/rendezvous-session.js";
import { connectScanner, startGenerator } from "../protocol/secure-session.js";
import { parseCommandArgs, UsageError } from "./args.js";
import { LineQueue } from "./line-queue.js";
import { interruptSignal } from "./stop-signals.js";

export const summary = "channel generate --server URL | channel scan --qr HEX: bare MSC4388 secure channel (JSON lines)";

const USAGE = [
  "usage:",
  "  qr-login channel generate --server URL [--profile element-2026|msc4388] [--intent login|reciprocate]",
  "  qr-login channel scan --qr HEX [--profile element-2026|msc4388]",
].join("\n");

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** The check code typed on G's stdin; the wait ends with the session's life. */
async function readCheckCode(lines: LineQueue, session: RendezvousSession, signal: AbortSignal): Promise<string> {
  const expiry = AbortSignal.timeout(Math.max(0, Math.ceil(session.remainingMs)));
  const code = await lines.nextLine(AbortSignal.any([signal, expiry]));
  if (signal.aborted) throw cancelled();
  if (expiry.aborted) throw new RendezvousError("rendezvous_expired", "the session expired while waiting for the check code");
  if (code === undefined) throw new ProtocolError("cancelled", "stdin closed before the check code was entered");
  return code.trim();
}

function cancelled(): ProtocolError {
  return new ProtocolError("cancelled", "cancelled");
}

function errorEvent(err: unknown): { code: string; message: string } {
  if (err instanceof ProtocolError) return { code: err.code, message: err.message };
  return { code: "internal_error", message: err instanceof Error ? err.message : String(err) };
}

function profileArg(value: string | undefined): WireProfile {
  try {
    return getProfile(value ?? "element-2026");
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** The ping-pong after the handshake. Returns when stdin is drained at a point where we may stop. */
async function converse(conversation: SecureConversation<RendezvousSession>, lines: LineQueue, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (conversation.ourTurn) {
      const body = await lines.nextLine(signal);
      if (signal.aborted) throw cancelled();
      if (body === undefined) return;
      const message = { type: "echo", body };
      await conversation.send(message);
      emit({ event: "sent", message });
      continue;
    }
    if (lines.drained) return;
    // Wait for the peer, but stop waiting once stdin is drained: we have nothing more to say.
    const stop = new AbortController();
    void lines.whenDrained().then(() => stop.abort());
    try {
      const message = await conversation.receive({ signal: stop.signal });
      emit({ event: "received", message });
    } catch (err) {
      if (stop.signal.aborted && err instanceof RendezvousError && err.code === "cancelled") return;
      throw err;
    } finally {
      stop.abort();
    }
  }
}

const GENERATE_OPTIONS = { server: { type: "string" }, profile: { type: "string" }, intent: { type: "string" }, help: { type: "boolean" } } as const;
const SCAN_OPTIONS = { qr: { type: "string" }, profile: { type: "string" }, help: { type: "boolean" } } as const;

/** What a role starts from: G's server and intent, or the QR S scans. */
type RoleStart =
  | { role: "generate"; profile: WireProfile; server: string; intent: QrIntent }
  | { role: "scan"; profile: WireProfile; qr: Uint8Array };

/** The role's options, or undefined after printing the usage for --help. */
function roleStart(role: "generate" | "scan", args: string[]): RoleStart | undefined {
  if (role === "generate") {
    const { values, positionals } = parseCommandArgs(args, GENERATE_OPTIONS);
    if (values.help) return helpShown();
    noPositionals(positionals);
    const profile = profileArg(values.profile);
    const server = values.server ?? "";
    if (!server) throw new UsageError("--server URL is required");
    const intent = values.intent ?? "login";
    if (intent !== "login" && intent !== "reciprocate") throw new UsageError(`--intent must be login or reciprocate, got "${intent}"`);
    return { role, profile, server, intent };
  }
  const { values, positionals } = parseCommandArgs(args, SCAN_OPTIONS);
  if (values.help) return helpShown();
  noPositionals(positionals);
  const profile = profileArg(values.profile);
  const hex = (values.qr ?? "").replace(/\s+/g, "");
  if (!hex) throw new UsageError("--qr HEX is required");
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError("--qr must be an even number of hex digits");
  return { role, profile, qr: Uint8Array.from(Buffer.from(hex, "hex")) };
}

function helpShown(): undefined {
  console.log(USAGE);
  return undefined;
}

function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
}

async function runRole(role: "generate" | "scan", args: string[]): Promise<number> {
  const start = roleStart(role, args);
  if (!start) return 0;
  const { profile } = start;

  const interrupt = interruptSignal();
  const signal = interrupt.signal;
  const lines = new LineQueue(process.stdin);
  let session: RendezvousSession | undefined;
  try {
    let conversation: SecureConversation<RendezvousSession>;
    if (start.role === "generate") {
      const pending = await startGenerator({ rendezvousUrl: start.server, intent: start.intent, profile, signal });
      session = pending.session;
      emit({ event: "qr", hex: Buffer.from(pending.qr).toString("hex") });
      const unconfirmed = await pending.waitForScanner();
      const code = await readCheckCode(lines, pending.session, signal);
      conversation = await unconfirmed.confirm(code);
      emit({ event: "confirmed" });
    } else {
      const result = await connectScanner(start.qr, { profile, signal });
      session = result.conversation.session;
      conversation = result.conversation;
      emit({ event: "checkcode", code: result.checkCode });
    }
    await converse(conversation, lines, signal);
    if (role === "scan") await conversation.close();
    return 0;
  } catch (err) {
    const { code, message } = errorEvent(err);
    emit({ event: "error", error: code, message });
    if (session && !session.isClosed) {
      try {
        await session.delete(AbortSignal.timeout(3_000));
      } catch {
        // expires on its own
      }
    }
    return 1;
  } finally {
    interrupt.dispose();
    lines.close();
  }
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "generate" || sub === "scan") return runRole(sub, rest);
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    console.log(USAGE);
    return sub === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown subcommand "${sub}"\n${USAGE}`);
}
