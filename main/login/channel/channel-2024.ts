// The secure-channel port's 2024 half: main/protocol-2024 (matrix-js-sdk's MSC4108 rendezvous session
// and ECIES channel behind our transport) as GeneratedChannel / UnconfirmedChannel / ScannedChannel,
// with its failures translated exactly as the 2025 core's are (errors.ts).
import type { FetchLike } from "../../protocol/rendezvous-http.js";
import { connectScanner2024, createUrlFor, startGenerator2024 } from "../../protocol-2024/secure-session.js";
import { translated } from "./errors.js";
import { conversationPort, generatedChannelPort } from "./core-ports.js";
import type { GeneratedChannel, QrIntent, ScannedChannel } from "../flows/ports.js";

export interface Channel2024Options {
  fetch?: FetchLike;
  /** Send the long-poll `since` parameter (default true; a server without the extension ignores it). */
  longPoll?: boolean;
}

export function create2024Channel(opts: Channel2024Options = {}) {
  const knobs = { ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.longPoll !== undefined ? { longPoll: opts.longPoll } : {}) };
  return {
    /** Create the session on `baseUrl`'s MSC4108 endpoint and make the QR. */
    startGenerator: (args: { baseUrl: string; intent: QrIntent; serverName?: string; signal?: AbortSignal }): Promise<GeneratedChannel> =>
      translated(async () => {
        const pending = await startGenerator2024({
          ...knobs,
          createUrl: createUrlFor(args.baseUrl),
          intent: args.intent,
          ...(args.serverName ? { serverName: args.serverName } : {}),
          ...(args.signal ? { signal: args.signal } : {}),
        });
        return generatedChannelPort("2024", pending);
      }),
    connectScanner: (qr: Uint8Array, args: { signal?: AbortSignal }): Promise<ScannedChannel> =>
      translated(async () => {
        const scanned = await connectScanner2024(qr, { ...knobs, ...(args.signal ? { signal: args.signal } : {}) });
        return { checkCode: scanned.checkCode, conversation: conversationPort(scanned.conversation) };
      }),
  };
}
