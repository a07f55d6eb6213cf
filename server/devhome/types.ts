// Contracts between the two halves of the development homeserver: the OAuth 2.0 authorization server
// (server/devhome/oauth/) issues and verifies tokens; the Client-Server API (server/devhome/cs/) owns
// devices and keys. Neither half imports the other's internals, only these interfaces.

/** What a verified access token grants. `scopes` are the token's scopes as issued (stable or unstable form). */
export interface TokenInfo {
  userId: string;
  deviceId: string;
  scopes: string[];
}

/** Implemented by the OAuth half; used by the CS API to authenticate every request. */
export interface DevhomeAuth {
  /** The token's owner and device, or null for an unknown, expired, revoked or non-device token. */
  verifyAccessToken(token: string): Promise<TokenInfo | null>;
  /** Issues a device-scoped token without any browser step (seeding and tests). Creates the device. */
  issueDeviceToken(o: { userId: string; deviceId: string; clientName?: string }): Promise<{
    access_token: string;
    refresh_token?: string;
    expires_in?: number;
  }>;
  /** Revokes every access and refresh token of that device (the CS API calls it on DELETE /devices/{id}). */
  revokeDeviceTokens(userId: string, deviceId: string): Promise<void>;
}

/** Implemented by the CS half. The OAuth half calls it whenever it issues a token for a device scope,
 *  so the device exists as soon as its token does (MAS upserts the device synchronously too). */
export interface DeviceRegistry {
  ensureDevice(userId: string, deviceId: string, displayName?: string): Promise<void>;
}

// The CS half's entry point (server/devhome/cs/index.ts):
//   const cs = createCsApi({ db, serverName, auth, crossSigningResetUrl?, unstableFeatures? });
//   await app.register(cs.plugin);   // routes under /_matrix/client, own 404 (M_UNRECOGNIZED), errors, body parser
//   cs.devices                       // the DeviceRegistry to hand to the OAuth half
//   cs.allowCrossSigningReset(user)  // approve replacing an existing cross-signing identity for 10 minutes
// keys/device_signing/upload needs no UIA for a user's first identity or an identical re-upload; replacing
// keys answers 401 with UIA flows `m.oauth` / `org.matrix.cross_signing_reset` (as Synapse + MAS) until approved.
