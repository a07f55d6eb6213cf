// Wire profiles: the handful of constants where the MSC4388 text and the deployed implementations
// differ (docs/protocol.md "Wire profiles", and the table of differences with its sources there).
// Everything else is identical in both profiles.
//   element-2026 — what vodozemac / matrix-rust-sdk (PR #6173) put on the wire as of mid-2026 (default).
//   msc4388      — the MSC text taken literally.
import { b64encode, concatBytes, utf8Encode } from "./bytes.js";
import { ProtocolError } from "./errors.js";

/** Stable rendezvous endpoint (MSC4388). */
export const RENDEZVOUS_PATH_STABLE = "/_matrix/client/v1/rendezvous";
/** Unstable rendezvous endpoint (MSC4388 "Unstable prefix"). */
export const RENDEZVOUS_PATH_UNSTABLE = "/_matrix/client/unstable/io.element.msc4388/rendezvous";

export type QrPrefix = "MATRIX" | "IO_ELEMENT_MSC4388";
export const QR_PREFIXES: readonly QrPrefix[] = ["MATRIX", "IO_ELEMENT_MSC4388"];

/** HPKE `info` of the primary context (same in every profile). */
export const HPKE_INFO = "MATRIX_QR_CODE_LOGIN";
export const LOGIN_INITIATE_PLAINTEXT = "MATRIX_QR_CODE_LOGIN_INITIATE";
export const LOGIN_OK_PLAINTEXT = "MATRIX_QR_CODE_LOGIN_OK";

export type ProfileName = "element-2026" | "msc4388";

export interface WireProfile {
  readonly name: ProfileName;
  /** Prefix written into generated QR codes (decoding accepts both). */
  readonly qrPrefix: QrPrefix;
  /** Rendezvous API path appended to the homeserver base URL. */
  readonly rendezvousPath: string;
  /** errcode of the rendezvous server's 409 on a stale sequence_token. */
  readonly concurrentWriteErrcode: string;
  /** Exporter context (UTF-8) of the secret behind the response (G→S) context. */
  readonly responseExportLabel: string;
  /** Exporter context of the check code for G's key Gp and S's key Sp (enc). */
  checkCodeExportContext(gp: Uint8Array, sp: Uint8Array): Uint8Array;
}

const CHECKCODE_LABEL = "MATRIX_QR_CODE_LOGIN_CHECKCODE";

const element2026: WireProfile = Object.freeze({
  name: "element-2026",
  qrPrefix: "IO_ELEMENT_MSC4388",
  rendezvousPath: RENDEZVOUS_PATH_UNSTABLE,
  concurrentWriteErrcode: "IO_ELEMENT_MSC4388_CONCURRENT_WRITE",
  // vodozemac: format!("{application_info_prefix}_RESPONSE")
  responseExportLabel: `${HPKE_INFO}_RESPONSE`,
  // vodozemac Role::check_code_info: "|"-separated, keys as unpadded base64, Gp first on both roles.
  checkCodeExportContext: (gp: Uint8Array, sp: Uint8Array) => utf8Encode(`${CHECKCODE_LABEL}|${b64encode(gp)}|${b64encode(sp)}`),
});

const msc4388: WireProfile = Object.freeze({
  name: "msc4388",
  qrPrefix: "MATRIX",
  rendezvousPath: RENDEZVOUS_PATH_STABLE,
  concurrentWriteErrcode: "M_CONCURRENT_WRITE",
  responseExportLabel: `${HPKE_INFO} response`,
  // MSC text: "MATRIX_QR_CODE_LOGIN_CHECKCODE" || Gp || Sp, raw 32-byte keys.
  checkCodeExportContext: (gp: Uint8Array, sp: Uint8Array) => concatBytes(utf8Encode(CHECKCODE_LABEL), gp, sp),
});

export const PROFILES: Readonly<Record<ProfileName, WireProfile>> = Object.freeze({
  "element-2026": element2026,
  msc4388,
});

export const DEFAULT_PROFILE: ProfileName = "element-2026";

export function isProfileName(name: string): name is ProfileName {
  return Object.prototype.hasOwnProperty.call(PROFILES, name);
}

/** The profile called `name` (default profile when omitted); ProtocolError("unknown_profile") otherwise. */
export function getProfile(name: string = DEFAULT_PROFILE): WireProfile {
  if (!isProfileName(name)) {
    throw new ProtocolError("unknown_profile", `unknown wire profile "${name}" (known: ${Object.keys(PROFILES).join(", ")})`);
  }
  return PROFILES[name];
}
