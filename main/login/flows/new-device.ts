// MSC4108 new-device state machine, both ways, both versions (2025 over MSC4388, 2024 over its ETag
// rendezvous and ECIES: the secure-channel port hides which; dialect.ts says where their messages differ):
// - generate (N=G, intent login, on a rendezvous server): wait for the scanner, ask the user for the
//   check code (only then is the channel trusted), receive m.login.protocols → homeserver as named;
// - scan (N=S, intent reciprocate): the QR names the homeserver; show the check code.
// The homeserver as the peer named it (2025 base URL, 2024 server name) is resolved in one step
// (HomeserverPort: .well-known, or the pinned homeserver, which must agree).
// Then: auth_metadata → client registration (or static client id) → device authorization with a fresh
// device id → m.login.protocol → m.login.protocol_accepted → show user code, poll the token endpoint →
// whoami, "Signed in as @x — continue?" → m.login.success (m.login.declined on access_denied,
// m.login.failure authorization_expired on expiry) → m.login.secrets → import, self-sign, backup.
// Both directions step by step, and every failure: docs/architecture.md "The two directions" and
// "Failure catalogue".

import { DEVICE_AUTHORIZATION_GRANT, MessageError, failureMessage, protocolMessage, type SecretsBundle } from "./messages.js";
import { confirmCheckCode, connectAsScanner, decodeScannedQr, showQr } from "./channel-steps.js";
import { errorText, FlowContext, FlowEnd, localFailure } from "./flow-kit.js";
import { dialectFor, serverNameOf } from "./dialect.js";
import {
  ChannelError,
  HomeserverError,
  OAuthError,
  type AuthMetadata,
  type FlowListener,
  type FlowOutcome,
  type HomeserverPort,
  type HomeserverRef,
  type NewDeviceMatrixPort,
  type NewDeviceUi,
  type OAuthPort,
  type OAuthTokens,
  type PollResult,
  type ProtocolChoice,
  type ProtocolVersion,
  type ResolvedHomeserver,
  type ScopeFlavour,
  type SecureChannelPort,
  type SignedInClient,
  type UnconfirmedChannel,
} from "./ports.js";
import { supportsDeviceGrant } from "../../../contract/oauth.js";

export type NewDeviceMode =
  | { kind: "generate"; rendezvousUrl: string }
  | { kind: "scan"; qr: Uint8Array };

export interface NewDeviceOptions {
  mode: NewDeviceMode;
  /** A static OAuth client id for this homeserver; otherwise dynamic client registration. */
  clientId?: string;
  /** Stable `urn:matrix:client:*` scopes by default; `unstable` = `urn:matrix:org.matrix.msc2967.client:*`. */
  scopes?: ScopeFlavour;
  /** Skip "Signed in as @x — continue?" (headless use with a known account). */
  skipAccountConfirmation?: boolean;
  /** Generator: how many times to replace a QR that expired before anyone scanned it (default 0). */
  qrRotations?: number;
  /** Which version to speak: `auto` (default) lets the QR (scanning) or the rendezvous server (generating) decide. */
  protocol?: ProtocolChoice;
  lingerMs?: number;
}

export interface NewDeviceDeps<C extends SignedInClient> {
  channel: SecureChannelPort;
  /** Turns the homeserver as the peer named it into a base URL (and holds the pinned homeserver, if any). */
  homeserver: HomeserverPort;
  oauth: OAuthPort;
  matrix: NewDeviceMatrixPort<C>;
  ui: NewDeviceUi;
}

export interface NewDeviceResult<C extends SignedInClient> {
  outcome: FlowOutcome;
  /** The signed-in client (holds the tokens), present when the sign-in got that far. Never serialise. */
  signedIn?: C;
}

export async function runNewDevice<C extends SignedInClient>(
  deps: NewDeviceDeps<C>,
  options: NewDeviceOptions,
  run: { signal?: AbortSignal; onEvent?: FlowListener } = {},
): Promise<NewDeviceResult<C>> {
  const ctx = new FlowContext({ role: "new", onEvent: run.onEvent, signal: run.signal, lingerMs: options.lingerMs, expiryRetry: options.mode.kind === "generate" });
  let signedIn: C | undefined;
  let unconfirmedTokens: Parameters<typeof revoke>[1] | undefined;
  try {
    const protocol = options.protocol ?? "auto";
    const named = options.mode.kind === "generate"
      ? await establishAsGenerator(ctx, deps, options.mode.rendezvousUrl, options.qrRotations ?? 0, protocol)
      : await establishAsScanner(ctx, deps, options.mode.qr, protocol);

    // Which homeserver (a server name needs discovery), then OAuth discovery and registration
    // (MSC4108 step 2). Any failure here means this device cannot use what the existing device offered.
    ctx.state("oauth_discovery");
    const home = await resolveHomeserver(ctx, deps.homeserver, named);
    const baseUrl = home.baseUrl;
    ctx.emit({ type: "homeserver", baseUrl });
    const { metadata, clientId } = await prepareOAuth(ctx, deps.oauth, baseUrl, options.clientId);

    ctx.state("device_authorization");
    const deviceId = deps.oauth.generateDeviceId();
    ctx.emit({ type: "device_id", deviceId });
    const authorization = await deps.oauth.requestDeviceAuthorization({ metadata, clientId, deviceId, scopes: options.scopes ?? "stable", signal: ctx.signal });

    // Step 3: tell the existing device which protocol and device id, then wait for it to open the URI.
    await ctx.send(protocolMessage(deviceId, authorization));
    ctx.state("waiting_for_accept");
    await ctx.receive("m.login.protocol_accepted");

    // Step 6: RFC 8628 requires showing the user code; poll only now (MSC4108 L471–481).
    const userCode: { type: "user_code"; userCode: string; verificationUri: string; verificationUriComplete?: string } = {
      type: "user_code",
      userCode: authorization.user_code,
      verificationUri: authorization.verification_uri,
    };
    if (authorization.verification_uri_complete !== undefined) userCode.verificationUriComplete = authorization.verification_uri_complete;
    ctx.emit(userCode);
    ctx.state("waiting_for_consent");
    ctx.emit({ type: "waiting_for_consent" });
    const polled = await pollWhileListening(ctx, (signal) => deps.oauth.pollToken({ metadata, clientId, authorization, signal }));
    if (polled.kind === "denied") throw new FlowEnd({ outcome: "declined", side: "local" }, { type: "m.login.declined" });
    if (polled.kind === "expired") throw localFailure("authorization_expired", "the device authorization grant expired");

    // From here until m.login.success goes out, a failure revokes the fresh tokens.
    unconfirmedTokens = { metadata, clientId, tokens: polled.tokens };
    signedIn = await deps.matrix.createClient({ baseUrl, deviceId, tokens: polled.tokens, metadata, clientId });
    const who = await signedIn.whoami(ctx.signal);
    if (who.deviceId !== undefined && who.deviceId !== deviceId) {
      throw new FlowEnd({ outcome: "error", code: "device_id_mismatch", detail: `signed in as device ${who.deviceId}, requested ${deviceId}` }, failureMessage("user_cancelled"));
    }
    // A homeserver named by server name: the account must be on it (this is what proves a pinned base
    // URL that .well-known could not confirm).
    if (home.serverName !== undefined && serverNameOf(who.userId) !== home.serverName) {
      throw new FlowEnd(
        { outcome: "error", code: "homeserver_mismatch", detail: `signed in as ${who.userId} on ${baseUrl}, but the other device is on ${home.serverName}` },
        failureMessage("user_cancelled"),
      );
    }
    // Shoulder-surfing mitigation (MSC4108 "Shoulder-surfing to sign in to attacker account").
    ctx.state("confirm_account");
    ctx.emit({ type: "confirm_account", userId: who.userId });
    if (!options.skipAccountConfirmation && !(await deps.ui.confirmAccount(who.userId, ctx.signal))) {
      throw new FlowEnd({ outcome: "cancelled" }, failureMessage("user_cancelled"));
    }
    await ctx.send({ type: "m.login.success" });
    unconfirmedTokens = undefined;

    ctx.state("waiting_for_secrets");
    const secrets = await ctx.receive("m.login.secrets");
    ctx.emit({ type: "transferring_secrets" });
    const bundle: SecretsBundle = { cross_signing: secrets.cross_signing };
    if (secrets.backup) bundle.backup = secrets.backup;

    ctx.state("importing");
    ctx.emit({ type: "importing" });
    let verified: { crossSigned: boolean; backup: boolean };
    try {
      // Each step is reported as it completes, so the screen fills in while the import runs.
      verified = await signedIn.importSecretsAndVerify(bundle, { onStep: (step, status) => ctx.emit({ type: "secrets_step", step, status }) });
    } catch (e) {
      // The existing device is done after m.login.secrets: nobody is left to tell. We are signed in
      // but not verified; the client is still returned so the app can offer manual verification.
      const outcome: FlowOutcome = { outcome: "error", code: "import_failed", detail: errorText(e) };
      return { outcome: await ctx.finish(new FlowEnd(outcome, undefined, true)), signedIn };
    }
    ctx.emit({ type: "verified", crossSigned: verified.crossSigned, backup: verified.backup });
    const outcome = await ctx.succeed({ outcome: "success", userId: who.userId, deviceId, crossSigned: verified.crossSigned, backup: verified.backup }, "now");
    return { outcome, signedIn };
  } catch (error) {
    if (unconfirmedTokens) {
      // Signed in but the sign-in was abandoned before it was confirmed: do not leave the tokens live.
      await revoke(deps.oauth, unconfirmedTokens);
      signedIn = undefined;
    }
    const outcome = await ctx.finish(error);
    return signedIn ? { outcome, signedIn } : { outcome };
  }
}

/**
 * Poll the token endpoint while listening on the channel: the existing device may give up (user
 * cancelled, browser closed) while the user has not decided yet, and the only message it can send
 * in this state is m.login.failure. Whatever arrives ends the flow through ctx.receive().
 */
async function pollWhileListening(ctx: FlowContext, poll: (signal: AbortSignal) => Promise<PollResult>): Promise<PollResult> {
  // One controller stops both the poll and the listener when either finishes or the user cancels.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const polling = poll(stop.signal);
  const listening = ctx.receiveInterruptible(stop.signal).then((): never => {
    throw localFailure("unexpected_message_received", "a message arrived while waiting for consent");
  });
  try {
    return await Promise.race([polling, listening]);
  } finally {
    stop.abort();
    ctx.signal.removeEventListener("abort", onAbort);
    polling.catch(() => undefined);
    // The conversation allows one operation at a time: let the abandoned receive unwind first.
    await listening.catch(() => undefined);
  }
}

/** N=G: create the rendezvous session and QR, wait for the scanner, confirm the check code, read m.login.protocols. */
async function establishAsGenerator<C extends SignedInClient>(ctx: FlowContext, deps: NewDeviceDeps<C>, rendezvousUrl: string, qrRotations: number, protocol: ProtocolChoice): Promise<HomeserverRef> {
  let unconfirmed: UnconfirmedChannel;
  let version: ProtocolVersion;
  for (let rotation = 0; ; rotation++) {
    ctx.state("creating_qr");
    const generated = await deps.channel.startGenerator({ rendezvousUrl, intent: "login", protocol, signal: ctx.signal });
    version = generated.version;
    showQr(ctx, generated);
    try {
      unconfirmed = await generated.waitForScanner({ signal: ctx.signal });
      break;
    } catch (e) {
      // Nobody scanned in time: show a fresh QR instead of an error (element-web#33303), a few times.
      if (!(e instanceof ChannelError && e.kind === "expired") || rotation >= qrRotations) throw e;
      ctx.track(undefined);
    }
  }
  // Nothing from the peer is acted on before the user typed the code shown on the scanner.
  await confirmCheckCode(ctx, unconfirmed, deps.ui.enterCheckCode);

  ctx.state("waiting_for_protocols");
  const protocols = await ctx.receive("m.login.protocols");
  if (!protocols.protocols.includes(DEVICE_AUTHORIZATION_GRANT)) {
    throw localFailure("unsupported_protocol", `the existing device offers ${JSON.stringify(protocols.protocols)}`);
  }
  try {
    return dialectFor(version).namedHomeserver(protocols);
  } catch (e) {
    if (e instanceof MessageError) throw localFailure("unexpected_message_received", e.message);
    throw e;
  }
}

/** N=S: the QR must be a reciprocate QR from a signed-in device; it names the homeserver. */
async function establishAsScanner<C extends SignedInClient>(ctx: FlowContext, deps: NewDeviceDeps<C>, qr: Uint8Array, protocol: ProtocolChoice): Promise<HomeserverRef> {
  ctx.state("scanning");
  // A login QR comes from another new device: refused before any network traffic.
  const decoded = decodeScannedQr(deps.channel, qr, { intent: "reciprocate", otherwise: "other_device_not_signed_in" }, protocol);
  if (!decoded.homeserver) throw new FlowEnd({ outcome: "qr_rejected", reason: "invalid_qr", detail: "the QR code names no homeserver" });
  await connectAsScanner(ctx, deps.channel, qr, decoded);
  return decoded.homeserver;
}

/** The peer's naming → a base URL; a mismatch with the pinned homeserver ends the flow (the peer is told). */
async function resolveHomeserver(ctx: FlowContext, port: HomeserverPort, named: HomeserverRef): Promise<ResolvedHomeserver> {
  try {
    return await port.resolve(named, ctx.signal);
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    if (e instanceof HomeserverError) {
      throw new FlowEnd({ outcome: "error", code: e.kind === "mismatch" ? "homeserver_mismatch" : "homeserver_unresolved", detail: e.message }, failureMessage("user_cancelled"));
    }
    throw e;
  }
}

async function prepareOAuth(ctx: FlowContext, oauth: OAuthPort, baseUrl: string, staticClientId: string | undefined): Promise<{ metadata: AuthMetadata; clientId: string }> {
  let metadata: AuthMetadata;
  try {
    metadata = await oauth.discoverAuthMetadata(baseUrl, ctx.signal);
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    throw localFailure("unsupported_protocol", `no OAuth 2.0 API on ${baseUrl}: ${errorText(e)}`);
  }
  if (!supportsDeviceGrant(metadata)) throw localFailure("unsupported_protocol", "the homeserver does not offer the device authorization grant");
  if (staticClientId !== undefined) return { metadata, clientId: staticClientId };
  try {
    return { metadata, clientId: await oauth.registerClient(metadata, ctx.signal) };
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    if (e instanceof OAuthError || e instanceof ChannelError) throw localFailure("unsupported_protocol", `client registration failed: ${e.message}`);
    throw e;
  }
}

async function revoke(oauth: OAuthPort, grant: { metadata: AuthMetadata; clientId: string; tokens: OAuthTokens }): Promise<void> {
  try {
    await oauth.revokeTokens?.(grant);
  } catch {
    // Best effort: the user already said no; the flow ends either way.
  }
}
