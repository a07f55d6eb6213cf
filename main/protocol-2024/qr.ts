// MSC4108 (2024 version) QR payload codec, as matrix-rust-sdk's QrCodeData writes it (and so Element
// Web/Desktop through crypto-wasm, and Element X):
//   "MATRIX" ‖ type 0x02 ‖ mode ‖ Curve25519 key (32) ‖ u16be(len(url)) ‖ rendezvous URL
//     ‖ [mode 0x04 only: u16be(len(server name)) ‖ server name]
// mode 0x03 = login (the new device shows it), 0x04 = reciprocate (the signed-in device shows it and
// names its homeserver by server name, to be resolved through /.well-known/matrix/client).
// The layout is checked against crypto-wasm's QrCodeData both ways in test/unit/protocol-2024-qr.test.ts.
//
// A QR is told apart from an MSC4388 (2025) one by its bytes alone: "MATRIX" followed by 0x02 is this
// version; type 0x03 (either prefix) is MSC4388. decodeAnyQr() is the one place that decides.
//
// As in the Rust parser, bytes after the last field are ignored (a reader that rejected them would
// refuse codes Element accepts); `strict` rejects them for tooling that wants an exact encoding.
import { b64encode, copyBytes, u16Prefixed, utf8Decode, utf8Encode } from "../protocol/bytes.js";
import { ProtocolError } from "../protocol/errors.js";
import { decodeQr, type QrData, type QrIntent } from "../protocol/qr.js";

export type { QrIntent } from "../protocol/qr.js";

export const QR_TYPE_2024 = 0x02;
const PREFIX = utf8Encode("MATRIX");
const MODE_BYTES: Record<QrIntent, number> = { login: 0x03, reciprocate: 0x04 };
const KEY_LENGTH = 32;
// Whitespace, C0/C1 controls, DEL and backslash: never part of a URL a device should fetch.
// eslint-disable-next-line no-control-regex
const URL_FORBIDDEN = /[\u0000-\u0020\u007f-\u009f\\]/;

export interface Qr2024 {
  readonly prefix: "MATRIX";
  readonly type: 2;
  /** login (mode 0x03): shown by the new device; reciprocate (0x04): shown by the signed-in device. */
  readonly intent: QrIntent;
  /** The shower's ephemeral Curve25519 public key (vodozemac ECIES), 32 bytes. */
  readonly publicKey: Uint8Array;
  /** The full URL of the rendezvous session (not a base URL: the POST's `url`). */
  readonly rendezvousUrl: string;
  /** Reciprocate only: the server name of the homeserver the new device signs in to. */
  readonly serverName?: string;
}

export interface Qr2024Input {
  readonly intent: QrIntent;
  readonly publicKey: Uint8Array;
  readonly rendezvousUrl: string;
  /** Required for reciprocate, refused for login. */
  readonly serverName?: string;
}

/** The JSON shape of `qr-login qr decode` for a 2024 QR (publicKey as unpadded standard base64). */
export interface Qr2024Json {
  prefix: "MATRIX";
  type: 2;
  intent: QrIntent;
  publicKey: string;
  rendezvousUrl: string;
  serverName?: string;
}

// Matrix spec "Server name": hostname [":" port], hostname = IPv4 / "[" IPv6 "]" / dns-name.
const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const IPV6_LITERAL = /^\[[0-9A-Fa-f:.]{2,45}\]$/;

/** True for a Matrix server name (what a user id carries after the colon). */
export function isServerName(name: string): boolean {
  if (name.length === 0 || name.length > 255 + 1 + 5) return false;
  let host = name;
  const portMatch = /:(\d{1,5})$/.exec(name);
  if (portMatch && !name.endsWith("]")) {
    const port = Number(portMatch[1]);
    if (port < 1 || port > 65535) return false;
    host = name.slice(0, -portMatch[0].length);
  }
  if (IPV6_LITERAL.test(host)) return true;
  if (IPV4.test(host)) return host.split(".").every((o) => Number(o) <= 255);
  if (!DNS_NAME.test(host)) return false;
  return host.split(".").every((label) => label.length > 0 && label.length <= 63 && !label.startsWith("-") && !label.endsWith("-"));
}

function validateServerName(name: string): void {
  if (!isServerName(name)) throw new ProtocolError("qr_invalid_server_name", `"${name.slice(0, 80)}" is not a Matrix server name (hostname[:port])`);
}

/** An absolute http(s) URL without credentials or fragment; returns it unchanged. */
export function validateRendezvousUrl(text: string): string {
  if (text.length === 0) throw new ProtocolError("qr_invalid_url", "rendezvous URL is empty");
  if (URL_FORBIDDEN.test(text)) throw new ProtocolError("qr_invalid_url", "rendezvous URL contains whitespace, control characters or a backslash");
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new ProtocolError("qr_invalid_url", "rendezvous URL does not parse", { cause });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new ProtocolError("qr_invalid_url", `rendezvous URL scheme must be http or https, not ${url.protocol.slice(0, -1)}`);
  if (url.username !== "" || url.password !== "") throw new ProtocolError("qr_invalid_url", "rendezvous URL must not carry credentials");
  if (url.hash !== "" || text.includes("#")) throw new ProtocolError("qr_invalid_url", "rendezvous URL must not carry a fragment");
  return text;
}

function startsWithPrefix(bytes: Uint8Array): boolean {
  return bytes.length >= PREFIX.length && PREFIX.every((b, i) => bytes[i] === b);
}

/** The payload is "MATRIX" ‖ 0x02: an MSC4108 2024 QR (possibly malformed further on). */
export function isQr2024(bytes: Uint8Array): boolean {
  return startsWithPrefix(bytes) && bytes[PREFIX.length] === QR_TYPE_2024;
}

/** Decodes a 2024 QR. Throws ProtocolError (qr_*) on anything malformed; no partial result. */
export function decodeQr2024(bytes: Uint8Array, options: { strict?: boolean } = {}): Qr2024 {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError("qr_too_short", "QR payload is not a byte array");
  if (!startsWithPrefix(bytes)) {
    if (bytes.length < PREFIX.length && PREFIX.subarray(0, bytes.length).every((b, i) => bytes[i] === b)) {
      throw new ProtocolError("qr_too_short", `QR payload of ${bytes.length} bytes ends inside the prefix`);
    }
    throw new ProtocolError("qr_invalid_prefix", 'an MSC4108 2024 QR payload starts with "MATRIX"');
  }
  let pos = PREFIX.length;
  const need = (n: number, code: "qr_too_short" | "qr_truncated", what: string): void => {
    if (bytes.length - pos < n) throw new ProtocolError(code, `QR payload ends inside the ${what}`);
  };
  need(1, "qr_too_short", "type byte");
  const type = bytes[pos++]!;
  if (type !== QR_TYPE_2024) throw new ProtocolError("qr_invalid_type", `QR type is 0x${hex2(type)}, expected 0x02`);
  need(1, "qr_too_short", "mode byte");
  const mode = bytes[pos++]!;
  let intent: QrIntent;
  if (mode === MODE_BYTES.login) intent = "login";
  else if (mode === MODE_BYTES.reciprocate) intent = "reciprocate";
  else throw new ProtocolError("qr_invalid_intent", `QR mode is 0x${hex2(mode)}, expected 0x03 (login) or 0x04 (reciprocate)`);
  need(KEY_LENGTH, "qr_too_short", "public key");
  const publicKey = copyBytes(bytes.subarray(pos, pos + KEY_LENGTH));
  pos += KEY_LENGTH;

  const field = (what: string): string => {
    need(2, "qr_truncated", `${what} length`);
    const length = (bytes[pos]! << 8) | bytes[pos + 1]!;
    pos += 2;
    need(length, "qr_truncated", what);
    const text = utf8Decode(bytes.subarray(pos, pos + length), "qr_not_utf8");
    pos += length;
    return text;
  };
  const rendezvousUrl = validateRendezvousUrl(field("rendezvous URL"));
  let serverName: string | undefined;
  if (intent === "reciprocate") {
    if (bytes.length - pos < 2) throw new ProtocolError("qr_invalid_server_name", "a reciprocate (0x04) QR must carry the homeserver's server name");
    serverName = field("server name");
    validateServerName(serverName);
  }
  if (options.strict && pos !== bytes.length) throw new ProtocolError("qr_trailing", `${bytes.length - pos} unexpected byte(s) after the last field`);
  return serverName === undefined
    ? { prefix: "MATRIX", type: 2, intent, publicKey, rendezvousUrl }
    : { prefix: "MATRIX", type: 2, intent, publicKey, rendezvousUrl, serverName };
}

/** Encodes a 2024 QR exactly as QrCodeData.toBytes() does (the URL normalised as it normalises it). */
export function encodeQr2024(input: Qr2024Input): Uint8Array {
  const mode = MODE_BYTES[input.intent];
  if (mode === undefined) throw new ProtocolError("qr_invalid_intent", `unknown intent "${String(input.intent)}"`);
  if (!(input.publicKey instanceof Uint8Array) || input.publicKey.length !== KEY_LENGTH) throw new ProtocolError("qr_invalid_key", "public key must be 32 bytes");
  // Written as the WHATWG serialisation, which is what the Rust parser (the url crate) hands back to
  // the reader: the URL a scanner uses is then the same string on both implementations.
  const rendezvousUrl = new URL(validateRendezvousUrl(input.rendezvousUrl)).href;
  const parts = [PREFIX, Uint8Array.of(QR_TYPE_2024, mode), input.publicKey, u16Prefixed(utf8Encode(rendezvousUrl), "field_too_long", "rendezvous URL")];
  if (input.intent === "reciprocate") {
    if (input.serverName === undefined) throw new ProtocolError("qr_invalid_server_name", "a reciprocate QR needs the homeserver's server name");
    validateServerName(input.serverName);
    parts.push(u16Prefixed(utf8Encode(input.serverName), "field_too_long", "server name"));
  } else if (input.serverName !== undefined) {
    throw new ProtocolError("qr_invalid_server_name", "a login QR carries no server name (the existing device names the homeserver)");
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export function qr2024ToJson(qr: Qr2024): Qr2024Json {
  const json: Qr2024Json = { prefix: qr.prefix, type: qr.type, intent: qr.intent, publicKey: b64encode(qr.publicKey), rendezvousUrl: qr.rendezvousUrl };
  if (qr.serverName !== undefined) json.serverName = qr.serverName;
  return json;
}

export type AnyQr = { readonly version: "2024"; readonly qr: Qr2024 } | { readonly version: "2025"; readonly qr: QrData };

/**
 * Decodes a QR of either version, told apart by its bytes: "MATRIX" ‖ 0x02 is MSC4108 2024, anything
 * else goes to the MSC4388 decoder (type 0x03, either prefix), whose errors name what is wrong. A type
 * byte that is neither says both versions' types.
 */
export function decodeAnyQr(bytes: Uint8Array, options: { strict?: boolean } = {}): AnyQr {
  if (isQr2024(bytes)) return { version: "2024", qr: decodeQr2024(bytes, options) };
  try {
    return { version: "2025", qr: decodeQr(bytes, options) };
  } catch (err) {
    if (err instanceof ProtocolError && err.code === "qr_invalid_type" && startsWithPrefix(bytes)) {
      throw new ProtocolError("qr_invalid_type", `QR type is 0x${hex2(bytes[PREFIX.length]!)}, expected 0x02 (MSC4108 2024) or 0x03 (MSC4388)`, { cause: err });
    }
    throw err;
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
