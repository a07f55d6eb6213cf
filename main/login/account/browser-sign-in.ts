// The existing device signing in to a real homeserver, so it can later act in MSC4108:
// 1. OAuth 2.0 authorization code + PKCE in the system browser with a loopback redirect (RFC 8252 §7.3:
//    http://127.0.0.1:<random port>/callback, `state` checked; a request with another state is answered
//    400 and ignored, so a local process guessing the port cannot end the sign-in);
// 2. unlock the secrets with the user's recovery key: cross-signing private keys and the backup key come
//    out of secret storage (account data), so exportSecretsBundle() works for the secrets transfer;
// 3. the result is an AccountSession (account-session.ts) for a 0600 file; the Electron app keeps the
//    same content in the OS keychain instead.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { MatrixClient } from "matrix-js-sdk";
import { decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { matrixScopes } from "../../../contract/oauth.js";
import type { OAuthTokens } from "../flows/ports.js";
import { createMatrixClient, startAndWaitForSync, stopClient } from "../matrix/client.js";
import { exportSecrets } from "../matrix/secrets.js";
import { whoami, WhoamiError } from "../matrix/whoami.js";
import * as oauth from "../oauth/client.js";
import { checkOpenableUrl, UnsafeUrlError } from "../url-policy.js";
import { newAccountSession, type AccountSession } from "./account-session.js";

export type BrowserSignInErrorReason =
  | "browser_failed"
  | "timeout"
  | "cancelled"
  | "whoami_failed"
  | "invalid_recovery_key"
  | "no_secret_storage"
  | "secrets_unavailable"
  /** The account provider's authorization page is not a URL this program hands to the OS (url-policy.ts). */
  | "unsafe_url";

export class BrowserSignInError extends Error {
  constructor(readonly reason: BrowserSignInErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BrowserSignInError";
  }
}

/** The steps of a sign-in, for a UI that shows where it is. */
export type BrowserSignInStep = "discovering" | "browser" | "signed_in" | "unlocking";

export interface BrowserSignInOptions {
  homeserver: string;
  /** Open the authorization URL in the user's browser (resolves once started). */
  openUri(url: string): Promise<void>;
  /**
   * Asked once signed in: the user's recovery key (base58, spaces allowed). With recoveryKeyAttempts > 1
   * a key that does not unlock the secret storage is asked for again (`retry`), so a typo does not
   * cost the whole browser sign-in.
   */
  recoveryKey(attempt: { retry: boolean; attemptsLeft: number }): Promise<string>;
  /** How many recovery keys to try before giving up (default 1). */
  recoveryKeyAttempts?: number;
  /** Called with the progress steps, for the CLI's stderr. */
  onProgress?(step: string): void;
  /** Called as each step begins. */
  onStep?(step: BrowserSignInStep): void;
  /** How long to wait for the browser to come back (default 5 minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
  clientName?: string;
}

const CALLBACK_PATH = "/callback";
const DONE_PAGE = "<!doctype html><meta charset=utf-8><title>qr-login</title><p>Signed in. You can close this window and return to qr-login.</p>";
const FAILED_PAGE = "<!doctype html><meta charset=utf-8><title>qr-login</title><p>Sign-in failed. qr-login says why.</p>";

interface Loopback {
  redirectUri: string;
  /** Resolves with the full redirect URL carrying `state` (a response, or an error response). */
  callback: Promise<string>;
  close(): Promise<void>;
}

/** RFC 8252 §7.3 loopback redirect on 127.0.0.1 and an OS-assigned port. */
async function startLoopback(state: string): Promise<Loopback> {
  let deliver!: (url: string) => void;
  const callback = new Promise<string>((resolve) => (deliver = resolve));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method !== "GET" || url.pathname !== CALLBACK_PATH || url.searchParams.get("state") !== state) {
      res.writeHead(400, { "content-type": "text/plain" }).end("not the response this sign-in is waiting for\n");
      return;
    }
    const ok = url.searchParams.has("code");
    res.writeHead(ok ? 200 : 400, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(ok ? DONE_PAGE : FAILED_PAGE);
    deliver(`http://127.0.0.1${req.url ?? "/"}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    redirectUri: `http://127.0.0.1:${port}${CALLBACK_PATH}`,
    callback,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function withDeadline<T>(work: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BrowserSignInError("timeout", "the browser did not come back in time")), ms);
    const onAbort = (): void => reject(new BrowserSignInError("cancelled", "cancelled"));
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
  });
}

/** Signs in through the browser and unlocks the secrets; returns what to store. Revokes the tokens on failure. */
export async function signInWithBrowser(opts: BrowserSignInOptions): Promise<AccountSession> {
  const progress = opts.onProgress ?? (() => {});
  const step = opts.onStep ?? (() => {});
  const homeserverUrl = new URL(opts.homeserver).href.replace(/\/?$/, "/");
  step("discovering");
  progress("discovering the account provider");
  const md = await oauth.discoverAuthMetadata(homeserverUrl, opts.signal ? { signal: opts.signal } : {});
  const state = oauth.randomState();
  const loopback = await startLoopback(state);
  let tokens: OAuthTokens;
  let clientId: string;
  const deviceId = oauth.generateDeviceId();
  try {
    ({ client_id: clientId } = await oauth.registerClient(md, {
      client_name: opts.clientName ?? "qr-login (existing device)",
      client_uri: "https://github.com/matrix-org/matrix-spec-proposals/pull/4108",
      application_type: "native",
      redirect_uris: [loopback.redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
    }));
    const pkce = oauth.createPkce();
    const url = oauth.buildAuthorizationUrl(md, { clientId, redirectUri: loopback.redirectUri, scope: matrixScopes(deviceId), state, codeChallenge: pkce.challenge, responseMode: "query" });
    // The endpoint is the server's choice: neither opened nor shown as a link unless it is a web page.
    try {
      checkOpenableUrl(url, "the account provider's authorization page");
    } catch (err) {
      throw new BrowserSignInError("unsafe_url", (err as Error).message, { cause: err });
    }
    step("browser");
    progress(`opening the browser: ${url}`);
    try {
      await opts.openUri(url);
    } catch (err) {
      if (err instanceof UnsafeUrlError) throw new BrowserSignInError("unsafe_url", err.message, { cause: err });
      throw new BrowserSignInError("browser_failed", `could not open the browser; open ${url} yourself`, { cause: err });
    }
    const redirected = await withDeadline(loopback.callback, opts.timeoutMs ?? 300_000, opts.signal);
    const code = oauth.parseAuthorizationResponse(redirected, state, md);
    tokens = await oauth.exchangeAuthorizationCode(md, { clientId, code, redirectUri: loopback.redirectUri, codeVerifier: pkce.verifier });
  } finally {
    await loopback.close();
  }

  let client: MatrixClient | undefined;
  try {
    step("signed_in");
    let userId: string;
    try {
      ({ userId } = await whoami(homeserverUrl, tokens.access_token));
    } catch (err) {
      if (err instanceof WhoamiError) throw new BrowserSignInError("whoami_failed", err.message, { cause: err });
      throw err;
    }
    progress(`signed in as ${userId} (device ${deviceId})`);
    const keyHolder: { key?: Uint8Array<ArrayBuffer> } = {};
    client = await createMatrixClient(
      { homeserverUrl, userId, deviceId, accessToken: tokens.access_token },
      { getSecretStorageKey: (keyIds) => (keyHolder.key && keyIds[0] ? [keyIds[0], keyHolder.key] : null) },
    );
    await startAndWaitForSync(client);
    await unlockSecrets(client, keyHolder, opts.recoveryKey, Math.max(1, opts.recoveryKeyAttempts ?? 1), progress, step);
    const secrets = await exportSecrets(client).catch((err: unknown) => {
      throw new BrowserSignInError("secrets_unavailable", "the cross-signing keys did not arrive from secret storage", { cause: err });
    });
    return newAccountSession({ homeserverUrl, userId, deviceId, clientId, tokens, secrets });
  } catch (err) {
    // A signed-in device that cannot do its job should not stay behind as a live session.
    await oauth.revokeToken(md, clientId, tokens.refresh_token ?? tokens.access_token, tokens.refresh_token ? "refresh_token" : "access_token").catch(() => undefined);
    throw err;
  } finally {
    if (client) stopClient(client);
  }
}

/** Recovery key → secret storage key → cross-signing keys (bootstrapCrossSigning caches them) and backup key. */
async function unlockSecrets(
  client: MatrixClient,
  holder: { key?: Uint8Array<ArrayBuffer> },
  ask: BrowserSignInOptions["recoveryKey"],
  attempts: number,
  progress: (s: string) => void,
  step: (s: BrowserSignInStep) => void,
): Promise<void> {
  const crypto = client.getCrypto();
  if (!crypto) throw new BrowserSignInError("secrets_unavailable", "no crypto stack");
  const keyId = await client.secretStorage.getDefaultKeyId();
  const keyTuple = keyId ? await client.secretStorage.getKey(keyId) : null;
  if (!keyId || !keyTuple) throw new BrowserSignInError("no_secret_storage", "this account has no secret storage (set up recovery in another client first)");
  let key: Uint8Array<ArrayBuffer> | null = null;
  for (let attempt = 1; key === null; attempt++) {
    const last = attempt >= attempts;
    const typed = await ask({ retry: attempt > 1, attemptsLeft: attempts - attempt + 1 });
    let candidate: Uint8Array<ArrayBuffer>;
    try {
      candidate = decodeRecoveryKey(typed.trim());
    } catch (err) {
      if (last) throw new BrowserSignInError("invalid_recovery_key", "not a recovery key", { cause: err });
      continue;
    }
    if (await client.secretStorage.checkKey(candidate, keyTuple[1])) key = candidate;
    else if (last) throw new BrowserSignInError("invalid_recovery_key", "the recovery key does not unlock this account's secret storage");
  }
  holder.key = key;
  step("unlocking");
  progress("unlocking the secrets with the recovery key");
  // The crypto stack checks imported private keys against the user's public identity: make sure it has
  // fetched that identity (/keys/query) before importing, or the import fails on a fast machine.
  await crypto.userHasCrossSigningKeys(client.getSafeUserId(), true);
  // With the keys in secret storage and none locally, this reads and caches them and signs our device.
  await crypto.bootstrapCrossSigning({});
  const status = await crypto.getCrossSigningStatus();
  if (!status.privateKeysCachedLocally.masterKey || !status.privateKeysCachedLocally.selfSigningKey || !status.privateKeysCachedLocally.userSigningKey) {
    throw new BrowserSignInError("secrets_unavailable", "secret storage does not hold all three cross-signing keys");
  }
  try {
    await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
    await crypto.checkKeyBackupAndEnable();
  } catch (err) {
    // Cross-signing is what MSC4108 needs; a missing backup key only drops the backup from the bundle.
    progress(`no key backup key in secret storage (${err instanceof Error ? err.message : String(err)})`);
  }
}
