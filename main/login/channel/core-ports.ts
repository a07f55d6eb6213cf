// The protocol cores' channel objects (2025: main/protocol/secure-session.ts; 2024:
// main/protocol-2024/secure-session.ts) as the flows' ports. Both cores have the same shape — a pending
// generator with a QR, an unconfirmed channel that wants the check code, a conversation — so one
// wrapper serves both; it only adds the translation of the cores' errors into ChannelError kinds.
import { translated } from "./errors.js";
import type { GeneratedChannel, ProtocolVersion, SecureConversation, UnconfirmedChannel } from "../flows/ports.js";

interface CoreConversation {
  send(message: object): Promise<void>;
  receive(opts: { signal?: AbortSignal }): Promise<object>;
  close(): Promise<void>;
}

interface CoreUnconfirmed {
  confirm(code: string): Promise<CoreConversation>;
  close(): Promise<void>;
}

interface CorePendingGenerator {
  readonly qr: Uint8Array;
  /** Until the rendezvous session expires (monotonic); Infinity when the server did not say. */
  readonly expiresInMs: number;
  waitForScanner(opts: { signal?: AbortSignal }): Promise<CoreUnconfirmed>;
  close(): Promise<void>;
}

export function conversationPort(core: CoreConversation): SecureConversation {
  return {
    send: (message) => translated(() => core.send(message)),
    receive: (opts) => translated(() => core.receive(opts?.signal ? { signal: opts.signal } : {})),
    close: () => core.close(),
  };
}

export function generatedChannelPort(version: ProtocolVersion, pending: CorePendingGenerator): GeneratedChannel {
  const left = pending.expiresInMs;
  return {
    version,
    qr: pending.qr,
    ...(Number.isFinite(left) ? { expiresAt: Date.now() + left } : {}),
    waitForScanner: (wait) =>
      translated(async () => {
        const unconfirmed = await pending.waitForScanner(wait?.signal ? { signal: wait.signal } : {});
        const port: UnconfirmedChannel = {
          confirm: (code) => translated(async () => conversationPort(await unconfirmed.confirm(code))),
          close: () => unconfirmed.close(),
        };
        return port;
      }),
    close: () => pending.close(),
  };
}
