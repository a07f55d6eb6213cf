// The names of OAuth 2.0 as Matrix uses it for sign in with QR, which the client (main/login), the
// deployment checks (main/doctor) and the development homeserver (server/devhome) must spell alike: the
// device authorization grant (RFC 8628, MSC4341) and the Matrix scopes (MSC2967, Matrix spec "OAuth 2.0
// API"). Here because the servers may import values from contract/ but not from main/login.
//
// This file imports nothing.

/** The grant type of the device authorization grant (RFC 8628 §3.4). */
export const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

/** The stable Matrix scopes, and MSC2967's unstable ones, which mean the same and must not be mixed. */
export const SCOPE_PREFIXES = {
  stable: "urn:matrix:client:",
  unstable: "urn:matrix:org.matrix.msc2967.client:",
} as const;
export type ScopeFlavour = keyof typeof SCOPE_PREFIXES;

/** `urn:matrix:client:api:* urn:matrix:client:device:<id>` (or the unstable form): the whole API, bound to one device. */
export function matrixScopes(deviceId: string, flavour: ScopeFlavour = "stable"): string[] {
  const prefix = SCOPE_PREFIXES[flavour];
  return [`${prefix}api:*`, `${prefix}device:${deviceId}`];
}

/**
 * The authorization server metadata offers the device authorization grant (MSC4341): the grant type
 * and its endpoint. Takes any metadata, validated or not (the deployment checks read raw documents).
 */
export function supportsDeviceGrant(metadata: { readonly grant_types_supported?: unknown; readonly device_authorization_endpoint?: unknown }): boolean {
  return Array.isArray(metadata.grant_types_supported)
    && metadata.grant_types_supported.includes(DEVICE_CODE_GRANT)
    && typeof metadata.device_authorization_endpoint === "string";
}
