// The protocol cores' channel objects as the flows' ports. Both versions hand out the same objects
// (main/protocol/conversation.ts: a pending generator with a QR, an unconfirmed channel that wants the
// check code, a conversation), so one wrapper serves both; it only adds the translation of the cores'
// errors into ChannelError kinds.
import type { PendingGenerator, SecureConversation as CoreConversation } from "../../protocol/conversation.js";
import { translated } from "./errors.js";
import type { GeneratedChannel, ProtocolVersion, SecureConversation, UnconfirmedChannel } from "../flows/ports.js";

export function conversationPort(core: CoreConversation<unknown>): SecureConversation {
  return {
    send: (message) => translated(() => core.send(message)),
    receive: (opts) => translated(() => core.receive(opts?.signal ? { signal: opts.signal } : {})),
    close: () => core.close(),
  };
}

export function generatedChannelPort(version: ProtocolVersion, pending: PendingGenerator<unknown>): GeneratedChannel {
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
