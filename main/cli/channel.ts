// `qr-login channel generate|scan`: the bare MSC4388 secure channel over a real rendezvous server,
// as G or S, for testing against other implementations (docs/architecture.md "Contracts").
//
// stdout: one JSON object per line — qr, checkcode, confirmed, received, sent, error.
// stdin:  on G the first line is the check code; then each line is sent as {"type":"echo","body":line}.
// The scanner speaks first, then the sides alternate; a buffered line goes out as soon as it is our
// turn. On stdin EOF a side finishes the send in progress and stops without waiting for another
// message (the scanner DELETEs the session), exit 0.

import { createInterface } from "node:readline";
import { ProtocolError } from "../protocol/errors.js";
import { getProfile, type WireProfile } from "../protocol/profile.js";
import type { QrIntent } from "../protocol/qr.js";
import type { RendezvousSession } from "../protocol/rendezvous.js";
import { RendezvousError } from "../protocol/rendezvous.js";
import { connectScanner, startGenerator, type SecureConversation } from "../protocol/secure-session.js";
import { parseArgs, UsageError } from "./args.js";

export const summary = "channel generate --server URL | channel scan --qr HEX: bare MSC4388 secure channel (JSON lines)";

const USAGE = [
  "usage:",
  "  qr-login channel generate --server URL [--profile element-2026|msc4388] [--intent login|reciprocate]",
  "  qr-login channel scan --qr HEX [--profile element-2026|msc4388]",
].join("\n");

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** stdin as a queue of lines with an end marker; lines typed early wait for their turn. */
class LineQueue {
  private readonly lines: string[] = [];
  private ended = false;
  private waiters: (() => void)[] = [];
  private readonly rl;

  constructor(input: NodeJS.ReadableStream) {
    this.rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
    this.rl.on("line", (line) => {
      this.lines.push(line);
      this.wake();
    });
    this.rl.on("close", () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Next line, or undefined at EOF. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.ended) return undefined;
      await this.changed();
    }
  }

  /** EOF reached and nothing left to send. */
  get drained(): boolean {
    return this.ended && this.lines.length === 0;
  }

  /** Resolves once `drained` holds. */
  async whenDrained(): Promise<void> {
    while (!this.drained) await this.changed();
  }

  close(): void {
    this.rl.close();
    if ("destroy" in process.stdin) process.stdin.destroy();
  }
}

/** `p`, unless the signal fires first (then a typed `cancelled`). */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new ProtocolError("cancelled", "cancelled"));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** The check code typed on G's stdin; the wait ends with the session's life. */
async function readCheckCode(lines: LineQueue, session: RendezvousSession, signal: AbortSignal): Promise<string> {
  const expiry = new AbortController();
  const timer = setTimeout(() => expiry.abort(), Math.max(0, session.remainingMs));
  try {
    const code = await unlessAborted(lines.next(), AbortSignal.any([signal, expiry.signal]));
    if (code === undefined) throw new ProtocolError("cancelled", "stdin closed before the check code was entered");
    return code.trim();
  } catch (err) {
    if (expiry.signal.aborted && !signal.aborted) throw new RendezvousError("rendezvous_expired", "the session expired while waiting for the check code");
    throw err;
  } finally {
    clearTimeout(timer);
  }
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
async function converse(conversation: SecureConversation, lines: LineQueue, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (conversation.ourTurn) {
      const body = await unlessAborted(lines.next(), signal);
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

async function runRole(role: "generate" | "scan", args: string[]): Promise<number> {
  const parsed = parseArgs(args, { values: role === "generate" ? ["server", "profile", "intent"] : ["qr", "profile"], booleans: ["help"] });
  if (parsed.booleans.has("help")) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positional.length > 0) throw new UsageError(`unexpected argument "${parsed.positional[0]}"`);
  const profile = profileArg(parsed.values.get("profile"));

  let intent: QrIntent = "login";
  let server = "";
  let qrBytes = new Uint8Array();
  if (role === "generate") {
    server = parsed.values.get("server") ?? "";
    if (!server) throw new UsageError("--server URL is required");
    const i = parsed.values.get("intent") ?? "login";
    if (i !== "login" && i !== "reciprocate") throw new UsageError(`--intent must be login or reciprocate, got "${i}"`);
    intent = i;
  } else {
    const hex = (parsed.values.get("qr") ?? "").replace(/\s+/g, "");
    if (!hex) throw new UsageError("--qr HEX is required");
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError("--qr must be an even number of hex digits");
    qrBytes = Uint8Array.from(Buffer.from(hex, "hex"));
  }

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const lines = new LineQueue(process.stdin);
  let session: RendezvousSession | undefined;
  try {
    let conversation: SecureConversation;
    if (role === "generate") {
      const pending = await startGenerator({ rendezvousUrl: server, intent, profile, signal: abort.signal });
      session = pending.session;
      emit({ event: "qr", hex: Buffer.from(pending.qr).toString("hex") });
      const unconfirmed = await pending.waitForScanner();
      const code = await readCheckCode(lines, pending.session, abort.signal);
      conversation = await unconfirmed.confirm(code);
      emit({ event: "confirmed" });
    } else {
      const result = await connectScanner(qrBytes, { profile, signal: abort.signal });
      session = result.conversation.session;
      conversation = result.conversation;
      emit({ event: "checkcode", code: result.checkCode });
    }
    await converse(conversation, lines, abort.signal);
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
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
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
