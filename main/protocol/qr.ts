// MSC4388 QR payload codec ("QR code format"):
//   prefix ‖ type 0x03 ‖ intent ‖ Gp (32) ‖ len(id) ‖ id ‖ u16be(len(url)) ‖ url
//
// Decoding accepts both prefixes ("MATRIX", unstable "IO_ELEMENT_MSC4388") and both rendezvous-id
// length forms, whatever the profile: the 1-byte form of the MSC text (since June 2026) and the
// 2-byte big-endian form that matrix-rust-sdk main and crypto-wasm 18.9.0 write and read. A first
// id-length byte of 0x00 means the 2-byte form: in the 1-byte form it would announce an empty id,
// which is never valid, and ids are at most 255 bytes, so the 2-byte form's high byte is always 0x00.
// Encoding writes the form of the wire profile (profile.ts `qrIdLengthBytes`).
//
// Bytes after the base URL are ignored, as the Rust parser ignores them (a future extension may
// append fields); `trailingBytes` says how many there were, and `{ strict: true }` refuses them
// (`qr_trailing`) for tools that check an encoder.
//
// Decoding is stricter than the Rust parser where being lax would be unsafe:
// - The rendezvous id must follow the opaque identifier grammar ([0-9A-Za-z._~-], 1..255): it is
//   placed into a URL path by the rendezvous client, so "../" or "?" must never get through.
// - The base URL must be http(s) without credentials, query or fragment, and without whitespace or
//   control characters: it is where S sends requests and it is part of the AAD.
// Every failure is a ProtocolError whose code names what is wrong; there is no partial result.
import { b64encode, concatBytes, copyBytes, u16Prefixed, u8Prefixed, utf8Decode, utf8Encode } from "./bytes.js";
import { ProtocolError } from "./errors.js";
import { DEFAULT_PROFILE, getProfile } from "./profile.js";
import type { ProfileName, QrIdLengthBytes, QrPrefix, WireProfile } from "./profile.js";

export type QrIntent = "login" | "reciprocate";

export interface QrData {
  readonly prefix: QrPrefix;
  readonly type: 3;
  /** login (0x00): the generator is the new device; reciprocate (0x01): the generator is signed in. */
  readonly intent: QrIntent;
  /** G's ephemeral X25519 public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  readonly rendezvousId: string;
  /** The base URL exactly as carried in the QR (e.g. without the root "/"). */
  readonly baseUrl: string;
  /** How the rendezvous-id length was written: 1 byte (MSC text) or 2 bytes big-endian (Rust main). */
  readonly idLengthBytes: QrIdLengthBytes;
  /** Bytes after the base URL, ignored (always 0 with `{ strict: true }`). */
  readonly trailingBytes: number;
}

export interface QrEncodeInput {
  readonly intent: QrIntent;
  readonly publicKey: Uint8Array;
  readonly rendezvousId: string;
  readonly baseUrl: string;
}

export interface QrEncodeOptions {
  /** Override the profile's rendezvous-id length form (tools and tests). */
  readonly idLengthBytes?: QrIdLengthBytes;
}

export interface QrDecodeOptions {
  /** Refuse bytes after the base URL (`qr_trailing`) instead of ignoring them as Rust does. */
  readonly strict?: boolean;
}

export const QR_TYPE = 0x03;
const INTENT_BYTES: Record<QrIntent, number> = { login: 0x00, reciprocate: 0x01 };
const PREFIX_BYTES: ReadonlyArray<readonly [QrPrefix, Uint8Array]> = [
  // Longest first; neither prefix is a prefix of the other, but keep the order explicit.
  ["IO_ELEMENT_MSC4388", utf8Encode("IO_ELEMENT_MSC4388")],
  ["MATRIX", utf8Encode("MATRIX")],
];
const KEY_LENGTH = 32;
const OPAQUE_ID = /^[0-9A-Za-z._~-]{1,255}$/;
// Whitespace, C0/C1 controls, DEL, backslash, and the query/fragment delimiters.
// eslint-disable-next-line no-control-regex
const URL_FORBIDDEN = /[\u0000-\u0020\u007f-\u009f\\?#]/;

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** True when `bytes` is a proper, non-empty beginning of `prefix` (a cut-off payload). */
function isProperPrefixOf(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return bytes.length < prefix.length && startsWith(prefix, bytes);
}

/** Checks a rendezvous id (opaque identifier grammar). */
export function validateRendezvousId(id: string): void {
  if (!OPAQUE_ID.test(id)) {
    throw new ProtocolError(
      "qr_invalid_rendezvous_id",
      id.length === 0 ? "rendezvous id is empty" : "rendezvous id is not an opaque identifier ([0-9A-Za-z._~-], at most 255)",
    );
  }
}

/** Parses and checks a homeserver base URL; returns the WHATWG URL. */
export function parseBaseUrl(text: string): URL {
  if (text.length === 0) throw new ProtocolError("qr_invalid_url", "base URL is empty");
  if (URL_FORBIDDEN.test(text)) {
    throw new ProtocolError("qr_invalid_url", "base URL contains whitespace, control characters, a backslash, a query or a fragment");
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new ProtocolError("qr_invalid_url", "base URL does not parse", { cause });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ProtocolError("qr_invalid_url", `base URL scheme must be http or https, not ${url.protocol.slice(0, -1)}`);
  }
  if (url.username !== "" || url.password !== "") throw new ProtocolError("qr_invalid_url", "base URL must not carry credentials");
  return url;
}

/** Decodes a QR payload. Throws ProtocolError (qr_*) on anything malformed. */
export function decodeQr(bytes: Uint8Array, options: QrDecodeOptions = {}): QrData {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError("qr_too_short", "QR payload is not a byte array");
  let prefix: QrPrefix | undefined;
  let pos = 0;
  for (const [name, p] of PREFIX_BYTES) {
    if (startsWith(bytes, p)) {
      prefix = name;
      pos = p.length;
      break;
    }
  }
  if (prefix === undefined) {
    if (bytes.length === 0 || PREFIX_BYTES.some(([, p]) => isProperPrefixOf(bytes, p))) {
      throw new ProtocolError("qr_too_short", `QR payload of ${bytes.length} bytes ends inside the prefix`);
    }
    throw new ProtocolError("qr_invalid_prefix", 'QR payload does not start with "MATRIX" or "IO_ELEMENT_MSC4388"');
  }
  const need = (n: number, code: "qr_too_short" | "qr_truncated", what: string): void => {
    if (bytes.length - pos < n) throw new ProtocolError(code, `QR payload ends inside the ${what}`);
  };

  need(1, "qr_too_short", "type byte");
  const type = bytes[pos++]!;
  if (type !== QR_TYPE) throw new ProtocolError("qr_invalid_type", `QR type is 0x${type.toString(16).padStart(2, "0")}, expected 0x03`);

  need(1, "qr_too_short", "intent byte");
  const intentByte = bytes[pos++]!;
  let intent: QrIntent;
  if (intentByte === 0x00) intent = "login";
  else if (intentByte === 0x01) intent = "reciprocate";
  else throw new ProtocolError("qr_invalid_intent", `QR intent is 0x${intentByte.toString(16).padStart(2, "0")}, expected 0x00 or 0x01`);

  need(KEY_LENGTH, "qr_too_short", "public key");
  const publicKey = copyBytes(bytes.subarray(pos, pos + KEY_LENGTH));
  pos += KEY_LENGTH;

  need(1, "qr_too_short", "rendezvous id length");
  let idLength = bytes[pos++]!;
  let idLengthBytes: QrIdLengthBytes = 1;
  if (idLength === 0) {
    // u16 big-endian length: 0x00 was its high byte.
    idLengthBytes = 2;
    need(1, "qr_truncated", "rendezvous id length");
    idLength = bytes[pos++]!;
    if (idLength === 0) throw new ProtocolError("qr_invalid_rendezvous_id", "rendezvous id is empty");
  }
  need(idLength, "qr_truncated", "rendezvous id");
  const rendezvousId = utf8Decode(bytes.subarray(pos, pos + idLength), "qr_not_utf8");
  pos += idLength;
  validateRendezvousId(rendezvousId);

  need(2, "qr_truncated", "base URL length");
  const urlLength = (bytes[pos]! << 8) | bytes[pos + 1]!;
  pos += 2;
  need(urlLength, "qr_truncated", "base URL");
  const baseUrl = utf8Decode(bytes.subarray(pos, pos + urlLength), "qr_not_utf8");
  pos += urlLength;
  parseBaseUrl(baseUrl);

  const trailingBytes = bytes.length - pos;
  if (trailingBytes > 0 && options.strict) throw new ProtocolError("qr_trailing", `${trailingBytes} unexpected byte(s) after the base URL`);
  return { prefix, type: QR_TYPE, intent, publicKey, rendezvousId, baseUrl, idLengthBytes, trailingBytes };
}

/**
 * The base URL string written into a QR: the WHATWG serialisation, with the trailing "/" removed
 * only when the path is exactly "/" (as the Rust encoder does: https://h/ → https://h, but
 * https://h/matrix/ keeps its slash). Both forms parse back to the same href, which is what the AAD uses.
 */
export function qrBaseUrlString(baseUrl: string): string {
  const url = parseBaseUrl(baseUrl);
  return url.pathname === "/" ? url.href.slice(0, -1) : url.href;
}

/** Encodes a QR payload with the profile's prefix and rendezvous-id length form. */
export function encodeQr(input: QrEncodeInput, profile: WireProfile | ProfileName = DEFAULT_PROFILE, options: QrEncodeOptions = {}): Uint8Array {
  const p = typeof profile === "string" ? getProfile(profile) : profile;
  const intentByte = INTENT_BYTES[input.intent];
  if (intentByte === undefined) throw new ProtocolError("qr_invalid_intent", `unknown intent "${String(input.intent)}"`);
  if (!(input.publicKey instanceof Uint8Array) || input.publicKey.length !== KEY_LENGTH) {
    throw new ProtocolError("qr_invalid_key", "public key must be 32 bytes");
  }
  validateRendezvousId(input.rendezvousId);
  const id = utf8Encode(input.rendezvousId);
  const url = u16Prefixed(utf8Encode(qrBaseUrlString(input.baseUrl)), "base_url_too_long", "base URL");
  const prefix = PREFIX_BYTES.find(([name]) => name === p.qrPrefix)![1];
  // Ids are at most 255 bytes: in the two-byte form the high byte is always 0.
  const idField = (options.idLengthBytes ?? p.qrIdLengthBytes) === 2 ? u16Prefixed(id) : u8Prefixed(id);
  return concatBytes(prefix, Uint8Array.of(QR_TYPE, intentByte), input.publicKey, idField, url);
}

/** The JSON shape of the `qr decode` CLI contract (publicKey as unpadded standard base64). */
export function qrDataToJson(qr: QrData): {
  prefix: QrPrefix;
  type: 3;
  intent: QrIntent;
  publicKey: string;
  rendezvousId: string;
  baseUrl: string;
  idLengthBytes: QrIdLengthBytes;
} {
  return {
    prefix: qr.prefix,
    type: qr.type,
    intent: qr.intent,
    publicKey: b64encode(qr.publicKey),
    rendezvousId: qr.rendezvousId,
    baseUrl: qr.baseUrl,
    idLengthBytes: qr.idLengthBytes,
  };
}
