// In-memory fakes of the login ports, for unit tests of the MSC4108 state machines.
// FakeRendezvous models what matters to the flows: one session per QR, a check code that the
// generator must confirm, JSON messages both ways (deep-copied, like a real wire), DELETE that makes
// unread messages unreadable (as a 404 would), and expiry that fails every pending and later call.

import { randomBytes } from "node:crypto";
import {
  ChannelError,
  OAuthError,
  SECRETS_STEPS,
  type AuthMetadata,
  type DecodedQr,
  type DeviceAuthorization,
  type ExistingDeviceMatrixPort,
  type GeneratedChannel,
  type NewDeviceMatrixPort,
  type SignedInClient,
  type OAuthPort,
  type OAuthTokens,
  type PollResult,
  type ProtocolVersion,
  type QrIntent,
  type StartGeneratorOptions,
  type ScannedChannel,
  type SecretsStep,
  type SecureChannelPort,
  type SecureConversation,
  type UnconfirmedChannel,
} from "../../main/login/flows/ports.js";
import type { SecretsBundle } from "../../main/login/flows/messages.js";
import { DEVICE_CODE_GRANT } from "../../contract/oauth.js";

export type Device = "new" | "existing";

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("aborted", "AbortError");
}

/** Resolve `promise` unless `signal` aborts first. */
export function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener("abort", onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener("abort", onAbort); reject(e); },
    );
  });
}

class Deferred<T> {
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  readonly promise = new Promise<T>((res, rej) => { this.resolve = res; this.reject = rej; });
  constructor() { this.promise.catch(() => undefined); }
}

type Status = "alive" | "deleted" | "expired";

class Mailbox {
  private readonly queue: object[] = [];
  private waiter: Deferred<object> | undefined;
  constructor(private readonly session: FakeSession) {}
  put(message: object): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(message);
    } else this.queue.push(message);
  }
  fail(error: ChannelError): void {
    this.queue.length = 0;
    this.waiter?.reject(error);
    this.waiter = undefined;
  }
  take(signal?: AbortSignal): Promise<object> {
    const err = this.session.error();
    if (err) return Promise.reject(err);
    const next = this.queue.shift();
    if (next) return Promise.resolve(next);
    const waiter = new Deferred<object>();
    this.waiter = waiter;
    // An abandoned receive must not swallow the next message (a real GET that was aborted reads nothing).
    signal?.addEventListener("abort", () => { if (this.waiter === waiter) this.waiter = undefined; }, { once: true });
    return abortable(waiter.promise, signal);
  }
}

export interface SentRecord { from: Device; message: object }

class FakeSession {
  status: Status = "alive";
  scanned = false;
  readonly checkCode = `${1 + (randomBytes(1)[0]! % 9)}${randomBytes(1)[0]! % 10}`;
  readonly toGenerator = new Mailbox(this);
  readonly toScanner = new Mailbox(this);
  readonly scannerArrived = new Deferred<void>();
  deletedBy: Device | undefined;
  constructor(readonly id: string, readonly intent: QrIntent, readonly baseUrl: string, readonly generator: Device, readonly version: ProtocolVersion) {}
  error(): ChannelError | undefined {
    if (this.status === "expired") return new ChannelError("expired", "rendezvous session expired");
    if (this.status === "deleted") return new ChannelError("closed", "rendezvous session deleted");
    return undefined;
  }
  end(status: "deleted" | "expired", by?: Device): void {
    if (this.status !== "alive") return;
    this.status = status;
    if (by) this.deletedBy = by;
    const err = this.error()!;
    this.toGenerator.fail(err);
    this.toScanner.fail(err);
    this.scannerArrived.reject(err);
  }
}

export class FakeRendezvous {
  readonly sessions = new Map<string, FakeSession>();
  readonly sent: SentRecord[] = [];
  /** Rendezvous operations per device (create, connect, send, receive, delete). */
  readonly ops: Record<Device, number> = { new: 0, existing: 0 };
  /** Rewrite a message on the wire (tests of unexpected / unsupported messages). */
  tamper: ((from: Device, message: Record<string, unknown>) => object) | undefined;
  createFails = false;
  /** The version the rendezvous "server" offers when a generator asks for `auto`. */
  offers: ProtocolVersion = "2025";
  /** Every startGenerator call's options (version selection tests). */
  readonly starts: StartGeneratorOptions[] = [];

  expireAll(): void {
    for (const s of this.sessions.values()) s.end("expired");
  }

  port(device: Device): SecureChannelPort {
    return {
      decodeQr: (qr) => decodeFakeQr(qr),
      startGenerator: async (options) => {
        const { rendezvousUrl, intent, signal } = options;
        this.starts.push(options);
        if (signal?.aborted) throw abortError(signal);
        this.ops[device]++;
        if (this.createFails) throw new ChannelError("rendezvous_unavailable", "POST rendezvous: 403");
        const version = options.protocol === "2024" || options.protocol === "2025" ? options.protocol : this.offers;
        if (version === "2024" && intent === "reciprocate" && !options.serverName) throw new ChannelError("invalid_qr", "a 2024 reciprocate QR needs a server name");
        const session = new FakeSession(randomBytes(8).toString("hex"), intent, rendezvousUrl, device, version);
        this.sessions.set(session.id, session);
        const generated: GeneratedChannel = {
          version,
          qr: encodeFakeQr({ intent, baseUrl: rendezvousUrl, id: session.id, version, ...(options.serverName ? { serverName: options.serverName } : {}) }),
          expiresAt: Date.now() + 120_000,
          waitForScanner: async (opts) => {
            await abortable(session.scannerArrived.promise, opts?.signal);
            const unconfirmed: UnconfirmedChannel = {
              confirm: async (code) => {
                const err = session.error();
                if (err) throw err;
                if (code !== session.checkCode) throw new ChannelError("check_code_mismatch", "check code mismatch");
                return this.conversation(device, session, session.toGenerator, session.toScanner);
              },
              close: async () => this.remove(device, session),
            };
            return unconfirmed;
          },
          close: async () => this.remove(device, session),
        };
        return generated;
      },
      connectScanner: async (qr, { signal }) => {
        if (signal?.aborted) throw abortError(signal);
        const { id } = JSON.parse(Buffer.from(qr).toString("utf8").slice(QR_PREFIX.length)) as { id: string };
        this.ops[device]++;
        const session = this.sessions.get(id);
        if (!session) throw new ChannelError("closed", "no such rendezvous session");
        const err = session.error();
        if (err) throw err;
        if (session.scanned) throw new ChannelError("insecure_channel", "session already taken by another scanner");
        session.scanned = true;
        session.scannerArrived.resolve();
        const scanned: ScannedChannel = { checkCode: session.checkCode, conversation: this.conversation(device, session, session.toScanner, session.toGenerator) };
        return scanned;
      },
    };
  }

  private conversation(device: Device, session: FakeSession, inbox: Mailbox, outbox: Mailbox): SecureConversation {
    // Ping-pong, as in the real secure session: the rendezvous payload is one slot, so a side may
    // not write again before the peer answered (the generator wrote LoginOk last).
    let lastWasSend = inbox === session.toGenerator;
    return {
      send: async (message) => {
        this.ops[device]++;
        const err = session.error();
        if (err) throw err;
        if (lastWasSend) throw new ChannelError("network", "out_of_turn: the peer has not answered yet");
        lastWasSend = true;
        let wire = JSON.parse(JSON.stringify(message)) as Record<string, unknown>;
        if (this.tamper) wire = JSON.parse(JSON.stringify(this.tamper(device, wire))) as Record<string, unknown>;
        this.sent.push({ from: device, message: wire });
        outbox.put(wire);
      },
      receive: async (opts) => {
        this.ops[device]++;
        const message = await inbox.take(opts?.signal);
        lastWasSend = false;
        return message;
      },
      close: async () => this.remove(device, session),
    };
  }

  private remove(device: Device, session: FakeSession): void {
    this.ops[device]++;
    session.end("deleted", device);
  }

  sentTypes(from?: Device): string[] {
    return this.sent.filter((s) => !from || s.from === from).map((s) => String((s.message as { type?: unknown }).type));
  }
}

const QR_PREFIX = "FAKEQR";

export interface FakeQrData {
  intent: QrIntent;
  baseUrl: string;
  id: string;
  version?: ProtocolVersion;
  /** 2024 reciprocate: the server name the QR carries instead of the base URL. */
  serverName?: string;
}

export function encodeFakeQr(data: FakeQrData): Uint8Array {
  return new Uint8Array(Buffer.from(QR_PREFIX + JSON.stringify(data), "utf8"));
}

/** As the real codecs do: a 2025 reciprocate QR names the homeserver by base URL, a 2024 one by server name. */
function decodeFakeQr(qr: Uint8Array): DecodedQr {
  const text = Buffer.from(qr).toString("utf8");
  if (!text.startsWith(QR_PREFIX)) throw new ChannelError("invalid_qr", "not a sign-in QR code");
  const data = JSON.parse(text.slice(QR_PREFIX.length)) as FakeQrData;
  const version = data.version ?? "2025";
  if (data.intent !== "reciprocate") return { version, intent: data.intent };
  if (version === "2024") return { version, intent: data.intent, homeserver: { serverName: data.serverName! } };
  return { version, intent: data.intent, homeserver: { baseUrl: data.baseUrl } };
}

// ---- homeserver + OAuth ---------------------------------------------------------------------------

export const HS_BASE_URL = "https://hs.example.org/";
export const SERVER_NAME = "example.org";
export const USER_ID = "@alice:example.org";

/**
 * The web as the new device's homeserver resolution sees it: example.org's client .well-known points
 * at HS_BASE_URL, which answers /versions; nothing else resolves.
 */
export function fakeDiscoveryFetch(wellKnown: Record<string, string> = { [SERVER_NAME]: HS_BASE_URL }): (input: string) => Promise<Response> {
  return async (input) => {
    const url = new URL(input);
    const json = (body: unknown, status = 200): Response => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
    if (url.pathname === "/.well-known/matrix/client") {
      const base = wellKnown[url.host];
      return base ? json({ "m.homeserver": { base_url: base } }) : json({ errcode: "M_NOT_FOUND" }, 404);
    }
    if (url.pathname === "/_matrix/client/versions" && Object.values(wellKnown).some((b) => new URL(b).origin === url.origin)) return json({ versions: ["v1.15"] });
    throw new TypeError(`fetch failed: ${input}`);
  };
}

export type ConsentDecision = "approve" | "deny" | "expire";

interface Grant { deviceId: string; deviceCode: string; result: Deferred<PollResult> }

export class FakeHomeserver {
  readonly devices = new Set<string>(["EXISTINGDEV"]);
  readonly grants = new Map<string, Grant>();
  readonly importedBundles: SecretsBundle[] = [];
  readonly revoked: string[] = [];
  metadata: AuthMetadata = {
    issuer: "https://auth.example.org/",
    authorization_endpoint: "https://auth.example.org/authorize",
    token_endpoint: "https://auth.example.org/token",
    revocation_endpoint: "https://auth.example.org/revoke",
    registration_endpoint: "https://auth.example.org/register",
    device_authorization_endpoint: "https://auth.example.org/device",
    response_types_supported: ["code"],
    response_modes_supported: ["query", "fragment"],
    grant_types_supported: ["authorization_code", "refresh_token", DEVICE_CODE_GRANT],
    code_challenge_methods_supported: ["S256"],
  };
  discoveryFails = false;
  registrationFails = false;
  /** How the new device's device id is chosen (tests of device_already_exists use an existing one). */
  nextDeviceId = "NEWDEVICE1";
  /** Whether the device row appears when the grant is approved ("never" → device_not_found). */
  deviceAppears: "at_once" | "never" | { afterMs: number } = "at_once";
  whoamiDeviceId: string | undefined;
  scopeFlavours: string[] = [];
  /** The import reports each secrets step as it goes ("silent": an older session that reports none). */
  importSteps: "report" | "silent" = "report";
  /** The import fails at this step (reported failed, then the import throws). */
  importFailsAt: SecretsStep | undefined;
  /** The server name the existing device says it is on. */
  serverName = SERVER_NAME;

  oauth(): OAuthPort {
    return {
      discoverAuthMetadata: async (homeserver, signal) => {
        if (signal?.aborted) throw abortError(signal);
        if (this.discoveryFails || homeserver !== HS_BASE_URL) throw new OAuthError("metadata_unavailable", `auth_metadata: 404 on ${homeserver}`);
        return structuredClone(this.metadata);
      },
      registerClient: async (_metadata, signal) => {
        if (signal?.aborted) throw abortError(signal);
        if (this.registrationFails) throw new OAuthError("registration_unsupported", "no registration endpoint");
        return "client-123";
      },
      generateDeviceId: () => this.nextDeviceId,
      requestDeviceAuthorization: async ({ deviceId, scopes, signal }) => {
        if (signal?.aborted) throw abortError(signal);
        this.scopeFlavours.push(scopes);
        const deviceCode = randomBytes(8).toString("hex");
        this.grants.set(deviceCode, { deviceId, deviceCode, result: new Deferred<PollResult>() });
        const authorization: DeviceAuthorization = {
          device_code: deviceCode,
          user_code: "ABCD-1234",
          verification_uri: "https://auth.example.org/link",
          verification_uri_complete: `https://auth.example.org/link?code=${deviceCode}`,
          expires_in: 600,
          interval: 1,
        };
        return authorization;
      },
      pollToken: async ({ authorization, signal }) => {
        const grant = this.grants.get(authorization.device_code)!;
        return abortable(grant.result.promise, signal);
      },
      revokeTokens: async ({ tokens }) => {
        this.revoked.push(tokens.access_token);
      },
    };
  }

  /** The user's decision on the consent page reached through `uri`. */
  decide(uri: string, decision: ConsentDecision): void {
    const code = new URL(uri).searchParams.get("code");
    const grant = code ? this.grants.get(code) : undefined;
    if (!grant) throw new Error(`no grant for ${uri}`);
    if (decision === "deny") grant.result.resolve({ kind: "denied" });
    else if (decision === "expire") grant.result.resolve({ kind: "expired" });
    else {
      const appear = (): void => { this.devices.add(grant.deviceId); };
      if (this.deviceAppears === "at_once") appear();
      else if (this.deviceAppears !== "never") setTimeout(appear, this.deviceAppears.afterMs);
      const tokens: OAuthTokens = { access_token: `at-${grant.deviceId}`, token_type: "Bearer", refresh_token: "rt", expires_in: 300 };
      grant.result.resolve({ kind: "tokens", tokens });
    }
  }

  newDeviceMatrix(): NewDeviceMatrixPort<SignedInClient & { deviceId: string }> {
    return {
      createClient: async ({ baseUrl, deviceId, tokens }) => {
        if (baseUrl !== HS_BASE_URL || tokens.access_token !== `at-${deviceId}`) throw new Error("bad tokens");
        return {
          deviceId,
          whoami: async () => ({ userId: USER_ID, deviceId: this.whoamiDeviceId ?? deviceId }),
          importSecretsAndVerify: async (bundle, progress) => {
            this.importedBundles.push(bundle);
            const backup = bundle.backup !== undefined;
            const outcome: Record<SecretsStep, boolean> = { cross_signing_keys: true, backup_key: backup, device_signed: true, keys_uploaded: true, backup_connected: backup };
            for (const step of SECRETS_STEPS) {
              const failsHere = step === this.importFailsAt;
              if (this.importSteps === "report") progress?.onStep?.(step, outcome[step] && !failsHere ? "done" : "failed");
              if (failsHere) throw new Error(`import failed at ${step}`);
            }
            return { crossSigned: true, backup };
          },
        };
      },
    };
  }

  existingDeviceMatrix(secrets: SecretsBundle | Error): ExistingDeviceMatrixPort {
    return {
      baseUrl: HS_BASE_URL,
      serverName: this.serverName,
      exportSecrets: async () => {
        if (secrets instanceof Error) throw secrets;
        return structuredClone(secrets);
      },
      deviceExists: async (deviceId, signal) => {
        if (signal?.aborted) throw abortError(signal);
        return this.devices.has(deviceId);
      },
    };
  }
}

export function fakeSecrets(withBackup = true): SecretsBundle {
  const k = (): string => randomBytes(32).toString("base64").replace(/=+$/, "");
  const bundle: SecretsBundle = { cross_signing: { master_key: k(), self_signing_key: k(), user_signing_key: k() } };
  if (withBackup) bundle.backup = { algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", key: k(), backup_version: "1" };
  return bundle;
}
