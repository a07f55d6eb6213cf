// MSC4108 login messages exchanged over the secure channel ("Message reference"), both versions: they
// are the same but for how m.login.protocols names the homeserver (2025 `base_url`, 2024 `homeserver`
// as a server name), which main/login/dialect.ts decides.
//
// Every message received from the peer goes through parseLoginMessage(): an unknown type, a missing or
// mistyped field, or a message too big for the rendezvous server is a MessageError whose reason is
// `unexpected_message_received`, the MSC's answer to anything a device was not expecting.
// Unknown extra fields are ignored (Matrix convention); serialisation writes only the known fields.
import { isFailureReason, type FailureReason } from "../../../contract/failures.js";
import { isServerName } from "../../protocol-2024/qr.js";

// Every `m.login.failure` reason of MSC4108: the contract's (contract/failures.ts), one list for every layer.
export { FAILURE_REASONS, isFailureReason, type FailureReason } from "../../../contract/failures.js";

/** The only login protocol MSC4108 defines. */
export const DEVICE_AUTHORIZATION_GRANT = "device_authorization_grant";

export interface ProtocolsMessage {
  type: "m.login.protocols";
  /** Unknown protocol names are kept: the new device picks the one it supports. */
  protocols: string[];
  /** 2025: the homeserver's base URL. */
  base_url?: string;
  /**
   * 2024: the homeserver's server name (matrix-js-sdk sends `client.getDomain()`); the Rust SDK's
   * 2024 variant sent a base URL here, which is accepted too. At least one of the two is present.
   */
  homeserver?: string;
}

export interface DeviceAuthorizationGrantInfo {
  verification_uri: string;
  verification_uri_complete?: string;
}

export interface ProtocolMessage {
  type: "m.login.protocol";
  /** A protocol the existing device may not support: it answers `unsupported_protocol`. */
  protocol: string;
  /** Present (and validated) whenever `protocol` is `device_authorization_grant`. */
  device_authorization_grant?: DeviceAuthorizationGrantInfo;
  device_id: string;
}

export interface ProtocolAcceptedMessage {
  type: "m.login.protocol_accepted";
}

export interface SuccessMessage {
  type: "m.login.success";
}

export interface DeclinedMessage {
  type: "m.login.declined";
}

export interface FailureMessage {
  type: "m.login.failure";
  reason: FailureReason;
  /** Server name of the homeserver (sent by the existing device so the user need not type it). */
  homeserver?: string;
}

export interface CrossSigningSecrets {
  master_key: string;
  self_signing_key: string;
  user_signing_key: string;
}

export interface BackupSecrets {
  algorithm: string;
  key: string;
  backup_version: string;
}

/** The secrets bundle as exported by matrix-js-sdk / matrix-sdk-crypto (`exportSecretsBundle`). */
export interface SecretsBundle {
  cross_signing: CrossSigningSecrets;
  backup?: BackupSecrets;
}

export interface SecretsMessage extends SecretsBundle {
  type: "m.login.secrets";
}

export type LoginMessage =
  | ProtocolsMessage
  | ProtocolMessage
  | ProtocolAcceptedMessage
  | SuccessMessage
  | DeclinedMessage
  | FailureMessage
  | SecretsMessage;

export type LoginMessageType = LoginMessage["type"];

/** A received message that is not one of ours, or malformed. */
export class MessageError extends Error {
  readonly reason = "unexpected_message_received" as const satisfies FailureReason;
  constructor(message: string) {
    super(message);
    this.name = "MessageError";
  }
}

// ---- sizes ----------------------------------------------------------------------------------------

/** MSC4388: the rendezvous server rejects `data` longer than 4096 bytes with 413 M_TOO_LARGE. */
export const RENDEZVOUS_MAX_DATA_BYTES = 4096;
/** AEAD tag appended to every sealed message (ChaCha20-Poly1305 / AES-GCM). */
export const AEAD_TAG_BYTES = 16;

// Per-field caps. They are chosen so that the largest message each type can produce still fits the
// rendezvous limit once sealed and base64-encoded (checked in test/unit/login-messages.test.ts);
// sealedSize() is also checked on every send and receive, so a cap only has to be generous, not exact.
export const MAX_URL_LENGTH = 1024;
export const MAX_DEVICE_ID_LENGTH = 255;
export const MAX_SHORT_STRING_LENGTH = 255;
export const MAX_PROTOCOLS = 4;

/** Length of unpadded base64 of n bytes. */
export function unpaddedBase64Length(n: number): number {
  return Math.floor(n / 3) * 4 + [0, 2, 3][n % 3]!;
}

/** Size on the rendezvous server of a message sealed by the secure channel: base64(ct ‖ tag). */
export function sealedSize(message: LoginMessage): number {
  const plaintextBytes = Buffer.byteLength(JSON.stringify(serialiseLoginMessage(message)), "utf8");
  return unpaddedBase64Length(plaintextBytes + AEAD_TAG_BYTES);
}

export function fitsRendezvous(message: LoginMessage): boolean {
  return sealedSize(message) <= RENDEZVOUS_MAX_DATA_BYTES;
}

// ---- validation helpers ---------------------------------------------------------------------------

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(obj: Json, field: string, max: number, where: string): string {
  const value = obj[field];
  if (typeof value !== "string" || value.length === 0) throw new MessageError(`${where}: "${field}" must be a non-empty string`);
  if (value.length > max) throw new MessageError(`${where}: "${field}" is longer than ${max} characters`);
  return value;
}

function optStr(obj: Json, field: string, max: number, where: string): string | undefined {
  return obj[field] === undefined ? undefined : str(obj, field, max, where);
}

function absoluteUrl(value: string, field: string, where: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new MessageError(`${where}: "${field}" is not an absolute URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new MessageError(`${where}: "${field}" must be http(s)`);
  return value;
}

function isAbsoluteHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

const STANDARD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Unpadded (or padded) standard base64 of exactly `bytes` bytes, as vodozemac decodes it. */
function base64Key(obj: Json, field: string, where: string, bytes: number): string {
  const value = str(obj, field, 64, where);
  if (!STANDARD_BASE64.test(value)) throw new MessageError(`${where}: "${field}" is not standard base64`);
  const unpadded = value.replace(/=+$/, "");
  if (unpadded.length !== unpaddedBase64Length(bytes)) throw new MessageError(`${where}: "${field}" is not a ${bytes}-byte key`);
  // Reject non-canonical trailing bits, as the base64 crate does.
  if (Buffer.from(unpadded, "base64").toString("base64").replace(/=+$/, "") !== unpadded) {
    throw new MessageError(`${where}: "${field}" has non-canonical base64 padding bits`);
  }
  return unpadded;
}

/** Validate a secrets bundle (from the peer, or from our own exportSecrets before sending it). */
export function parseSecretsBundle(value: unknown, where = "m.login.secrets"): SecretsBundle {
  if (!isObject(value)) throw new MessageError(`${where}: not an object`);
  const cs = value["cross_signing"];
  if (!isObject(cs)) throw new MessageError(`${where}: "cross_signing" must be an object`);
  const bundle: SecretsBundle = {
    cross_signing: {
      master_key: base64Key(cs, "master_key", where, 32),
      self_signing_key: base64Key(cs, "self_signing_key", where, 32),
      user_signing_key: base64Key(cs, "user_signing_key", where, 32),
    },
  };
  const backup = value["backup"];
  if (backup !== undefined) {
    if (!isObject(backup)) throw new MessageError(`${where}: "backup" must be an object`);
    bundle.backup = {
      algorithm: str(backup, "algorithm", MAX_SHORT_STRING_LENGTH, where),
      key: base64Key(backup, "key", where, 32),
      backup_version: str(backup, "backup_version", MAX_SHORT_STRING_LENGTH, where),
    };
  }
  return bundle;
}

// ---- parse ----------------------------------------------------------------------------------------

/** Validate a decrypted payload from the peer. Throws MessageError (`unexpected_message_received`). */
export function parseLoginMessage(value: unknown): LoginMessage {
  if (!isObject(value)) throw new MessageError("message is not a JSON object");
  const type = value["type"];
  let message: LoginMessage;
  switch (type) {
    case "m.login.protocols": {
      const protocols = value["protocols"];
      if (!Array.isArray(protocols) || protocols.length > MAX_PROTOCOLS || !protocols.every((p) => typeof p === "string" && p.length > 0 && p.length <= MAX_SHORT_STRING_LENGTH)) {
        throw new MessageError(`${type}: "protocols" must be an array of protocol names`);
      }
      // MSC4108 2025 says base_url; the 2024 text says homeserver (a server name; rust-sdk's legacy
      // variant put a URL there). Which one a version reads is dialect.ts's business.
      message = { type, protocols: [...(protocols as string[])] };
      const baseUrl = optStr(value, "base_url", MAX_URL_LENGTH, type);
      if (baseUrl !== undefined) message.base_url = absoluteUrl(baseUrl, "base_url", type);
      const homeserver = optStr(value, "homeserver", MAX_URL_LENGTH, type);
      if (homeserver !== undefined) {
        if (!isServerName(homeserver) && !isAbsoluteHttpUrl(homeserver)) throw new MessageError(`${type}: "homeserver" is neither a server name nor an http(s) URL`);
        message.homeserver = homeserver;
      }
      if (baseUrl === undefined && homeserver === undefined) throw new MessageError(`${type}: names no homeserver ("base_url" or "homeserver")`);
      break;
    }
    case "m.login.protocol": {
      const protocol = str(value, "protocol", MAX_SHORT_STRING_LENGTH, type);
      const deviceId = str(value, "device_id", MAX_DEVICE_ID_LENGTH, type);
      message = { type, protocol, device_id: deviceId };
      if (protocol === DEVICE_AUTHORIZATION_GRANT || value["device_authorization_grant"] !== undefined) {
        const grant = value["device_authorization_grant"];
        if (!isObject(grant)) throw new MessageError(`${type}: "device_authorization_grant" must be an object`);
        const where = `${type}.device_authorization_grant`;
        const info: DeviceAuthorizationGrantInfo = {
          verification_uri: str(grant, "verification_uri", MAX_URL_LENGTH, where),
        };
        const complete = optStr(grant, "verification_uri_complete", MAX_URL_LENGTH, where);
        if (complete !== undefined) info.verification_uri_complete = complete;
        // The URIs are NOT checked for scheme here: opening policy belongs to the existing device,
        // which answers `unable_to_open_verification_uri` rather than `unexpected_message_received`.
        message.device_authorization_grant = info;
      }
      break;
    }
    case "m.login.protocol_accepted":
    case "m.login.success":
    case "m.login.declined":
      message = { type };
      break;
    case "m.login.failure": {
      const reason = value["reason"];
      if (!isFailureReason(reason)) throw new MessageError(`${type}: unknown reason ${JSON.stringify(reason)}`);
      message = { type, reason };
      const homeserver = optStr(value, "homeserver", MAX_URL_LENGTH, type);
      if (homeserver !== undefined) message.homeserver = homeserver;
      break;
    }
    case "m.login.secrets":
      message = { type, ...parseSecretsBundle(value) };
      break;
    default:
      throw new MessageError(`unknown message type ${JSON.stringify(type)}`);
  }
  if (!fitsRendezvous(message)) throw new MessageError(`${type}: larger than the rendezvous limit`);
  return message;
}

// ---- serialise ------------------------------------------------------------------------------------

/** The JSON object to hand to SecureConversation.send(): known fields only, MSC field order. */
export function serialiseLoginMessage(message: LoginMessage): Json {
  switch (message.type) {
    case "m.login.protocols": {
      const out: Json = { type: message.type, protocols: [...message.protocols] };
      if (message.base_url !== undefined) out["base_url"] = message.base_url;
      if (message.homeserver !== undefined) out["homeserver"] = message.homeserver;
      return out;
    }
    case "m.login.protocol": {
      const out: Json = { type: message.type, protocol: message.protocol };
      if (message.device_authorization_grant) {
        const g = message.device_authorization_grant;
        const grant: Json = {};
        if (g.verification_uri_complete !== undefined) grant["verification_uri_complete"] = g.verification_uri_complete;
        grant["verification_uri"] = g.verification_uri;
        out["device_authorization_grant"] = grant;
      }
      out["device_id"] = message.device_id;
      return out;
    }
    case "m.login.protocol_accepted":
    case "m.login.success":
    case "m.login.declined":
      return { type: message.type };
    case "m.login.failure":
      return message.homeserver === undefined
        ? { type: message.type, reason: message.reason }
        : { type: message.type, reason: message.reason, homeserver: message.homeserver };
    case "m.login.secrets": {
      const out: Json = {
        type: message.type,
        cross_signing: {
          master_key: message.cross_signing.master_key,
          self_signing_key: message.cross_signing.self_signing_key,
          user_signing_key: message.cross_signing.user_signing_key,
        },
      };
      if (message.backup) {
        out["backup"] = {
          algorithm: message.backup.algorithm,
          backup_version: message.backup.backup_version,
          key: message.backup.key,
        };
      }
      return out;
    }
  }
}

// ---- constructors (what the flows send) -----------------------------------------------------------

/** m.login.protocols naming the homeserver by base URL (2025); dialect.ts picks per version. */
export const protocolsMessage = (baseUrl: string, protocols: string[] = [DEVICE_AUTHORIZATION_GRANT]): ProtocolsMessage => ({
  type: "m.login.protocols",
  protocols,
  base_url: baseUrl,
});

export function protocolMessage(deviceId: string, grant: DeviceAuthorizationGrantInfo): ProtocolMessage {
  const info: DeviceAuthorizationGrantInfo = { verification_uri: grant.verification_uri };
  if (grant.verification_uri_complete !== undefined) info.verification_uri_complete = grant.verification_uri_complete;
  return { type: "m.login.protocol", protocol: DEVICE_AUTHORIZATION_GRANT, device_authorization_grant: info, device_id: deviceId };
}

export const failureMessage = (reason: FailureReason, homeserver?: string): FailureMessage =>
  homeserver === undefined ? { type: "m.login.failure", reason } : { type: "m.login.failure", reason, homeserver };

export const secretsMessage = (bundle: SecretsBundle): SecretsMessage => ({ type: "m.login.secrets", ...parseSecretsBundle(bundle, "exported secrets") });
