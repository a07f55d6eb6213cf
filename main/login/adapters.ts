// Ports → real modules: the secure channel of either version (the 2025 secure session of
// protocol/secure-session.ts, the 2024 one of protocol-2024 through adapters-2024.ts), the QR codecs,
// and matrix-js-sdk (login/matrix.ts). The OAuth port lives in oauth-port.ts, homeserver resolution in
// homeserver.ts.
//
// Error translation is the adapters' main job (channel-errors.ts): the flows switch on ChannelError
// kinds, never on the protocol layers' codes. The version is decided here, in one place: a scanned QR
// by its bytes, a generated one by what the rendezvous server offers (selectVersion).

import { connectScanner, startGenerator } from "../protocol/secure-session.js";
import { getProfile } from "../protocol/profile.js";
import { RendezvousClient, type FetchLike, type PollPolicy } from "../protocol/rendezvous.js";
import { prefixesFor } from "../protocol/secure-session.js";
import { decodeAnyQr } from "../protocol-2024/qr.js";
import { offersMsc4108 } from "../protocol-2024/discovery.js";
import * as matrix from "./matrix.js";
import type { MatrixClient } from "matrix-js-sdk";
import { create2024Channel } from "./adapters-2024.js";
import { conversationPort, generatedChannelPort } from "./channel-ports.js";
import { duringSetup, translate } from "./channel-errors.js";
import {
  ChannelError,
  type DecodedQr,
  type ExistingDeviceMatrixPort,
  type GeneratedChannel,
  type NewDeviceMatrixPort,
  type NewDeviceSession,
  type ProtocolChoice,
  type ProtocolVersion,
  type SecureChannelPort,
  type StartGeneratorOptions,
} from "./ports.js";

export { channelErrorKind } from "./channel-errors.js";

// ---- secure channel -----------------------------------------------------------------------------


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

/** Which version a generator speaks, and where: decided from what the servers offer (or forced). */
export interface VersionChoice {
  version: ProtocolVersion;
  baseUrl: string;
}

/**
 * `auto`: 2025 if the rendezvous server's discovery says `create_available: true`; else 2024 if it
 * advertises `org.matrix.msc4108` in `/versions`; else 2024 on the fallback server when one is
 * configured; else ChannelError("rendezvous_unavailable"). A forced version is taken as given (2024
 * falls back to the fallback server when the first one has no endpoint, see startGenerator).
 */
export async function selectVersion(
  opts: Pick<StartGeneratorOptions, "rendezvousUrl" | "fallbackRendezvousUrl" | "protocol" | "signal">,
  probe: { fetch?: FetchLike; accessToken?: string; profile?: string },
): Promise<VersionChoice> {
  const choice: ProtocolChoice = opts.protocol ?? "auto";
  if (choice === "2025") return { version: "2025", baseUrl: opts.rendezvousUrl };
  if (choice === "2024") return { version: "2024", baseUrl: opts.rendezvousUrl };
  const problems: string[] = [];
  let networkFailure: unknown;
  try {
    const client = new RendezvousClient({
      baseUrl: opts.rendezvousUrl,
      prefixes: prefixesFor(getProfile(probe.profile)),
      ...(probe.fetch ? { fetch: probe.fetch } : {}),
      ...(probe.accessToken ? { accessToken: probe.accessToken } : {}),
      maxAttempts: 3,
    });
    const discovery = await client.discover(opts.signal);
    if (discovery.createAvailable) return { version: "2025", baseUrl: opts.rendezvousUrl };
    problems.push(discovery.available ? "its MSC4388 rendezvous does not let this device create sessions" : "no MSC4388 (2025) rendezvous");
  } catch (err) {
    if (opts.signal?.aborted) throw translate(err);
    networkFailure = err;
    problems.push(`MSC4388 discovery failed (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    if (await offersMsc4108(opts.rendezvousUrl, { ...(probe.fetch ? { fetch: probe.fetch } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })) {
      return { version: "2024", baseUrl: opts.rendezvousUrl };
    }
    problems.push("no org.matrix.msc4108 (2024) in /versions");
  } catch (err) {
    if (opts.signal?.aborted) throw translate(err);
    networkFailure ??= err;
    problems.push(`/versions failed (${err instanceof Error ? err.message : String(err)})`);
  }
  if (opts.fallbackRendezvousUrl) return { version: "2024", baseUrl: opts.fallbackRendezvousUrl };
  if (networkFailure !== undefined && problems.every((p) => /failed/.test(p))) {
    throw new ChannelError("network", `cannot reach ${opts.rendezvousUrl}: ${problems.join("; ")}`, { cause: networkFailure });
  }
  throw new ChannelError("rendezvous_unavailable", `your homeserver doesn't support sign in with QR: ${opts.rendezvousUrl} has ${problems.join(", ")}`);
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

// ---- Matrix -------------------------------------------------------------------------------------

export interface NewDeviceClientSession extends NewDeviceSession {
  /** The signed-in matrix-js-sdk client (started once the secrets are imported). */
  readonly client: MatrixClient;
  readonly userId: string;
  readonly deviceId: string;
  /** The OAuth client and refresh token, so an app that keeps this session can renew its access token. */
  readonly clientId: string;
  readonly refreshToken?: string;
}

async function whoami(baseUrl: string, accessToken: string, fetchImpl: FetchLike, signal?: AbortSignal): Promise<{ userId: string; deviceId?: string }> {
  const url = new URL("_matrix/client/v3/account/whoami", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  const res = await fetchImpl(url.href, { headers: { authorization: `Bearer ${accessToken}`, accept: "application/json" }, ...(signal ? { signal } : {}) });
  if (!res.ok) throw new Error(`whoami: HTTP ${res.status}`);
  const body = (await res.json()) as { user_id?: unknown; device_id?: unknown };
  if (typeof body.user_id !== "string") throw new Error("whoami: no user_id");
  return typeof body.device_id === "string" ? { userId: body.user_id, deviceId: body.device_id } : { userId: body.user_id };
}

export function createNewDeviceMatrixPort(opts: { fetch?: FetchLike; importTimeoutMs?: number } = {}): NewDeviceMatrixPort<NewDeviceClientSession> {
  const fetchImpl: FetchLike = opts.fetch ?? ((input, init) => fetch(input, init));
  return {
    async createSession({ baseUrl, deviceId, tokens, clientId }) {
      // whoami first: matrix-js-sdk needs the user id, and the flow asks the user to confirm it.
      const who = await whoami(baseUrl, tokens.access_token, fetchImpl);
      // A client that is NOT started: nothing may be uploaded before the secrets are imported.
      const client = await matrix.createMatrixClient({ homeserverUrl: baseUrl, userId: who.userId, deviceId, accessToken: tokens.access_token });
      return {
        client,
        userId: who.userId,
        deviceId,
        clientId,
        ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
        whoami: async () => who,
        importSecretsAndVerify: async (bundle, progress) => {
          const state = await matrix.importSecretsAndVerify(client, bundle, { timeoutMs: opts.importTimeoutMs ?? 10_000, ...(progress?.onStep ? { onStep: progress.onStep } : {}) });
          return { crossSigned: state.crossSigned, backup: state.backup };
        },
      };
    },
  };
}

/** The existing device's port over its signed-in, crypto-enabled client. */
export function createExistingDeviceMatrixPort(client: MatrixClient): ExistingDeviceMatrixPort {
  const userId = client.getSafeUserId();
  return {
    baseUrl: client.baseUrl.endsWith("/") ? client.baseUrl : `${client.baseUrl}/`,
    serverName: userId.slice(userId.indexOf(":") + 1),
    exportSecrets: () => matrix.exportSecrets(client),
    deviceExists: (deviceId) => matrix.deviceExists(client, deviceId),
  };
}
