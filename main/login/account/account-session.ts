// The existing device's stored session: one JSON file (mode 0600, it holds an access token and the
// private cross-signing keys) in the format the development stack's seed writes
// (main/devstack/seed.ts, "qr-login.existing-device.v1"), so `qr-login existing-device --session FILE`
// runs on either a seeded demo device or one signed in with `--login` (session-login.ts).
//
// Restoring: a matrix-js-sdk client with the stored credentials, Rust crypto in memory and the secrets
// imported, which is NEVER started. The existing device's part in MSC4108 needs no Olm identity of its
// own: it exports the secrets (local), asks GET /devices/{id} and /keys/query (plain requests). Not
// starting means no /keys/upload: the Olm account is not persisted (no IndexedDB in Node), and a fresh
// one re-uploading keys for the same device id is refused by real homeservers (one-time key ids clash).
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { MatrixClient } from "matrix-js-sdk";
import { createMatrixClient, stopClient } from "../matrix/client.js";
import { isSecretsBundle } from "../matrix/secrets.js";
import { discoverAuthMetadata, refreshAccessToken } from "../oauth/client.js";
import type { SecretsBundle } from "../flows/messages.js";

export const SESSION_FORMAT = "qr-login.existing-device.v1";

export interface StoredSession {
  format: typeof SESSION_FORMAT;
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

export class SessionFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SessionFileError";
  }
}

export function parseSession(text: string, source = "session file"): StoredSession {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SessionFileError(`${source}: not JSON`, { cause: err });
  }
  if (typeof raw !== "object" || raw === null) throw new SessionFileError(`${source}: not a JSON object`);
  const o = raw as Record<string, unknown>;
  if (o.format !== SESSION_FORMAT) throw new SessionFileError(`${source}: format is not ${SESSION_FORMAT}`);
  for (const k of ["homeserverUrl", "userId", "deviceId", "accessToken"] as const) {
    if (typeof o[k] !== "string" || o[k] === "") throw new SessionFileError(`${source}: missing ${k}`);
  }
  if (!isSecretsBundle(o.secrets)) throw new SessionFileError(`${source}: secrets are not a cross-signing secrets bundle`);
  let homeserverUrl: string;
  try {
    homeserverUrl = new URL(o.homeserverUrl as string).href;
  } catch (err) {
    throw new SessionFileError(`${source}: homeserverUrl is not a URL`, { cause: err });
  }
  const s: StoredSession = {
    format: SESSION_FORMAT,
    homeserverUrl: homeserverUrl.endsWith("/") ? homeserverUrl : `${homeserverUrl}/`,
    userId: o.userId as string,
    deviceId: o.deviceId as string,
    accessToken: o.accessToken as string,
    secrets: o.secrets,
    createdAt: typeof o.createdAt === "string" ? o.createdAt : new Date(0).toISOString(),
  };
  if (typeof o.refreshToken === "string") s.refreshToken = o.refreshToken;
  if (typeof o.clientId === "string") s.clientId = o.clientId;
  return s;
}

export function readSessionFile(file: string): StoredSession {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SessionFileError(`cannot read ${file}`, { cause: err });
  }
  return parseSession(text, file);
}

/** Atomic write with mode 0600 (the temporary file is created 0600, then renamed over the old one). */
export function writeSessionFile(file: string, session: StoredSession): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600); // an umask cannot widen it, but an older leftover tmp file could be wider
  renameSync(tmp, file);
}

/** A client (not started, see above) for the stored session whose crypto store holds the secrets. */
export async function restoreSessionClient(session: StoredSession): Promise<MatrixClient> {
  const client = await createMatrixClient({ homeserverUrl: session.homeserverUrl, userId: session.userId, deviceId: session.deviceId, accessToken: session.accessToken });
  try {
    const crypto = client.getCrypto();
    if (!crypto?.importSecretsBundle) throw new SessionFileError("this crypto stack cannot import a secrets bundle");
    await crypto.importSecretsBundle(session.secrets);
    return client;
  } catch (err) {
    stopClient(client);
    throw err;
  }
}

/**
 * Checks the stored access token (whoami) and, when the server says it is no longer valid, exchanges the
 * refresh token for new tokens (account providers such as MAS issue access tokens for minutes only).
 * Returns the session to use and whether it changed (the caller rewrites the file: refresh tokens rotate).
 */
export async function ensureFreshSession(session: StoredSession, opts: { fetch?: typeof fetch } = {}): Promise<{ session: StoredSession; refreshed: boolean }> {
  const f = opts.fetch ?? fetch;
  const res = await f(new URL("_matrix/client/v3/account/whoami", session.homeserverUrl), { headers: { authorization: `Bearer ${session.accessToken}` } });
  await res.arrayBuffer();
  if (res.ok) return { session, refreshed: false };
  if (res.status !== 401) throw new SessionFileError(`the homeserver refused the stored session: HTTP ${res.status}`);
  if (!session.refreshToken || !session.clientId) throw new SessionFileError("the stored access token is no longer valid and there is no refresh token to renew it: sign in again (--login)");
  const md = await discoverAuthMetadata(session.homeserverUrl, opts.fetch ? { fetch: opts.fetch } : {});
  const tokens = await refreshAccessToken(md, session.clientId, session.refreshToken, opts.fetch ? { fetch: opts.fetch } : {});
  const next: StoredSession = { ...session, accessToken: tokens.access_token };
  if (tokens.refresh_token) next.refreshToken = tokens.refresh_token;
  return { session: next, refreshed: true };
}
