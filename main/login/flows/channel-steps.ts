// The secure-channel steps both flows take, the same on either device: a scanned QR checked before any
// request (its intent says which device made it, its version must be the one asked for), connecting as
// the scanner, showing a generated QR, and trusting the channel only once the user typed the check code.
import { errorText, FlowEnd, toHex, type FlowContext } from "./flow-kit.js";
import type { DecodedQr, GeneratedChannel, ProtocolChoice, QrIntent, QrRejection, SecureChannelPort, UnconfirmedChannel } from "./ports.js";

/**
 * Decode a scanned QR and refuse it, before the network is touched, unless it has `intent` (a QR of the
 * other intent is `otherwise`: it comes from a device in the same role as this one) and the version
 * `protocol` asks for.
 */
export function decodeScannedQr(channel: SecureChannelPort, qr: Uint8Array, expected: { intent: QrIntent; otherwise: QrRejection }, protocol: ProtocolChoice): DecodedQr {
  let decoded: DecodedQr;
  try {
    decoded = channel.decodeQr(qr);
  } catch (e) {
    throw new FlowEnd({ outcome: "qr_rejected", reason: "invalid_qr", detail: errorText(e) });
  }
  if (decoded.intent !== expected.intent) throw new FlowEnd({ outcome: "qr_rejected", reason: expected.otherwise });
  if (protocol !== "auto" && decoded.version !== protocol) {
    throw new FlowEnd({ outcome: "qr_rejected", reason: "invalid_qr", detail: `this is a ${decoded.version} sign-in QR code, and this device is set to the ${protocol} version` });
  }
  return decoded;
}

/** Connect to the QR's rendezvous session as the scanner, and show the check code the generator's user types. */
export async function connectAsScanner(ctx: FlowContext, channel: SecureChannelPort, qr: Uint8Array, decoded: DecodedQr): Promise<void> {
  ctx.emit({ type: "protocol", version: decoded.version });
  ctx.state("connecting");
  const scanned = await channel.connectScanner(qr, { signal: ctx.signal });
  ctx.setConversation(scanned.conversation);
  ctx.state("showing_check_code");
  ctx.emit({ type: "check_code", code: scanned.checkCode });
}

/** A generated QR on screen: its rendezvous session is deleted if the flow ends now. */
export function showQr(ctx: FlowContext, generated: GeneratedChannel): void {
  ctx.track(generated);
  ctx.emit({ type: "protocol", version: generated.version });
  const qrEvent: { type: "qr"; hex: string; expiresAt?: number } = { type: "qr", hex: toHex(generated.qr) };
  if (generated.expiresAt !== undefined) qrEvent.expiresAt = generated.expiresAt;
  ctx.emit(qrEvent);
  ctx.state("showing_qr");
}

/** The scanner answered: nothing from it is trusted before the user typed the code it shows, and it matched. */
export async function confirmCheckCode(ctx: FlowContext, unconfirmed: UnconfirmedChannel, enterCheckCode: (signal: AbortSignal) => Promise<string>): Promise<void> {
  ctx.track(unconfirmed);
  ctx.state("check_code_entry");
  ctx.emit({ type: "check_code_required" });
  const code = await enterCheckCode(ctx.signal);
  ctx.checkAborted();
  ctx.setConversation(await unconfirmed.confirm(code.trim()));
}
