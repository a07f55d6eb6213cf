// Canonical JSON and ed25519 signature checks as the Matrix spec's "Signing JSON" appendix defines them:
// the signed bytes are the canonical JSON of the object without `signatures` and `unsigned`; keys and
// signatures are unpadded standard base64.
import { createPublicKey, verify } from "node:crypto";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** Canonical JSON: object keys sorted by code point, no insignificant whitespace, UTF-8, integers only. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    // The spec forbids floats and integers outside the IEEE-754 safe range in signed JSON.
    if (!Number.isSafeInteger(value)) throw new TypeError("canonical JSON allows integers in [-(2^53)+1, 2^53-1] only");
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    // Plain `<` compares UTF-16 code units, which orders like code points except across surrogates;
    // compare by code points to be exact.
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareCodePoints);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
  }
  throw new TypeError(`not JSON: ${typeof value}`);
}

function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

const B64 = /^[A-Za-z0-9+/]*$/;

/** Decodes unpadded (or padded) standard base64; null when malformed. */
export function decodeBase64(s: string): Uint8Array | null {
  const unpadded = s.replace(/={1,2}$/, "");
  if (!B64.test(unpadded) || unpadded.length % 4 === 1) return null;
  return new Uint8Array(Buffer.from(unpadded, "base64"));
}

/** The bytes a Matrix signature covers. */
export function signedBytes(obj: JsonObject): Uint8Array {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return new TextEncoder().encode(canonicalJson(rest));
}

/**
 * Checks `obj.signatures[userId][keyId]` with the ed25519 public key `publicKeyB64`.
 * Returns false when the signature is absent, malformed or wrong.
 */
export function verifySignature(obj: JsonObject, userId: string, keyId: string, publicKeyB64: string): boolean {
  const sigs = obj.signatures;
  if (!isObject(sigs)) return false;
  const byUser = sigs[userId];
  if (!isObject(byUser)) return false;
  const sig = byUser[keyId];
  if (typeof sig !== "string") return false;
  const sigBytes = decodeBase64(sig);
  const pub = decodeBase64(publicKeyB64);
  if (sigBytes?.length !== 64 || pub?.length !== 32) return false;
  try {
    // OpenSSL's Ed25519 (RFC 8032 §5.1.7: S must be canonical, R is compared as encoded). Node's
    // native verify is ~15× faster than a pure-JS one, which matters on /keys/upload: a new device
    // sends 50 signed one-time keys, and every sign-in waits for that request.
    return verify(null, signedBytes(obj), ed25519PublicKey(pub), sigBytes);
  } catch {
    return false; // an invalid point encoding is a bad signature, not a server error
  }
}

/** SubjectPublicKeyInfo DER prefix of an Ed25519 key (RFC 8410): the raw 32 bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

function ed25519PublicKey(raw: Uint8Array): ReturnType<typeof createPublicKey> {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
