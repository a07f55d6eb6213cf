// What a window's sign-in flow looks like from the screen: which device and side it is, the coarse
// states, the secrets steps, the versions. Plain constants (no imports), so the renderer bundles them
// without the schemas of contract/schemas.ts, which are built from these lists.

/** Which device this window is. */
export const DEVICE_ROLES = ["new", "existing"] as const;
export type DeviceRole = (typeof DEVICE_ROLES)[number];

/** Which side of the secure channel it plays: shows the QR (G) or scans it (S). */
export const CHANNEL_SIDES = ["show", "scan"] as const;
export type ChannelSide = (typeof CHANNEL_SIDES)[number];

/** Coarse states, for the status line and screen-reader announcements. */
export const FLOW_STATES = [
  "starting", // creating the rendezvous session / opening the camera
  "waiting_for_scan", // QR on screen (G)
  "connecting", // establishing the secure channel
  "waiting_for_other_device", // our part done, the peer is acting
  "completing", // secrets import on the new device
] as const;
export type FlowState = (typeof FLOW_STATES)[number];

/** The secrets-import steps on the new device, in the order the work is done. */
export const SECRETS_STEPS = [
  "cross_signing_keys", // cross-signing private keys received and imported
  "backup_key", // key-backup decryption key received and imported
  "device_signed", // our device signed with the self-signing key
  "keys_uploaded", // device keys + that signature uploaded in one /keys/upload
  "backup_connected", // key backup found and trusted
] as const;
export type SecretsStep = (typeof SECRETS_STEPS)[number];

export const STEP_STATUSES = ["pending", "active", "done", "failed"] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** The versions of sign in with QR: MSC4108 2025 (over MSC4388) and 2024 (what Element's shipped clients speak). */
export const PROTOCOL_VERSIONS = ["2024", "2025"] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

/** Longest homeserver address and recovery key main accepts (a recovery key is 48 base58 characters plus spaces). */
export const MAX_HOMESERVER_INPUT = 512;
export const MAX_RECOVERY_KEY_INPUT = 200;

/** Largest QR payload main accepts (a version-40 QR in byte mode holds 2953 bytes). */
export const MAX_QR_PAYLOAD = 2953;
