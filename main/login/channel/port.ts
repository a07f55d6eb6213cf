// The SecureChannelPort over the real channels: the 2025 secure session of main/protocol
// (secure-session.ts) and the 2024 one of main/protocol-2024 (through channel-2024.ts), and the QR
// codecs. The version is decided here, in one place: a scanned QR by its bytes, a generated one by what
// the rendezvous server offers (version.ts). Every failure leaves as a ChannelError (errors.ts): the
// flows switch on its kind, never on the protocol layers' codes.

import { connectScanner, startGenerator } from "../../protocol/secure-session.js";
import type { PollPolicy } from "../../protocol/rendezvous-pacing.js";
import type { FetchLike } from "../../protocol/rendezvous-http.js";
import { decodeAnyQr } from "../../protocol-2024/qr.js";
import { create2024Channel } from "./channel-2024.js";
import { conversationPort, generatedChannelPort } from "./core-ports.js";
import { duringSetup, translate } from "./errors.js";
import { selectVersion } from "./version.js";
import { ChannelError, type DecodedQr, type GeneratedChannel, type ProtocolVersion, type SecureChannelPort, type StartGeneratorOptions } from "../flows/ports.js";

export interface SecureChannelAdapterOptions {
  /** Wire profile name of the 2025 channel (default `element-2026`). */
  profile?: string;
  fetch?: FetchLike;
  /** Sent on rendezvous discovery and create when the server requires authentication (existing device generating, 2025). */
  accessToken?: string;
  /** 2025 rendezvous polling pace (the core's defaults otherwise). */
  poll?: Partial<PollPolicy>;
  /** 2024: send the long-poll `since` parameter (default true). */
  longPoll2024?: boolean;
}

export function createSecureChannelPort(opts: SecureChannelAdapterOptions = {}): SecureChannelPort {
  const transport = { ...(opts.profile ? { profile: opts.profile } : {}), ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.poll ? { poll: opts.poll } : {}) };
  const v2024 = create2024Channel({ ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.longPoll2024 !== undefined ? { longPoll: opts.longPoll2024 } : {}) });

  const start2025 = ({ rendezvousUrl, intent, signal }: StartGeneratorOptions): Promise<GeneratedChannel> =>
    duringSetup(signal, async (setupSignal) => {
      // The core keeps this signal for the session's lifetime; it is only ever aborted during setup.
      const pending = await startGenerator({ ...transport, rendezvousUrl, intent, signal: setupSignal, ...(opts.accessToken ? { accessToken: opts.accessToken } : {}) });
      if (setupSignal.aborted) {
        await pending.close();
        throw setupSignal.reason;
      }
      return generatedChannelPort("2025", pending);
    });

  const start2024 = async (baseUrl: string, o: StartGeneratorOptions): Promise<GeneratedChannel> =>
    v2024.startGenerator({ baseUrl, intent: o.intent, ...(o.serverName ? { serverName: o.serverName } : {}), ...(o.signal ? { signal: o.signal } : {}) });

  return {
    decodeQr(qr): DecodedQr {
      try {
        const any = decodeAnyQr(qr);
        if (any.version === "2024") {
          const { intent, serverName } = any.qr;
          return intent === "reciprocate" && serverName !== undefined ? { version: "2024", intent, homeserver: { serverName } } : { version: "2024", intent };
        }
        const { intent, baseUrl } = any.qr;
        // MSC4388: a reciprocate QR's base URL is the homeserver (a login QR's is only the rendezvous server).
        return intent === "reciprocate" ? { version: "2025", intent, homeserver: { baseUrl } } : { version: "2025", intent };
      } catch (err) {
        throw translate(err);
      }
    },
    async startGenerator(o) {
      const chosen = await selectVersion(o, { ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.accessToken ? { accessToken: opts.accessToken } : {}), ...(opts.profile ? { profile: opts.profile } : {}) });
      if (chosen.version === "2025") return start2025({ ...o, rendezvousUrl: chosen.baseUrl });
      try {
        return await start2024(chosen.baseUrl, o);
      } catch (err) {
        // Forced 2024 on a server without the endpoint: the configured fallback server, as Element Web does.
        const fallback = o.fallbackRendezvousUrl;
        if (err instanceof ChannelError && err.kind === "rendezvous_unavailable" && fallback && chosen.baseUrl !== fallback) return start2024(fallback, o);
        throw err;
      }
    },
    connectScanner(qr, { signal }) {
      let version: ProtocolVersion;
      try {
        version = decodeAnyQr(qr).version;
      } catch (err) {
        return Promise.reject(translate(err));
      }
      if (version === "2024") return v2024.connectScanner(qr, signal ? { signal } : {});
      return duringSetup(signal, async (setupSignal) => {
        // The setup signal stays linked inside the core conversation; it is never aborted after this
        // call returns, because the listener on the flow's signal is removed in duringSetup().
        const scanned = await connectScanner(qr, { ...transport, signal: setupSignal });
        return { checkCode: scanned.checkCode, conversation: conversationPort(scanned.conversation) };
      });
    },
  };
}
