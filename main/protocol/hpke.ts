// RFC 9180 HPKE, base mode only, one suite: DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
// ChaCha20-Poly1305 (KEM 0x0020, KDF 0x0001, AEAD 0x0003) — what vodozemac uses for MSC4388
// (docs/protocol.md "HPKE") — plus the OHTTP-style response context MSC4388 builds on top
// (docs/protocol.md "The response context").
// Synchronous, on @noble/* only, so it runs unchanged in Node and Chromium.
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { expand, extract } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, copyBytes, u16be, utf8Encode } from "./bytes.js";
import { ProtocolError } from "./errors.js";

export const KEY_LENGTH = 32; // Npk = Nsk = Nsecret = Nk
export const NONCE_LENGTH = 12; // Nn
export const TAG_LENGTH = 16; // Nt

/**
 * Largest sequence number we use. RFC 9180 allows up to 2^96-1 and rust-hpke up to 2^64-1; we keep
 * the counter an exact JS number and stop at 2^53-1, far beyond any login (a handful of messages).
 */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

// ---- labelled HKDF (RFC 9180 §4), constant parts precomputed ----------------------------------

const HPKE_V1 = utf8Encode("HPKE-v1");
const KEM_SUITE_ID = concatBytes(utf8Encode("KEM"), u16be(0x0020));
const HPKE_SUITE_ID = concatBytes(utf8Encode("HPKE"), u16be(0x0020), u16be(0x0001), u16be(0x0003));
const EMPTY = new Uint8Array(0);

/** "HPKE-v1" ‖ suite_id ‖ label, computed once per (suite, label). */
const labelCache = new Map<string, Uint8Array>();
function labelPrefix(suite: Uint8Array, label: string): Uint8Array {
  const key = `${suite === KEM_SUITE_ID ? "K" : "H"}:${label}`;
  let p = labelCache.get(key);
  if (!p) {
    p = concatBytes(HPKE_V1, suite, utf8Encode(label));
    labelCache.set(key, p);
  }
  return p;
}

function labeledExtract(suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, concatBytes(labelPrefix(suite, label), ikm), salt);
}

function labeledExpand(suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) throw new RangeError(`HPKE expand length ${length} out of range`);
  return expand(sha256, prk, concatBytes(u16be(length), labelPrefix(suite, label), info), length);
}

// ---- DHKEM(X25519, HKDF-SHA256) ----------------------------------------------------------------

export interface KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const secretKey = x25519.utils.randomSecretKey();
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  checkLength(secretKey, "invalid_secret_key", "secret key");
  return x25519.getPublicKey(secretKey);
}

function checkLength(bytes: Uint8Array, code: "invalid_public_key" | "invalid_secret_key", what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_LENGTH) throw new ProtocolError(code, `${what} must be ${KEY_LENGTH} bytes`);
}

/** X25519 with the all-zero output rejected (RFC 9180 §7.1.4; rust-hpke dh() → vodozemac Decryption). */
function dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  let out: Uint8Array;
  try {
    // noble refuses the low-order points (whose result would be all zero) before the ladder.
    out = x25519.getSharedSecret(secretKey, publicKey);
  } catch (cause) {
    throw new ProtocolError("invalid_public_key", "X25519 public key is of low order (all-zero shared secret)", { cause });
  }
  let acc = 0;
  for (let i = 0; i < out.length; i++) acc |= out[i]!;
  if (acc === 0) throw new ProtocolError("invalid_public_key", "X25519 shared secret is all zero");
  return out;
}

function extractAndExpand(dhOut: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE_ID, EMPTY, "eae_prk", dhOut);
  return labeledExpand(KEM_SUITE_ID, eaePrk, "shared_secret", kemContext, KEY_LENGTH);
}

/** Encap(pkR): a fresh (or given, for test vectors) ephemeral key; returns shared_secret and enc. */
export function encap(recipientPublicKey: Uint8Array, ephemeralSecretKey?: Uint8Array): { sharedSecret: Uint8Array; enc: Uint8Array } {
  checkLength(recipientPublicKey, "invalid_public_key", "recipient public key");
  const skE = ephemeralSecretKey ?? x25519.utils.randomSecretKey();
  checkLength(skE, "invalid_secret_key", "ephemeral secret key");
  const enc = x25519.getPublicKey(skE);
  const sharedSecret = extractAndExpand(dh(skE, recipientPublicKey), concatBytes(enc, recipientPublicKey));
  return { sharedSecret, enc };
}

/** Decap(enc, skR). */
export function decap(enc: Uint8Array, recipientSecretKey: Uint8Array, recipientPublicKey?: Uint8Array): Uint8Array {
  checkLength(enc, "invalid_public_key", "encapsulated key");
  checkLength(recipientSecretKey, "invalid_secret_key", "recipient secret key");
  const pkR = recipientPublicKey ?? x25519.getPublicKey(recipientSecretKey);
  return extractAndExpand(dh(recipientSecretKey, enc), concatBytes(enc, pkR));
}

// ---- key schedule (base mode) ------------------------------------------------------------------

export interface KeyScheduleOutput {
  readonly key: Uint8Array;
  readonly baseNonce: Uint8Array;
  readonly exporterSecret: Uint8Array;
}

/** key_schedule_context for base mode depends only on info: compute it once per info. */
const kscCache = new Map<string, Uint8Array>();
function keyScheduleContext(info: Uint8Array): Uint8Array {
  const cacheKey = String.fromCharCode(...info);
  let ksc = kscCache.get(cacheKey);
  if (!ksc) {
    const pskIdHash = labeledExtract(HPKE_SUITE_ID, EMPTY, "psk_id_hash", EMPTY);
    const infoHash = labeledExtract(HPKE_SUITE_ID, EMPTY, "info_hash", info);
    ksc = concatBytes(new Uint8Array([0x00]), pskIdHash, infoHash);
    if (kscCache.size < 16) kscCache.set(cacheKey, ksc);
  }
  return ksc;
}

export function keySchedule(sharedSecret: Uint8Array, info: Uint8Array): KeyScheduleOutput {
  const ksc = keyScheduleContext(info);
  const secret = labeledExtract(HPKE_SUITE_ID, sharedSecret, "secret", EMPTY); // psk = ""
  return {
    key: labeledExpand(HPKE_SUITE_ID, secret, "key", ksc, KEY_LENGTH),
    baseNonce: labeledExpand(HPKE_SUITE_ID, secret, "base_nonce", ksc, NONCE_LENGTH),
    exporterSecret: labeledExpand(HPKE_SUITE_ID, secret, "exp", ksc, KEY_LENGTH),
  };
}

// ---- AEAD contexts -----------------------------------------------------------------------------

/**
 * An AEAD context: key, base nonce and a sequence counter. Used one way only (seal or open) by the
 * channel. seal advances seq; open advances it only on success, like RFC 9180 and rust-hpke, so a
 * forged message does not desynchronise the honest stream (the channel kills itself anyway).
 */
export class AeadContext {
  readonly #key: Uint8Array;
  readonly #baseNonce: Uint8Array;
  readonly #nonce = new Uint8Array(NONCE_LENGTH);
  #seq: number;

  constructor(key: Uint8Array, baseNonce: Uint8Array, seq = 0) {
    if (key.length !== KEY_LENGTH || baseNonce.length !== NONCE_LENGTH) throw new RangeError("AEAD key must be 32 bytes and nonce 12");
    if (!Number.isSafeInteger(seq) || seq < 0 || seq > MAX_SEQ) throw new RangeError("invalid sequence number");
    this.#key = copyBytes(key);
    this.#baseNonce = copyBytes(baseNonce);
    this.#seq = seq;
  }

  get seq(): number {
    return this.#seq;
  }

  /** base_nonce XOR I2OSP(seq, 12), into a reused buffer (the cipher copies what it needs). */
  #computeNonce(): Uint8Array {
    const n = this.#nonce;
    n.set(this.#baseNonce);
    const hi = Math.floor(this.#seq / 0x1_0000_0000);
    const lo = this.#seq >>> 0;
    n[4] = n[4]! ^ (hi >>> 24);
    n[5] = n[5]! ^ ((hi >>> 16) & 255);
    n[6] = n[6]! ^ ((hi >>> 8) & 255);
    n[7] = n[7]! ^ (hi & 255);
    n[8] = n[8]! ^ (lo >>> 24);
    n[9] = n[9]! ^ ((lo >>> 16) & 255);
    n[10] = n[10]! ^ ((lo >>> 8) & 255);
    n[11] = n[11]! ^ (lo & 255);
    return n;
  }

  #checkLimit(): void {
    if (this.#seq >= MAX_SEQ) throw new ProtocolError("message_limit_reached", "HPKE sequence number exhausted");
  }

  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    this.#checkLimit();
    const ct = chacha20poly1305(this.#key, this.#computeNonce(), aad).encrypt(plaintext);
    this.#seq++;
    return ct;
  }

  open(ciphertext: Uint8Array, aad: Uint8Array): Uint8Array {
    this.#checkLimit();
    if (ciphertext.length < TAG_LENGTH) throw new ProtocolError("decryption_failed", "ciphertext shorter than the AEAD tag");
    let pt: Uint8Array;
    try {
      pt = chacha20poly1305(this.#key, this.#computeNonce(), aad).decrypt(ciphertext);
    } catch (cause) {
      throw new ProtocolError("decryption_failed", "AEAD authentication failed", { cause });
    }
    this.#seq++;
    return pt;
  }
}

/** A primary HPKE context (from SetupBaseS / SetupBaseR): AEAD plus the secret export interface. */
export class HpkeContext extends AeadContext {
  readonly #exporterSecret: Uint8Array;

  constructor(schedule: KeyScheduleOutput, seq = 0) {
    super(schedule.key, schedule.baseNonce, seq);
    this.#exporterSecret = copyBytes(schedule.exporterSecret);
  }

  /** RFC 9180 Export(exporter_context, L) = LabeledExpand(exporter_secret, "sec", ctx, L). */
  export(exporterContext: Uint8Array, length: number): Uint8Array {
    return labeledExpand(HPKE_SUITE_ID, this.#exporterSecret, "sec", exporterContext, length);
  }
}

/** SetupBaseS(pkR, info). `ephemeralSecretKey` only for test vectors. */
export function setupBaseS(recipientPublicKey: Uint8Array, info: Uint8Array, ephemeralSecretKey?: Uint8Array): { enc: Uint8Array; context: HpkeContext } {
  const { sharedSecret, enc } = encap(recipientPublicKey, ephemeralSecretKey);
  return { enc, context: new HpkeContext(keySchedule(sharedSecret, info)) };
}

/** SetupBaseR(enc, skR, info). Pass pkR when known to save a scalar multiplication. */
export function setupBaseR(enc: Uint8Array, recipientSecretKey: Uint8Array, info: Uint8Array, recipientPublicKey?: Uint8Array): HpkeContext {
  return new HpkeContext(keySchedule(decap(enc, recipientSecretKey, recipientPublicKey), info));
}

// ---- OHTTP-style response context (docs/protocol.md, vodozemac response_context.rs) -------------

export const RESPONSE_NONCE_LENGTH = 32; // = AEAD key size (vodozemac)
const INFO_KEY = utf8Encode("key");
const INFO_NONCE = utf8Encode("nonce");

export function randomResponseNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(RESPONSE_NONCE_LENGTH));
}

/**
 * The G→S context: secret = primary.Export(label, 32); PRK = HKDF-Extract(salt = enc ‖ nonce,
 * IKM = secret) (plain RFC 5869, not labelled); key = Expand(PRK, "key", 32), nonce = Expand(PRK,
 * "nonce", 12). Its exporter secret is a dummy in MSC4388, so it is a bare AeadContext: no export.
 */
export function createResponseContext(primary: HpkeContext, exportLabel: Uint8Array, enc: Uint8Array, responseNonce: Uint8Array): AeadContext {
  checkLength(enc, "invalid_public_key", "encapsulated key");
  if (responseNonce.length !== RESPONSE_NONCE_LENGTH) throw new ProtocolError("invalid_message", `response nonce must be ${RESPONSE_NONCE_LENGTH} bytes`);
  const secret = primary.export(exportLabel, KEY_LENGTH);
  const prk = extract(sha256, secret, concatBytes(enc, responseNonce));
  return new AeadContext(expand(sha256, prk, INFO_KEY, KEY_LENGTH), expand(sha256, prk, INFO_NONCE, NONCE_LENGTH));
}
