// Ports → real modules: the secure session (protocol/secure-session.ts), the QR codec (protocol/qr.ts)
// and matrix-js-sdk (login/matrix.ts). The OAuth port lives in oauth-port.ts.
//
// Error translation is the adapters' main job: the flows switch on ChannelError kinds, never on the
// protocol core's codes, so a new code there needs one line here and nothing in the flows.

import { connectScanner, startGenerator, type SecureConversation as CoreConversation } from "../protocol/secure-session.js";
import { decodeQr } from "../protocol/qr.js";
import { ProtocolError, type ProtocolErrorCode } from "../protocol/errors.js";
import type { FetchLike, PollPolicy } from "../protocol/rendezvous.js";
import * as matrix from "./matrix.js";
import type { MatrixClient } from "matrix-js-sdk";
import {
  ChannelError,
  type ChannelErrorKind,
  type ExistingDeviceMatrixPort,
  type GeneratedChannel,
  type NewDeviceMatrixPort,
  type NewDeviceSession,
  type SecureChannelPort,
  type SecureConversation,
  type UnconfirmedChannel,
} from "./ports.js";

// ---- secure channel -----------------------------------------------------------------------------

/** How each protocol-core failure looks to the flows. */
export function channelErrorKind(code: ProtocolErrorCode): ChannelErrorKind | "cancelled" {
  switch (code) {
    case "cancelled":
      return "cancelled";
    case "rendezvous_expired":
      return "expired";
    case "rendezvous_not_found":
    case "rendezvous_closed":
    case "channel_dead":
      return "closed";
    case "check_code_mismatch":
    case "invalid_check_code":
      return "check_code_mismatch";
    case "decryption_failed":
    case "unexpected_handshake_message":
    case "invalid_message":
    case "invalid_public_key":
    case "invalid_base64":
    case "invalid_utf8":
    case "rendezvous_concurrent_write":
      // Someone else wrote to the session, or the payload does not open: treat as an attack.
      return "insecure_channel";
    case "unexpected_intent":
      return "invalid_qr";
    case "rendezvous_unavailable":
    case "rendezvous_forbidden":
      return "rendezvous_unavailable";
    default:
      return code.startsWith("qr_") ? "invalid_qr" : "network";
  }
}

function translate(err: unknown): unknown {
  if (err instanceof ProtocolError) {
    const kind = channelErrorKind(err.code);
    // A cancelled wait stays an abort: the flow reads its own signal to report "cancelled".
    if (kind === "cancelled") return err;
    return new ChannelError(kind, `${err.code}: ${err.message}`, { cause: err });
  }
  return err;
}

async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw translate(err);
  }
}

/**
 * The flow's signal must stop connecting, but must NOT be handed to the core as the session-wide
 * signal: the core links that one into every later request, and after a cancel the flow still has to
 * send m.login.failure and DELETE the session.
 */
function duringSetup<T>(signal: AbortSignal | undefined, work: (setupSignal: AbortSignal) => Promise<T>): Promise<T> {
  const setup = new AbortController();
  const onAbort = (): void => setup.abort(signal?.reason);
  if (signal?.aborted) setup.abort(signal.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  return translated(() => work(setup.signal)).finally(() => signal?.removeEventListener("abort", onAbort));
}

function conversationPort(core: CoreConversation): SecureConversation {
  return {
    send: (message) => translated(() => core.send(message)),
    receive: (opts) => translated(() => core.receive(opts?.signal ? { signal: opts.signal } : {})),
    close: () => core.close(),
  };
}

export interface SecureChannelAdapterOptions {
  /** Wire profile name (default `element-2026`). */
  profile?: string;
  fetch?: FetchLike;
  /** Sent on rendezvous create when the server requires authentication (existing device generating). */
  accessToken?: string;
  /** Rendezvous polling pace (the core's defaults otherwise). */
  poll?: Partial<PollPolicy>;
}

export function createSecureChannelPort(opts: SecureChannelAdapterOptions = {}): SecureChannelPort {
  const transport = { ...(opts.profile ? { profile: opts.profile } : {}), ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.poll ? { poll: opts.poll } : {}) };
  return {
    decodeQr(qr) {
      try {
        const decoded = decodeQr(qr);
        return { intent: decoded.intent, baseUrl: decoded.baseUrl };
      } catch (err) {
        throw translate(err);
      }
    },
    startGenerator: ({ rendezvousUrl, intent, signal }) =>
      duringSetup(signal, async (setupSignal) => {
        // The core keeps this signal for the session's lifetime; it is only ever aborted during setup.
        const pending = await startGenerator({ ...transport, rendezvousUrl, intent, signal: setupSignal, ...(opts.accessToken ? { accessToken: opts.accessToken } : {}) });
        if (setupSignal.aborted) {
          await pending.close();
          throw setupSignal.reason;
        }
        const generated: GeneratedChannel = {
          qr: pending.qr,
          expiresAt: Date.now() + pending.expiresInMs,
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
        return generated;
      }),
    connectScanner: (qr, { signal }) =>
      duringSetup(signal, async (setupSignal) => {
        // The setup signal stays linked inside the core conversation; it is never aborted after this
        // call returns, because the listener on the flow's signal is removed in duringSetup().
        const scanned = await connectScanner(qr, { ...transport, signal: setupSignal });
        return { checkCode: scanned.checkCode, conversation: conversationPort(scanned.conversation) };
      }),
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
