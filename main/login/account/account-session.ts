// The existing device's account session: what a device signed in to an account keeps to act as the
// existing device later (tokens, its OAuth client, the private cross-signing keys). On the command line
// one JSON file (mode 0600) in the format the development stack's seed writes (main/devstack/seed.ts,
// "qr-login.existing-device.v1"), so `qr-login existing-device --session FILE` runs on either a seeded
// demo device or one signed in with `--login` (browser-sign-in.ts); the app keeps the same content in
// the OS keychain (main/app/credentials.ts).
//
// Restoring: a matrix-js-sdk client with the stored credentials, Rust crypto in memory and the secrets
// imported, which is NEVER started. The existing device's part in MSC4108 needs no Olm identity of its
// own: it exports the secrets (local), asks GET /devices/{id} and /keys/query (plain requests). Not
// starting means no /keys/upload: the Olm account is not persisted (no IndexedDB in Node), and a fresh
// one re-uploading keys for the same device id is refused by real homeservers (one-time key ids clash).
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { MatrixClient } from "matrix-js-sdk";
import { MessageError, parseSecretsBundle, type SecretsBundle } from "../flows/messages.js";
import type { OAuthTokens } from "../flows/ports.js";
import { createMatrixClient, stopClient } from "../matrix/client.js";
import { whoami, WhoamiError } from "../matrix/whoami.js";
import { discoverAuthMetadata, refreshAccessToken } from "../oauth/client.js";

export const ACCOUNT_SESSION_FORMAT = "qr-login.existing-device.v1";

export interface AccountSession {
  format: typeof ACCOUNT_SESSION_FORMAT;
  /** With a trailing slash. */
  homeserverUrl: string;
  userId: string;
  deviceId: string;
  accessToken: string;
  refreshToken?: string;
  /** OAuth client the tokens belong to (needed to refresh them); absent in seeded files. */
  clientId?: string;
  secrets: SecretsBundle;
  createdAt: string;
}

/** The account session of a device that just signed in: its tokens, the OAuth client they belong to, its secrets. */
export function newAccountSession(a: { homeserverUrl: string; userId: string; deviceId: string; clientId: string; tokens: Pick<OAuthTokens, "access_token" | "refresh_token">; secrets: SecretsBundle }): AccountSession {
  const session: AccountSession = {
    format: ACCOUNT_SESSION_FORMAT,
    homeserverUrl: a.homeserverUrl,
    userId: a.userId,
    deviceId: a.deviceId,
    accessToken: a.tokens.access_token,
    clientId: a.clientId,
    secrets: a.secrets,
    createdAt: new Date().toISOString(),
  };
  if (a.tokens.refresh_token) session.refreshToken = a.tokens.refresh_token;
  return session;
}

export class AccountSessionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AccountSessionError";
  }
}

export function parseAccountSession(text: string, source = "session file"): AccountSession {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AccountSessionError(`${source}: not JSON`, { cause: err });
  }
  if (typeof raw !== "object" || raw === null) throw new AccountSessionError(`${source}: not a JSON object`);
  const o = raw as Record<string, unknown>;
  if (o.format !== ACCOUNT_SESSION_FORMAT) throw new AccountSessionError(`${source}: format is not ${ACCOUNT_SESSION_FORMAT}`);
  for (const k of ["homeserverUrl", "userId", "deviceId", "accessToken"] as const) {
    if (typeof o[k] !== "string" || o[k] === "") throw new AccountSessionError(`${source}: missing ${k}`);
  }
  let secrets: SecretsBundle;
  try {
    // The same check as a received m.login.secrets: a bundle that could not be sent is no use kept.
    secrets = parseSecretsBundle(o.secrets, `${source}: secrets`);
  } catch (err) {
    if (err instanceof MessageError) throw new AccountSessionError(`${source}: secrets are not a cross-signing secrets bundle (${err.message})`, { cause: err });
    throw err;
  }
  let homeserverUrl: string;
  try {
    homeserverUrl = new URL(o.homeserverUrl as string).href;
  } catch (err) {
    throw new AccountSessionError(`${source}: homeserverUrl is not a URL`, { cause: err });
  }
  const s: AccountSession = {
    format: ACCOUNT_SESSION_FORMAT,
    homeserverUrl: homeserverUrl.endsWith("/") ? homeserverUrl : `${homeserverUrl}/`,
    userId: o.userId as string,
    deviceId: o.deviceId as string,
    accessToken: o.accessToken as string,
    secrets,
    createdAt: typeof o.createdAt === "string" ? o.createdAt : new Date(0).toISOString(),
  };
  if (typeof o.refreshToken === "string") s.refreshToken = o.refreshToken;
  if (typeof o.clientId === "string") s.clientId = o.clientId;
  return s;
}

export function readAccountSessionFile(file: string): AccountSession {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new AccountSessionError(`cannot read ${file}`, { cause: err });
  }
  return parseAccountSession(text, file);
}

/** Atomic write with mode 0600 (the temporary file is created 0600, then renamed over the old one). */
export function writeAccountSessionFile(file: string, session: AccountSession): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600); // an umask cannot widen it, but an older leftover tmp file could be wider
  renameSync(tmp, file);
}

/** A client (not started, see above) for the account session, whose crypto store holds the secrets. */
export async function restoreAccountClient(session: AccountSession): Promise<MatrixClient> {
  const client = await createMatrixClient({ homeserverUrl: session.homeserverUrl, userId: session.userId, deviceId: session.deviceId, accessToken: session.accessToken });
  try {
    const crypto = client.getCrypto();
    if (!crypto?.importSecretsBundle) throw new AccountSessionError("this crypto stack cannot import a secrets bundle");
    await crypto.importSecretsBundle(session.secrets);
    return client;
  } catch (err) {
    stopClient(client);
    throw err;
  }
}

/**
 * Whether the homeserver still accepts the session's access token (whoami): `refused` is its 401, when
 * the refresh token may renew it. Any other refusal is an AccountSessionError; a homeserver that cannot
 * be reached is fetch's own error, so a caller can tell "no" from "no answer".
 */
export async function checkAccessToken(session: AccountSession, opts: { fetch?: typeof fetch } = {}): Promise<"accepted" | "refused"> {
  try {
    await whoami(session.homeserverUrl, session.accessToken, opts.fetch ? { fetch: opts.fetch } : {});
    return "accepted";
  } catch (err) {
    if (!(err instanceof WhoamiError)) throw err;
    if (err.status === 401) return "refused";
    throw new AccountSessionError(`the homeserver refused the stored session: HTTP ${err.status}`, { cause: err });
  }
}

/**
 * Checks the stored access token and, when the server says it is no longer valid, exchanges the refresh
 * token for new tokens (account providers such as MAS issue access tokens for minutes only). Returns the
 * session to use and whether it changed (the caller rewrites the file: refresh tokens rotate).
 */
export async function ensureFreshAccountSession(session: AccountSession, opts: { fetch?: typeof fetch } = {}): Promise<{ session: AccountSession; refreshed: boolean }> {
  if ((await checkAccessToken(session, opts)) === "accepted") return { session, refreshed: false };
  if (!session.refreshToken || !session.clientId) throw new AccountSessionError("the stored access token is no longer valid and there is no refresh token to renew it: sign in again (--login)");
  const md = await discoverAuthMetadata(session.homeserverUrl, opts.fetch ? { fetch: opts.fetch } : {});
  const tokens = await refreshAccessToken(md, session.clientId, session.refreshToken, opts.fetch ? { fetch: opts.fetch } : {});
  const next: AccountSession = { ...session, accessToken: tokens.access_token };
  if (tokens.refresh_token) next.refreshToken = tokens.refresh_token;
  return { session: next, refreshed: true };
}
