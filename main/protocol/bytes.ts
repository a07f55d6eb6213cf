// Byte helpers shared by the protocol core. No Buffer: this code also runs in Chromium.
// Base64 follows vodozemac (standard alphabet "+/"): encode unpadded; decode accepts padded or
// unpadded input, but rejects bad characters, wrong padding and non-canonical trailing bits, so
// every byte string has exactly one accepted unpadded spelling (and one padded one).
import { ProtocolError } from "./errors.js";
import type { ProtocolErrorCode } from "./errors.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const ENC = new Uint8Array(64);
const DEC = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  ENC[i] = ALPHABET.charCodeAt(i);
  DEC[ALPHABET.charCodeAt(i)] = i;
}
const latin1 = new TextDecoder("latin1");

/** Standard-alphabet base64 without padding. */
export function b64encode(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil((n * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = ENC[v >>> 18]!;
    out[o++] = ENC[(v >>> 12) & 63]!;
    out[o++] = ENC[(v >>> 6) & 63]!;
    out[o++] = ENC[v & 63]!;
  }
  const rest = n - i;
  if (rest === 1) {
    const v = bytes[i]!;
    out[o++] = ENC[v >>> 2]!;
    out[o++] = ENC[(v & 3) << 4]!;
  } else if (rest === 2) {
    const v = (bytes[i]! << 8) | bytes[i + 1]!;
    out[o++] = ENC[v >>> 10]!;
    out[o++] = ENC[(v >>> 4) & 63]!;
    out[o++] = ENC[(v & 15) << 2]!;
  }
  // latin1 maps every byte to the same code unit; the output is pure ASCII.
  return latin1.decode(out.subarray(0, o));
}

/** Decodes standard base64, padded or unpadded. Throws ProtocolError("invalid_base64"). */
export function b64decode(text: string): Uint8Array {
  let len = text.length;
  if (len % 4 === 0 && len > 0) {
    // Padded form: at most two "=", and only where the unpadded form would have ended.
    if (text.charCodeAt(len - 1) === 61) len--;
    if (text.charCodeAt(len - 1) === 61) len--;
  }
  const rem = len % 4;
  if (rem === 1) throw new ProtocolError("invalid_base64", "base64 length is impossible (one character left over)");
  if (len !== text.length && rem === 0) throw new ProtocolError("invalid_base64", "base64 padding where none belongs");
  const out = new Uint8Array(((len - rem) / 4) * 3 + (rem === 0 ? 0 : rem - 1));
  let o = 0;
  let i = 0;
  const sym = (k: number): number => {
    const c = text.charCodeAt(k);
    const v = c < 256 ? DEC[c]! : -1;
    if (v < 0) throw new ProtocolError("invalid_base64", `invalid base64 character at offset ${k}`);
    return v;
  };
  for (; i + 4 <= len; i += 4) {
    const v = (sym(i) << 18) | (sym(i + 1) << 12) | (sym(i + 2) << 6) | sym(i + 3);
    out[o++] = v >>> 16;
    out[o++] = (v >>> 8) & 255;
    out[o++] = v & 255;
  }
  if (rem === 2) {
    const a = sym(i);
    const b = sym(i + 1);
    if (b & 15) throw new ProtocolError("invalid_base64", "non-canonical base64 (trailing bits set)");
    out[o++] = (a << 2) | (b >>> 4);
  } else if (rem === 3) {
    const a = sym(i);
    const b = sym(i + 1);
    const c = sym(i + 2);
    if (c & 3) throw new ProtocolError("invalid_base64", "non-canonical base64 (trailing bits set)");
    out[o++] = (a << 2) | (b >>> 4);
    out[o++] = ((b & 15) << 4) | (c >>> 2);
  }
  return out;
}

const HEX = "0123456789abcdef";

export function hexEncode(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]! >>> 4]! + HEX[bytes[i]! & 15]!;
  return s;
}

/** Lower- or upper-case hex, even length, nothing else. Throws ProtocolError("invalid_message"). */
export function hexDecode(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new ProtocolError("invalid_message", "not an even-length hex string");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// fatal: malformed input throws instead of turning into U+FFFD; ignoreBOM: a leading BOM is data,
// not stripped (Rust's str::from_utf8 keeps it too, and the bytes must round-trip).
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Strict UTF-8 decode. Throws ProtocolError (`code`, default "invalid_utf8"). */
export function utf8Decode(bytes: Uint8Array, code: ProtocolErrorCode = "invalid_utf8"): string {
  try {
    return strictDecoder.decode(bytes);
  } catch (cause) {
    throw new ProtocolError(code, "not valid UTF-8", { cause });
  }
}

/**
 * UTF-8 encode. Rejects strings with lone surrogates: TextEncoder would silently replace them with
 * U+FFFD, and two different strings would then seal under the same AAD bytes.
 */
export function utf8Encode(text: string): Uint8Array {
  if (LONE_SURROGATE.test(text)) throw new ProtocolError("invalid_utf8", "string contains a lone surrogate");
  return encoder.encode(text);
}

/**
 * A fresh Uint8Array with the same bytes. Not `x.slice()`: on a Node Buffer (a Uint8Array subclass)
 * slice() returns a view, so zeroing "our copy" of a key would zero the caller's memory.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A length-prefixed field: the byte count, big-endian in `width` bytes, then the bytes (MSC4388's
 * EncodeStringAsBytes8 / EncodeStringAsBytes16, and the fields of both QR formats). `code` and `what`
 * name the field when it is too long for its prefix.
 */
function lengthPrefixed(bytes: Uint8Array, width: 1 | 2, code: ProtocolErrorCode, what: string): Uint8Array {
  const max = 2 ** (8 * width) - 1;
  if (bytes.length > max) throw new ProtocolError(code, `${what} is ${bytes.length} bytes; a u${8 * width} length prefix allows ${max}`);
  const out = new Uint8Array(width + bytes.length);
  for (let i = 0; i < width; i++) out[i] = (bytes.length >>> (8 * (width - 1 - i))) & 0xff;
  out.set(bytes, width);
  return out;
}

/** MSC4388 EncodeStringAsBytes8 on bytes: u8 length ‖ bytes. */
export function u8Prefixed(bytes: Uint8Array, code: ProtocolErrorCode = "field_too_long", what = "field"): Uint8Array {
  return lengthPrefixed(bytes, 1, code, what);
}

/** MSC4388 EncodeStringAsBytes16 on bytes: u16 big-endian length ‖ bytes. */
export function u16Prefixed(bytes: Uint8Array, code: ProtocolErrorCode = "field_too_long", what = "field"): Uint8Array {
  return lengthPrefixed(bytes, 2, code, what);
}

/** Two-byte big-endian encoding (RFC 9180 I2OSP(n, 2)). */
export function u16be(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

/** Byte-wise equality that does not stop at the first difference. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
