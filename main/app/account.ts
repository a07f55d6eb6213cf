// This app's own account: "Sign in to your account" on the first-run screen, the session kept between
// runs, and the existing device it becomes. The sign-in is the one `qr-login existing-device --login`
// does (main/login/account/browser-sign-in.ts): OAuth 2.0 authorization code + PKCE in the system browser with a
// loopback redirect, then the recovery key, typed once, unlocks the cross-signing and backup secrets.
// Tokens and secrets stay here in main; the renderer gets the user id, the homeserver, how the session
// is kept, and the public authorization URL. A new device signed in by QR becomes this app's account too
// (adoptSignedInClient), so it can then link further devices. What is kept is an AccountSession
// (main/login/account/account-session.ts).
import type { ExistingAccount } from "../login/flows/ports.js";
import type { SignedInMatrixClient } from "../login/matrix/port.js";
import type { BrowserSignInOptions, BrowserSignInStep } from "../login/account/browser-sign-in.js";
import type { AccountSession } from "../login/account/account-session.js";
import type { SignInErrorCode, SignInState, StorageStatus } from "../../contract/account.js";
import type { AccountEvent } from "../../contract/schemas.js";
import { HomeserverInputError, parseHomeserverInput, resolveHomeserver } from "./homeserver-input.js";
import { checkOpenableUrl } from "../login/url-policy.js";

export interface AccountSessionStore {
  storage(): Promise<StorageStatus>;
  save(session: AccountSession): Promise<StorageStatus>;
  load(): Promise<AccountSession | null>;
  clear(): Promise<void>;
}

export interface RestoredAccount {
  account: ExistingAccount;
  close(): void;
}

export interface AccountEnvironment {
  store: AccountSessionStore;
  /** shell.openExternal for the authorization page (only ever called with a URL checkOpenableUrl allowed). */
  openBrowser(url: string): Promise<void>;
  clientName?: string;
  /** Tries of the recovery key before the sign-in gives up (default 3). */
  recoveryKeyAttempts?: number;
  /** How long the browser may take (default 10 minutes: people read consent pages). */
  browserTimeoutMs?: number;
  // The real implementations are loaded on first use (matrix-js-sdk is large); tests may replace them.
  signIn?(opts: BrowserSignInOptions): Promise<AccountSession>;
  resolveHomeserver?(input: string): Promise<string>;
  restore?(session: AccountSession): Promise<RestoredAccount>;
  refresh?(session: AccountSession): Promise<{ session: AccountSession; refreshed: boolean }>;
  exportAccountSession?(session: SignedInMatrixClient): Promise<AccountSession | null>;
  revoke?(session: AccountSession): Promise<void>;
}

/**
 * This app is signed in, but its device is not cross-signed (the keys it was sent did not check out, or
 * did not verify it): it holds no secrets it may pass on, so it must not act as the existing device.
 */
export class AccountNotVerifiedError extends Error {
  override readonly name = "AccountNotVerifiedError";
  constructor(readonly userId: string) {
    super(`${userId} is signed in on this device, but the device is not verified`);
  }
}

/** A request that does not fit the state (ipc.ts passes it on as invalid_request). */
export class AccountRequestError extends Error {
  override readonly name = "AccountRequestError";
  readonly code = "invalid_request";
}

type Emit = (e: AccountEvent) => void;

interface SignInRun {
  abort: AbortController;
  emit: Emit;
  url: string | null;
  /** The recovery key prompt that is open, if any. */
  key: { resolve(key: string): void; reject(err: unknown): void } | null;
}

const STEP_STATE: Record<BrowserSignInStep, SignInState> = { discovering: "discovering", browser: "waiting_for_browser", signed_in: "finishing", unlocking: "unlocking" };

export class AccountController {
  private session: AccountSession | null = null;
  /** A new device signed in by QR that is not cross-signed: shown, never used to link devices, never stored. */
  private unverified: { userId: string; homeserver: string } | null = null;
  private restored: Promise<RestoredAccount> | null = null;
  private status: StorageStatus = "unavailable";
  private saved = false;
  private run: SignInRun | null = null;
  private readonly listeners = new Set<Emit>();

  constructor(private readonly env: AccountEnvironment) {}

  /** Reads the stored session (renewing its access token when it has expired). Call after app ready. */
  async init(): Promise<void> {
    this.status = await this.env.store.storage();
    const stored = await this.env.store.load();
    if (!stored) return;
    try {
      const fresh = await (this.env.refresh ?? defaultRefresh)(stored);
      // Refresh tokens rotate: the old one is spent, so the new pair must be kept at once.
      if (fresh.refreshed) await this.env.store.save(fresh.session);
      this.session = fresh.session;
      this.saved = true;
    } catch {
      // Unreachable homeserver: keep the session and try again when it is used. Refused: forget it.
      if (await isRefused(stored)) await this.env.store.clear();
      else {
        this.session = stored;
        this.saved = true;
      }
    }
  }

  current(): { userId: string; homeserver: string; verified?: false } | null {
    if (this.session) return { userId: this.session.userId, homeserver: this.session.homeserverUrl };
    return this.unverified ? { ...this.unverified, verified: false } : null;
  }

  storage(): StorageStatus {
    return this.status;
  }

  /** Hears every account change (sign-in, adoption, sign-out): main sends them to all windows. */
  onChange(listener: Emit): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The existing-device side of this account (restored, not started: see main/login/account/account-session.ts). Each
   * flow asks for it, so the access token is checked first: account providers such as MAS issue them
   * for minutes only, and a renewed pair must replace the stored one at once (refresh tokens rotate).
   */
  async existingAccount(): Promise<ExistingAccount | null> {
    const current = this.session;
    if (!current) {
      if (this.unverified) throw new AccountNotVerifiedError(this.unverified.userId);
      return null;
    }
    const fresh = await (this.env.refresh ?? defaultRefresh)(current).catch(() => ({ session: current, refreshed: false }));
    if (this.session !== current) return this.session ? this.existingAccount() : null; // signed out or in again meanwhile
    let session = current;
    if (fresh.refreshed) {
      session = fresh.session;
      this.session = session;
      if (this.saved) this.status = await this.env.store.save(session);
      const old = this.restored;
      this.restored = null;
      void old?.then((r) => r.close(), () => undefined);
    }
    this.restored ??= (this.env.restore ?? defaultRestore)(session).catch((err: unknown) => {
      this.restored = null;
      throw err;
    });
    return (await this.restored).account;
  }

  /**
   * Starts "Sign in to your account"; progress, the recovery key prompt and failures (a mistyped
   * address included) come as events to `emit`.
   */
  signIn(input: string, emit: Emit): void {
    if (this.run) throw new AccountRequestError("a sign-in is already running");
    try {
      parseHomeserverInput(input);
    } catch (err) {
      emit({ type: "sign_in_error", code: "invalid_homeserver", message: err instanceof Error ? err.message : "That is not a server address." });
      return;
    }
    const run: SignInRun = { abort: new AbortController(), emit, url: null, key: null };
    this.run = run;
    void this.signInRun(run, input).finally(() => {
      if (this.run === run) this.run = null;
    });
  }

  submitRecoveryKey(key: string): void {
    const prompt = this.run?.key;
    if (!prompt) throw new AccountRequestError("not asking for a recovery key now");
    this.run!.key = null;
    prompt.resolve(key);
  }

  async openSignInPage(): Promise<void> {
    const url = this.run?.url;
    if (!url) throw new AccountRequestError("no sign-in page to open");
    await this.openBrowser(url);
  }

  cancelSignIn(): void {
    const run = this.run;
    if (!run) return;
    run.abort.abort(new Error("cancelled"));
    run.key?.reject(new Error("cancelled"));
    run.key = null;
  }

  /** Forgets the session here and revokes it at the account provider (best effort). */
  async signOut(): Promise<void> {
    const session = this.session;
    this.cancelSignIn();
    this.session = null;
    this.unverified = null;
    this.saved = false;
    const restored = this.restored;
    this.restored = null;
    void restored?.then((r) => r.close(), () => undefined);
    await this.env.store.clear();
    if (session) await (this.env.revoke ?? defaultRevoke)(session).catch(() => undefined);
    this.changed();
  }

  /**
   * A new device signed in by QR: keep it as this app's account when it is cross-signed (it holds the
   * secrets it was sent, checked against the account's published keys). One that is not is shown as
   * "signed in, not verified" and never exports, stores or offers secrets.
   */
  async adoptSignedInClient(s: SignedInMatrixClient, verified: { crossSigned: boolean }): Promise<void> {
    const unverified = (): void => {
      if (this.session) return; // an account signed in otherwise stays
      this.unverified = { userId: s.userId, homeserver: s.homeserverUrl };
      this.changed();
    };
    if (!verified.crossSigned) return unverified();
    const session = await (this.env.exportAccountSession ?? defaultExport)(s).catch(() => null);
    if (!session) return unverified();
    await this.keep(session);
  }

  /** Stops what runs (app quit). */
  close(): void {
    this.cancelSignIn();
    void this.restored?.then((r) => r.close(), () => undefined);
    this.restored = null;
  }

  /** Every page this controller opens goes through the one URL policy first. */
  private openBrowser(url: string): Promise<void> {
    return this.env.openBrowser(checkOpenableUrl(url, "the account provider's authorization page"));
  }

  private async keep(session: AccountSession): Promise<void> {
    const old = this.restored;
    this.restored = null;
    void old?.then((r) => r.close(), () => undefined);
    this.session = session;
    this.unverified = null;
    this.status = await this.env.store.save(session);
    this.saved = this.status === "keychain";
    this.changed();
  }

  private changed(): void {
    const event: AccountEvent = { type: "account", account: this.current(), storage: this.status, saved: this.saved };
    for (const l of this.listeners) l(event);
  }

  private async signInRun(run: SignInRun, input: string): Promise<void> {
    const { emit } = run;
    const signal = run.abort.signal;
    try {
      emit({ type: "sign_in_state", state: "discovering" });
      const homeserver = await (this.env.resolveHomeserver ?? ((i: string) => resolveHomeserver(i, { signal })))(input);
      signal.throwIfAborted();
      const signIn = this.env.signIn ?? (await import("../login/account/browser-sign-in.js")).signInWithBrowser;
      const session = await signIn({
        homeserver,
        signal,
        clientName: this.env.clientName ?? "qr-login desktop",
        timeoutMs: this.env.browserTimeoutMs ?? 600_000,
        recoveryKeyAttempts: this.env.recoveryKeyAttempts ?? 3,
        onStep: (step) => {
          if (!signal.aborted && step !== "browser") emit({ type: "sign_in_state", state: STEP_STATE[step] });
        },
        openUri: async (url) => {
          checkOpenableUrl(url, "the account provider's authorization page");
          run.url = url;
          emit({ type: "sign_in_state", state: "waiting_for_browser" });
          emit({ type: "sign_in_browser", url, opened: false });
          await this.openBrowser(url);
          emit({ type: "sign_in_browser", url, opened: true });
        },
        recoveryKey: ({ retry, attemptsLeft }) =>
          new Promise<string>((resolve, reject) => {
            if (signal.aborted) return reject(signal.reason);
            run.key = { resolve, reject };
            emit({ type: "recovery_key_prompt", retry, attemptsLeft });
          }),
      });
      if (signal.aborted) {
        // Cancelled while the last steps ran: do not leave that session signed in at the provider.
        await (this.env.revoke ?? defaultRevoke)(session).catch(() => undefined);
        return;
      }
      await this.keep(session);
    } catch (err) {
      if (signal.aborted) return; // cancelled by the user: nothing to report
      const { code, message } = signInError(err);
      emit({ type: "sign_in_error", code, message });
    }
  }
}

const UNSAFE_URL = {
  code: "unsafe_url",
  message: "The account provider asked to open a page that is not a secure web address (https), so it was not opened.",
} as const;

/** The renderer's terms for a failed sign-in; messages are ours, never a server's or a stack's. */
export function signInError(err: unknown): { code: SignInErrorCode; message: string } {
  const e = err as { name?: unknown; reason?: unknown; details?: { error?: unknown }; message?: unknown };
  if (err instanceof HomeserverInputError) return { code: "invalid_homeserver", message: err.message };
  if (e?.name === "UnsafeUrlError" || (e?.name === "BrowserSignInError" && e.reason === "unsafe_url")) return UNSAFE_URL;
  if (e?.name === "BrowserSignInError") {
    switch (e.reason) {
      case "browser_failed":
        return { code: "browser_failed", message: "The system browser could not be opened." };
      case "timeout":
        return { code: "timeout", message: "The browser did not come back in time." };
      case "invalid_recovery_key":
        return { code: "invalid_recovery_key", message: "The recovery key did not unlock this account's secrets." };
      case "no_secret_storage":
        return { code: "no_secret_storage", message: "This account has no recovery key set up." };
      case "secrets_unavailable":
        return { code: "secrets_unavailable", message: "The account's secret storage does not hold its cross-signing keys." };
      default:
        return { code: "unknown", message: "The sign-in could not be completed." };
    }
  }
  if (e?.name === "OAuthError") {
    switch (e.reason) {
      case "metadata_unavailable":
      case "metadata_invalid":
      case "registration_unsupported":
        return { code: "homeserver_lacks_support", message: "This homeserver does not offer OAuth 2.0 sign-in." };
      case "network":
        return { code: "homeserver_unreachable", message: "The homeserver could not be reached." };
      case "authorization_failed":
        return e.details?.error === "access_denied" ? { code: "declined", message: "The sign-in was declined in the browser." } : { code: "unknown", message: "The account provider refused the sign-in." };
      default:
        return { code: "unknown", message: "The account provider refused the sign-in." };
    }
  }
  if (isConnectionFailure(err)) return { code: "homeserver_unreachable", message: "The homeserver could not be reached." };
  return { code: "unknown", message: "The sign-in could not be completed." };
}

/**
 * A request that never reached the homeserver, told by the error's type, not its wording: Node's fetch
 * rejects with a TypeError carrying the socket's error as `cause` (a TypeError from a bug has none), and
 * matrix-js-sdk wraps that in its `ConnectionError`.
 */
function isConnectionFailure(err: unknown): boolean {
  if (err instanceof TypeError) return err.cause !== undefined;
  return err instanceof Error && err.name === "ConnectionError";
}

// ---- the real implementations, loaded on first use -------------------------------------------------

async function defaultRefresh(session: AccountSession): Promise<{ session: AccountSession; refreshed: boolean }> {
  const { ensureFreshAccountSession } = await import("../login/account/account-session.js");
  return ensureFreshAccountSession(session);
}

/** The homeserver answered, and said no (as opposed to: could not be reached). */
async function isRefused(session: AccountSession): Promise<boolean> {
  const { checkAccessToken } = await import("../login/account/account-session.js");
  return (await checkAccessToken(session).catch(() => "unknown")) === "refused";
}

async function defaultRestore(session: AccountSession): Promise<RestoredAccount> {
  const [{ restoreAccountClient }, { createExistingDeviceMatrixPort }, { stopClient }] = await Promise.all([
    import("../login/account/account-session.js"),
    import("../login/matrix/port.js"),
    import("../login/matrix/client.js"),
  ]);
  const client = await restoreAccountClient(session);
  return { account: { userId: session.userId, matrix: createExistingDeviceMatrixPort(client), accessToken: session.accessToken }, close: () => stopClient(client) };
}

async function defaultExport(s: SignedInMatrixClient): Promise<AccountSession | null> {
  const [{ exportSecrets }, { newAccountSession }] = await Promise.all([import("../login/matrix/secrets.js"), import("../login/account/account-session.js")]);
  const accessToken = s.client.getAccessToken();
  if (!accessToken) return null;
  const secrets = await exportSecrets(s.client);
  const tokens = s.refreshToken ? { access_token: accessToken, refresh_token: s.refreshToken } : { access_token: accessToken };
  return newAccountSession({ homeserverUrl: s.homeserverUrl, userId: s.userId, deviceId: s.deviceId, clientId: s.clientId, tokens, secrets });
}

async function defaultRevoke(session: AccountSession): Promise<void> {
  if (!session.clientId) return;
  const { discoverAuthMetadata, revokeToken } = await import("../login/oauth/client.js");
  const md = await discoverAuthMetadata(session.homeserverUrl);
  await revokeToken(md, session.clientId, session.refreshToken ?? session.accessToken, session.refreshToken ? "refresh_token" : "access_token");
}
