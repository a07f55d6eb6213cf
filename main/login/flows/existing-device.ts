// MSC4108 existing-device state machine, both ways, both versions (the secure-channel port hides which;
// dialect.ts says how m.login.protocols names our homeserver in each):
// - scan (E=S, the headline demo): the QR must have intent login; anything else is refused before any
//   network traffic. Show the check code, send m.login.protocols.
// - generate (E=G, intent reciprocate, on its own homeserver — for the 2024 version falling back to a
//   configured rendezvous server): ask the user for the check code.
// Then: m.login.protocol → GET /devices/{id} must be 404 → open the verification URI (https, or http on
// loopback) → m.login.protocol_accepted → m.login.success → poll GET /devices/{id} until 200 (≤ 10 s)
// → m.login.secrets. m.login.declined and every m.login.failure end the flow.
// Both directions step by step, and every failure: docs/architecture.md "The two directions" and
// "Failure catalogue".

import { setTimeout as sleep } from "node:timers/promises";
import { DEVICE_AUTHORIZATION_GRANT, failureMessage, secretsMessage, type SecretsBundle } from "./messages.js";
import { confirmCheckCode, connectAsScanner, decodeScannedQr, showQr } from "./channel-steps.js";
import { errorText, FlowContext, FlowEnd, localFailure } from "./flow-kit.js";
import { dialectFor } from "./dialect.js";
import { openRefusal, UnsafeUrlError } from "../url-policy.js";
import { supportsDeviceGrant } from "../../../contract/oauth.js";
import {
  type AuthMetadata,
  type ExistingDeviceMatrixPort,
  type ExistingDeviceUi,
  type FlowListener,
  type FlowOutcome,
  type NotSupportedReason,
  type OAuthPort,
  type ProtocolChoice,
  type SecureChannelPort,
} from "./ports.js";

export type ExistingDeviceMode =
  | { kind: "scan"; qr?: Uint8Array }
  /**
   * `rendezvousUrl`: where to create the session (default: our homeserver, which a 2025 reciprocate
   * QR names as the homeserver); `fallbackRendezvousUrl`: a 2024 rendezvous server for when it has none.
   */
  | { kind: "generate"; rendezvousUrl?: string; fallbackRendezvousUrl?: string };

export interface ExistingDeviceOptions {
  mode: ExistingDeviceMode;
  /** Which version to speak: `auto` (default) lets the QR (scanning) or the servers (generating) decide. */
  protocol?: ProtocolChoice;
  /** How long to wait for the new device to appear after m.login.success (MSC4108: up to 10 s). */
  deviceWaitMs?: number;
  devicePollMs?: number;
  lingerMs?: number;
  /**
   * After m.login.secrets: how long the new device has to read them and delete the session before
   * this device deletes it (default 5 s; the peer polls about once a second).
   */
  secretsReadMs?: number;
}

export const DEFAULT_SECRETS_READ_MS = 5_000;

export interface ExistingDeviceDeps {
  channel: SecureChannelPort;
  oauth: Pick<OAuthPort, "discoverAuthMetadata">;
  matrix: ExistingDeviceMatrixPort;
  ui: ExistingDeviceUi;
}

export interface Capability {
  metadata: AuthMetadata;
  secrets: SecretsBundle;
}

export class NotSupported extends Error {
  constructor(readonly reason: NotSupportedReason, message: string) {
    super(message);
    this.name = "NotSupported";
  }
}

/**
 * The MSC4108 "fail fast" checks, before any QR is shown or scanned: OAuth 2.0 API with the device
 * authorization grant, and the private cross-signing keys held locally (the export succeeds).
 * The UI can call this alone to enable or disable its "Link new device" entry.
 */
export async function checkExistingDeviceCapability(deps: Pick<ExistingDeviceDeps, "oauth" | "matrix">, signal?: AbortSignal): Promise<Capability> {
  let metadata: AuthMetadata;
  try {
    metadata = await deps.oauth.discoverAuthMetadata(deps.matrix.baseUrl, signal);
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new NotSupported("oauth_unavailable", `the homeserver has no OAuth 2.0 API: ${errorText(e)}`);
  }
  if (!supportsDeviceGrant(metadata)) throw new NotSupported("device_grant_unsupported", "the account provider does not offer the device authorization grant");
  let secrets: SecretsBundle;
  try {
    // Validated as we would send it, so a bundle that cannot be sent fails here, not at the end.
    const { type: _type, ...bundle } = secretsMessage(await deps.matrix.exportSecrets());
    secrets = bundle;
  } catch (e) {
    throw new NotSupported("secrets_unavailable", `cross-signing secrets are not available on this device: ${errorText(e)}`);
  }
  return { metadata, secrets };
}

export async function runExistingDevice(
  deps: ExistingDeviceDeps,
  options: ExistingDeviceOptions,
  run: { signal?: AbortSignal; onEvent?: FlowListener } = {},
): Promise<FlowOutcome> {
  const ctx = new FlowContext({ role: "existing", onEvent: run.onEvent, signal: run.signal, lingerMs: options.lingerMs });
  const homeserver = deps.matrix.serverName;
  try {
    ctx.state("prechecks");
    let capability: Capability;
    try {
      capability = await checkExistingDeviceCapability(deps, ctx.signal);
    } catch (e) {
      if (e instanceof NotSupported) throw new FlowEnd({ outcome: "not_supported", reason: e.reason, detail: e.message });
      throw e;
    }

    const version = options.protocol ?? "auto";
    if (options.mode.kind === "scan") await establishAsScanner(ctx, deps, options.mode.qr, version);
    else await establishAsGenerator(ctx, deps, options.mode, version);

    // Step 4: the new device says which protocol and device id it will use.
    ctx.state("waiting_for_protocol");
    const protocol = await ctx.receive("m.login.protocol");
    if (protocol.protocol !== DEVICE_AUTHORIZATION_GRANT || !protocol.device_authorization_grant) {
      throw localFailure("unsupported_protocol", `unsupported protocol ${JSON.stringify(protocol.protocol)}`, homeserver);
    }
    const deviceId = protocol.device_id;

    ctx.state("checking_device");
    if (await deps.matrix.deviceExists(deviceId, ctx.signal)) {
      throw localFailure("device_already_exists", `device ${deviceId} already exists`);
    }

    // Open verification_uri_complete, falling back to verification_uri (MSC4108 step 4).
    const grant = protocol.device_authorization_grant;
    const uri = grant.verification_uri_complete ?? grant.verification_uri;
    ctx.state("opening_browser");
    const refusal = openRefusal(uri);
    if (refusal) throw localFailure("unable_to_open_verification_uri", new UnsafeUrlError(refusal, uri, "to open the verification URI").message);
    ctx.emit({ type: "opening_browser", uri });
    let opened;
    try {
      opened = await deps.ui.openUri(uri, ctx.signal);
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      throw localFailure("unable_to_open_verification_uri", errorText(e));
    }
    if (opened === "declined") throw new FlowEnd({ outcome: "cancelled" }, failureMessage("user_cancelled"));
    await ctx.send({ type: "m.login.protocol_accepted" });

    // Step 5/6: the user consents in the browser; the new device reports the grant's outcome.
    ctx.state("waiting_for_outcome");
    ctx.emit({ type: "waiting_for_consent" });
    const result = await ctx.receive("m.login.success", "m.login.declined");
    if (result.type === "m.login.declined") throw new FlowEnd({ outcome: "declined", side: "peer" }, undefined, true);

    // Secret sharing step 1: the device must now exist, or the secrets stay here.
    ctx.state("waiting_for_device");
    await waitForDevice(ctx, deps.matrix, deviceId, options.deviceWaitMs ?? 10_000, options.devicePollMs ?? 500);

    ctx.state("transferring_secrets");
    ctx.emit({ type: "transferring_secrets" });
    await ctx.send(secretsMessage(capability.secrets));
    return await ctx.succeed({ outcome: "success", deviceId }, { unlessPeerDeletesWithinMs: options.secretsReadMs ?? DEFAULT_SECRETS_READ_MS });
  } catch (error) {
    return ctx.finish(error);
  }
}

/** E=S: refuse anything but a login QR before touching the network, connect, show the check code. */
async function establishAsScanner(ctx: FlowContext, deps: ExistingDeviceDeps, given: Uint8Array | undefined, protocol: ProtocolChoice): Promise<void> {
  ctx.state("scanning");
  let qr = given;
  if (!qr) {
    if (!deps.ui.scanQr) throw new FlowEnd({ outcome: "error", code: "no_scanner", detail: "no QR supplied and no scanner available" });
    qr = await deps.ui.scanQr(ctx.signal);
  }
  const decoded = decodeScannedQr(deps.channel, qr, { intent: "login", otherwise: "other_device_already_signed_in" }, protocol);
  await connectAsScanner(ctx, deps.channel, qr, decoded);
  // MSC4108 step 1: only when the new device generated the QR does it need to learn the homeserver
  // (2025: our base URL; 2024: our server name).
  await ctx.send(dialectFor(decoded.version).protocolsMessage({ baseUrl: deps.matrix.baseUrl, serverName: deps.matrix.serverName }));
}

/** E=G: a reciprocate QR on our own homeserver; trust the channel only after the check code. */
async function establishAsGenerator(ctx: FlowContext, deps: ExistingDeviceDeps, mode: Extract<ExistingDeviceMode, { kind: "generate" }>, protocol: ProtocolChoice): Promise<void> {
  ctx.state("creating_qr");
  const generated = await deps.channel.startGenerator({
    rendezvousUrl: mode.rendezvousUrl ?? deps.matrix.baseUrl,
    ...(mode.fallbackRendezvousUrl ? { fallbackRendezvousUrl: mode.fallbackRendezvousUrl } : {}),
    intent: "reciprocate",
    protocol,
    serverName: deps.matrix.serverName,
    signal: ctx.signal,
  });
  showQr(ctx, generated);
  await confirmCheckCode(ctx, await generated.waitForScanner({ signal: ctx.signal }), deps.ui.enterCheckCode);
}

async function waitForDevice(ctx: FlowContext, matrix: ExistingDeviceMatrixPort, deviceId: string, waitMs: number, pollMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await matrix.deviceExists(deviceId, ctx.signal)) return;
    const left = deadline - Date.now();
    if (left <= 0) throw localFailure("device_not_found", `device ${deviceId} did not appear within ${waitMs} ms`);
    await sleep(Math.min(pollMs, left), undefined, { signal: ctx.signal });
  }
}
