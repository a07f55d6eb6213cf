// MSC4388 secure channel as a typestate: each handshake step is a separate object that can be used
// once, so "open twice", "send before the handshake" or "G sends before the user confirmed the check
// code" are not expressible in the types — and are refused at run time as well (JS callers, casts).
//
//   G: GeneratorChannel.create → openLoginInitiate(data, tok) → OpenedLoginInitiate
//        → sealLoginOk(tok) → { message, channel: UnconfirmedChannel } → confirm(code) → EstablishedChannel
//   S: ScannerChannel.create → sealLoginInitiate(tok) → { message, pending: PendingScannerChannel }
//        → openLoginOk(data, tok) → EstablishedChannel (with checkCode to display)
//
// Crypto (docs/protocol.md): S is the HPKE sender (Sp = enc), G the recipient; G→S uses the
// OHTTP-style response context. AAD = u16 len ‖ baseUrl ‖ u8 len ‖ rendezvousId ‖ u8 len ‖ token, with
// baseUrl = new URL(qrBaseUrl).href (url-crate form: root URLs end in "/"). The token passed in is
// the one of the PUT that writes the message (docs/protocol.md "The sequence-token rule"): seal with
// the token you are about to PUT with, open with the token your own last write returned.
//
// Failure semantics: a failed open kills the channel (MSC4388: abort), every handshake object is
// consumed by its first use (even when that use fails), and a wrong check code kills G's channel.
import { b64decode, b64encode, concatBytes, copyBytes, equalBytes, u16Prefixed, u8Prefixed, utf8Decode, utf8Encode } from "./bytes.js";
import { ProtocolError } from "./errors.js";
import {
  createResponseContext, generateKeyPair, KEY_LENGTH, publicKeyOf, randomResponseNonce, RESPONSE_NONCE_LENGTH, setupBaseR,
  setupBaseS, TAG_LENGTH,
} from "./hpke.js";
import type { AeadContext, HpkeContext, KeyPair } from "./hpke.js";
import { getProfile, HPKE_INFO, LOGIN_INITIATE_PLAINTEXT, LOGIN_OK_PLAINTEXT } from "./profile.js";
import type { ProfileName, WireProfile } from "./profile.js";
import { parseBaseUrl } from "./qr.js";

/** Where the channel lives: baseUrl as carried in the QR, and the rendezvous session id. */
export interface ChannelSession {
  readonly baseUrl: string;
  readonly rendezvousId: string;
}

const INFO = utf8Encode(HPKE_INFO);
const INITIATE = utf8Encode(LOGIN_INITIATE_PLAINTEXT);
const OK = utf8Encode(LOGIN_OK_PLAINTEXT);
/** Sp ‖ ChaCha20-Poly1305("MATRIX_QR_CODE_LOGIN_INITIATE") = 32 + 29 + 16 bytes. */
export const LOGIN_INITIATE_LENGTH = KEY_LENGTH + INITIATE.length + TAG_LENGTH;
/** ResponseNonce ‖ ChaCha20-Poly1305("MATRIX_QR_CODE_LOGIN_OK") = 32 + 23 + 16 bytes. */
export const LOGIN_OK_LENGTH = RESPONSE_NONCE_LENGTH + OK.length + TAG_LENGTH;

/** Check-code digits, MSC4388 / vodozemac DigitMode::NoLeadingZero: ((b0 % 9) + 1) * 10 + b1 % 10. */
export function checkCodeDigits(bytes: Uint8Array): number {
  if (bytes.length < 2) throw new ProtocolError("invalid_message", "check code needs two bytes");
  return ((bytes[0]! % 9) + 1) * 10 + (bytes[1]! % 10);
}

/** The fixed part of the AAD: EncodeStringAsBytes16(href) ‖ EncodeStringAsBytes8(id). */
export function aadPrefix(session: ChannelSession): Uint8Array {
  const href = parseBaseUrl(session.baseUrl).href;
  return concatBytes(
    u16Prefixed(utf8Encode(href), "base_url_too_long"),
    u8Prefixed(utf8Encode(session.rendezvousId), "rendezvous_id_too_long"),
  );
}

/** The full MSC4388 AAD for one message. */
export function buildAad(session: ChannelSession, sequenceToken: string): Uint8Array {
  return withToken(aadPrefix(session), sequenceToken);
}

function withToken(prefix: Uint8Array, sequenceToken: string): Uint8Array {
  if (typeof sequenceToken !== "string") throw new ProtocolError("invalid_message", "sequence token must be a string");
  return concatBytes(prefix, u8Prefixed(utf8Encode(sequenceToken), "sequence_token_too_long"));
}

function resolveProfile(profile: WireProfile | ProfileName | undefined): WireProfile {
  return typeof profile === "object" ? profile : getProfile(profile);
}

function decodeMessage(data: string, what: string): Uint8Array {
  if (typeof data !== "string") throw new ProtocolError("invalid_message", `${what} must be a base64 string`);
  try {
    return b64decode(data);
  } catch (cause) {
    throw new ProtocolError("invalid_base64", `${what} is not valid base64`, { cause });
  }
}

function dead(what: string): ProtocolError {
  return new ProtocolError("channel_dead", `${what}: this channel state was already used or has failed`);
}

/** Only this module can construct the state objects after the first one. */
const INTERNAL: unique symbol = Symbol("channel-internal");
type Internal = typeof INTERNAL;
function checkInternal(token: unknown, what: string): void {
  if (token !== INTERNAL) throw new ProtocolError("not_established", `${what} cannot be constructed directly`);
}

/** Shared per-channel data: profile and the AAD prefix (computed once). */
interface Binding {
  readonly profile: WireProfile;
  readonly aadPrefix: Uint8Array;
}

function bind(profile: WireProfile | ProfileName | undefined, session: ChannelSession): Binding {
  return { profile: resolveProfile(profile), aadPrefix: aadPrefix(session) };
}

function computeCheckCode(primary: HpkeContext, profile: WireProfile, gp: Uint8Array, sp: Uint8Array): string {
  return String(checkCodeDigits(primary.export(profile.checkCodeExportContext(gp, sp), 2)));
}

// ---- Generator (G) -------------------------------------------------------------------------------

export interface GeneratorOptions {
  readonly profile?: WireProfile | ProfileName;
  readonly session: ChannelSession;
  /** Fixed key pair (tests / vectors); only secretKey is used, publicKey must match it. */
  readonly keyPair?: KeyPair;
  /** Fixed response nonce (tests / vectors only). */
  readonly responseNonce?: Uint8Array;
}

/** G before anything was received: holds Gs; its public key goes into the QR. */
export class GeneratorChannel {
  readonly publicKey: Uint8Array;
  #secretKey: Uint8Array | undefined;
  readonly #binding: Binding;
  readonly #responseNonce: Uint8Array | undefined;

  private constructor(token: Internal, binding: Binding, keyPair: KeyPair, responseNonce: Uint8Array | undefined) {
    checkInternal(token, "GeneratorChannel");
    this.#binding = binding;
    this.#secretKey = copyBytes(keyPair.secretKey);
    this.publicKey = copyBytes(keyPair.publicKey);
    this.#responseNonce = responseNonce && copyBytes(responseNonce);
  }

  static create(options: GeneratorOptions): GeneratorChannel {
    const binding = bind(options.profile, options.session);
    let keyPair: KeyPair;
    if (options.keyPair) {
      const derived = publicKeyOf(options.keyPair.secretKey);
      if (!equalBytes(derived, options.keyPair.publicKey)) throw new ProtocolError("invalid_secret_key", "keyPair.publicKey does not belong to keyPair.secretKey");
      keyPair = { secretKey: options.keyPair.secretKey, publicKey: derived };
    } else {
      keyPair = generateKeyPair();
    }
    if (options.responseNonce && options.responseNonce.length !== RESPONSE_NONCE_LENGTH) {
      throw new ProtocolError("invalid_message", `response nonce must be ${RESPONSE_NONCE_LENGTH} bytes`);
    }
    return new GeneratorChannel(INTERNAL, binding, keyPair, options.responseNonce);
  }

  /**
   * Open S's LoginInitiateMessage (AAD token: the one from G's POST). Single use: whether it succeeds
   * or not, this object is dead afterwards (a junk payload from a third party ends the attempt).
   */
  openLoginInitiate(data: string, sequenceToken: string): OpenedLoginInitiate {
    const secretKey = this.#secretKey;
    if (!secretKey) throw dead("openLoginInitiate");
    this.#secretKey = undefined;
    try {
      const bytes = decodeMessage(data, "LoginInitiateMessage");
      if (bytes.length !== LOGIN_INITIATE_LENGTH) {
        throw new ProtocolError("invalid_message", `LoginInitiateMessage is ${bytes.length} bytes, expected ${LOGIN_INITIATE_LENGTH}`);
      }
      const sp = copyBytes(bytes.subarray(0, KEY_LENGTH));
      const aad = withToken(this.#binding.aadPrefix, sequenceToken);
      const primary = setupBaseR(sp, secretKey, INFO, this.publicKey);
      const plaintext = primary.open(bytes.subarray(KEY_LENGTH), aad);
      if (!equalBytes(plaintext, INITIATE)) throw new ProtocolError("unexpected_handshake_message", "LoginInitiateMessage does not contain MATRIX_QR_CODE_LOGIN_INITIATE");
      return new OpenedLoginInitiate(INTERNAL, this.#binding, primary, this.publicKey, sp, this.#responseNonce);
    } finally {
      secretKey.fill(0);
    }
  }
}

/** G after LoginInitiate opened: it can (once) answer with LoginOk. */
export class OpenedLoginInitiate {
  #primary: HpkeContext | undefined;
  readonly #binding: Binding;
  readonly #gp: Uint8Array;
  readonly #sp: Uint8Array;
  readonly #responseNonce: Uint8Array | undefined;

  /** @internal */
  constructor(token: Internal, binding: Binding, primary: HpkeContext, gp: Uint8Array, sp: Uint8Array, responseNonce: Uint8Array | undefined) {
    checkInternal(token, "OpenedLoginInitiate");
    this.#binding = binding;
    this.#primary = primary;
    this.#gp = gp;
    this.#sp = sp;
    this.#responseNonce = responseNonce;
  }

  /**
   * Seal LoginOk with the token G is about to PUT with (the one of the GET that delivered
   * LoginInitiate). Returns the message and the channel, which stays unusable until confirm().
   */
  sealLoginOk(sequenceToken: string): { message: string; channel: UnconfirmedChannel } {
    const primary = this.#primary;
    if (!primary) throw dead("sealLoginOk");
    this.#primary = undefined;
    const aad = withToken(this.#binding.aadPrefix, sequenceToken);
    const nonce = this.#responseNonce ?? randomResponseNonce();
    const send = createResponseContext(primary, utf8Encode(this.#binding.profile.responseExportLabel), this.#sp, nonce);
    const ct = send.seal(OK, aad);
    const checkCode = computeCheckCode(primary, this.#binding.profile, this.#gp, this.#sp);
    return {
      message: b64encode(concatBytes(nonce, ct)),
      channel: new UnconfirmedChannel(INTERNAL, this.#binding, primary, send, checkCode),
    };
  }
}

const CODE_PATTERN = /^[1-9][0-9]$/;

/**
 * G after LoginOk: the keys exist but G does not yet know *who* it talks to (HPKE base mode does
 * not authenticate S). It has no seal/open: only confirm() with the code shown on S. Messages that
 * arrive meanwhile must be kept (as ciphertext) and opened after confirm(); their AAD token does
 * not change while waiting.
 */
export class UnconfirmedChannel {
  #state: { primary: HpkeContext; send: AeadContext } | undefined;
  readonly #binding: Binding;
  readonly #checkCode: string;

  /** @internal */
  constructor(token: Internal, binding: Binding, primary: HpkeContext, send: AeadContext, checkCode: string) {
    checkInternal(token, "UnconfirmedChannel");
    this.#binding = binding;
    this.#state = { primary, send };
    this.#checkCode = checkCode;
  }

  /**
   * Compare the code the user typed with ours. Match → EstablishedChannel. Mismatch → the channel is
   * dead (possible Specter; MSC4388 §7): `check_code_mismatch`. Input that is not a two-digit code
   * 10..99 → `invalid_check_code`, and the channel stays usable (nothing was compared).
   */
  confirm(code: string | number): EstablishedChannel {
    const state = this.#state;
    if (!state) throw dead("confirm");
    const text = typeof code === "number" ? (Number.isInteger(code) ? String(code) : "") : typeof code === "string" ? code.trim() : "";
    if (!CODE_PATTERN.test(text)) throw new ProtocolError("invalid_check_code", "the check code is two digits, 10 to 99");
    this.#state = undefined;
    if (!equalBytes(utf8Encode(text), utf8Encode(this.#checkCode))) {
      throw new ProtocolError("check_code_mismatch", "the check code does not match: the other device may not be the one you scanned with");
    }
    return new EstablishedChannel(INTERNAL, "generator", this.#binding, state.send, state.primary, this.#checkCode);
  }
}

// ---- Scanner (S) ---------------------------------------------------------------------------------

export interface ScannerOptions {
  readonly profile?: WireProfile | ProfileName;
  readonly session: ChannelSession;
  /** Gp from the QR. */
  readonly peerPublicKey: Uint8Array;
  /** Fixed ephemeral secret Ss (tests / vectors only). */
  readonly ephemeralSecretKey?: Uint8Array;
}

/** S after scanning: can (once) send LoginInitiate. */
export class ScannerChannel {
  #pending: { gp: Uint8Array; ss: Uint8Array | undefined } | undefined;
  readonly #binding: Binding;

  private constructor(token: Internal, binding: Binding, gp: Uint8Array, ss: Uint8Array | undefined) {
    checkInternal(token, "ScannerChannel");
    this.#binding = binding;
    this.#pending = { gp, ss };
  }

  static create(options: ScannerOptions): ScannerChannel {
    const binding = bind(options.profile, options.session);
    const gp = options.peerPublicKey;
    if (!(gp instanceof Uint8Array) || gp.length !== KEY_LENGTH) throw new ProtocolError("invalid_public_key", "peer public key must be 32 bytes");
    return new ScannerChannel(INTERNAL, binding, copyBytes(gp), options.ephemeralSecretKey && copyBytes(options.ephemeralSecretKey));
  }

  /** Seal LoginInitiate with the token S is about to PUT with (the one its GET returned). */
  sealLoginInitiate(sequenceToken: string): { message: string; pending: PendingScannerChannel } {
    const p = this.#pending;
    if (!p) throw dead("sealLoginInitiate");
    this.#pending = undefined;
    try {
      const aad = withToken(this.#binding.aadPrefix, sequenceToken);
      const { enc, context } = setupBaseS(p.gp, INFO, p.ss);
      const ct = context.seal(INITIATE, aad);
      return { message: b64encode(concatBytes(enc, ct)), pending: new PendingScannerChannel(INTERNAL, this.#binding, context, p.gp, enc) };
    } finally {
      p.ss?.fill(0);
    }
  }
}

/** S after LoginInitiate was sent: waits (once) for LoginOk. */
export class PendingScannerChannel {
  #primary: HpkeContext | undefined;
  readonly #binding: Binding;
  readonly #gp: Uint8Array;
  /** Sp, S's encapsulated key. */
  readonly publicKey: Uint8Array;

  /** @internal */
  constructor(token: Internal, binding: Binding, primary: HpkeContext, gp: Uint8Array, sp: Uint8Array) {
    checkInternal(token, "PendingScannerChannel");
    this.#binding = binding;
    this.#primary = primary;
    this.#gp = gp;
    this.publicKey = sp;
  }

  /**
   * Open G's LoginOkMessage (AAD token: the one S's LoginInitiate PUT returned). Success proves that
   * G holds the key from the QR and received our Sp: the channel is secure, show `checkCode`.
   * Single use; any failure leaves this object dead.
   */
  openLoginOk(data: string, sequenceToken: string): EstablishedChannel {
    const primary = this.#primary;
    if (!primary) throw dead("openLoginOk");
    this.#primary = undefined;
    const bytes = decodeMessage(data, "LoginOkMessage");
    if (bytes.length !== LOGIN_OK_LENGTH) throw new ProtocolError("invalid_message", `LoginOkMessage is ${bytes.length} bytes, expected ${LOGIN_OK_LENGTH}`);
    const aad = withToken(this.#binding.aadPrefix, sequenceToken);
    const receive = createResponseContext(primary, utf8Encode(this.#binding.profile.responseExportLabel), this.publicKey, bytes.subarray(0, RESPONSE_NONCE_LENGTH));
    const plaintext = receive.open(bytes.subarray(RESPONSE_NONCE_LENGTH), aad);
    if (!equalBytes(plaintext, OK)) throw new ProtocolError("unexpected_handshake_message", "LoginOkMessage does not contain MATRIX_QR_CODE_LOGIN_OK");
    const checkCode = computeCheckCode(primary, this.#binding.profile, this.#gp, this.publicKey);
    return new EstablishedChannel(INTERNAL, "scanner", this.#binding, primary, receive, checkCode);
  }
}

// ---- Established (both roles) --------------------------------------------------------------------

/**
 * The trusted channel. Messages are UTF-8 strings (MSC4108 JSON); the wire form is unpadded base64
 * of ciphertext ‖ tag. Any failed open kills the channel: every later call throws `channel_dead`.
 */
export class EstablishedChannel {
  readonly role: "generator" | "scanner";
  /** The two-digit code (S shows it; G has compared it). */
  readonly checkCode: string;
  #send: AeadContext | undefined;
  #receive: AeadContext | undefined;
  readonly #binding: Binding;

  /** @internal */
  constructor(token: Internal, role: "generator" | "scanner", binding: Binding, send: AeadContext, receive: AeadContext, checkCode: string) {
    checkInternal(token, "EstablishedChannel");
    this.role = role;
    this.#binding = binding;
    this.#send = send;
    this.#receive = receive;
    this.checkCode = checkCode;
  }

  get isDead(): boolean {
    return !(#send in this) || this.#send === undefined;
  }

  #kill(): void {
    this.#send = undefined;
    this.#receive = undefined;
  }

  /** Seal with the token this side is about to PUT with. Returns the `data` string. */
  seal(plaintext: string, sequenceToken: string): string {
    if (!(#send in this)) throw new ProtocolError("not_established", "seal() needs an established channel");
    const send = this.#send;
    if (!send) throw dead("seal");
    const aad = withToken(this.#binding.aadPrefix, sequenceToken);
    const pt = utf8Encode(plaintext);
    return b64encode(send.seal(pt, aad));
  }

  /** Open with the token this side's own last write returned. Any failure kills the channel. */
  open(data: string, sequenceToken: string): string {
    if (!(#receive in this)) throw new ProtocolError("not_established", "open() needs an established channel");
    const receive = this.#receive;
    if (!receive) throw dead("open");
    try {
      const bytes = decodeMessage(data, "message");
      if (bytes.length < TAG_LENGTH) throw new ProtocolError("invalid_message", "message is shorter than the AEAD tag");
      const aad = withToken(this.#binding.aadPrefix, sequenceToken);
      return utf8Decode(receive.open(bytes, aad));
    } catch (err) {
      this.#kill();
      throw err;
    }
  }
}
