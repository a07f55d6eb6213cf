// main/app/account.ts with its collaborators replaced: what the app does with its own session (kept,
// renewed, forgotten), the sign-in's events and their failure mapping, cancelling, and adopting a new
// device signed in by QR. The real sign-in path (main/login/account/browser-sign-in.ts against the devhome) runs in
// test/ui/first-run.test.ts.
import { describe, test, expect } from "@jest/globals";
import { AccountController, AccountNotVerifiedError, signInError, type AccountEnvironment, type AccountSessionStore } from "../../main/app/account.js";
import { BrowserSignInError, type BrowserSignInOptions } from "../../main/login/account/browser-sign-in.js";
import { OAuthError } from "../../main/login/flows/ports.js";
import { ACCOUNT_SESSION_FORMAT, type AccountSession } from "../../main/login/account/account-session.js";
import type { StorageStatus } from "../../contract/account.js";
import type { AccountEvent } from "../../contract/schemas.js";
import { fakeSecrets } from "./login-fakes.js";

function session(over: Partial<AccountSession> = {}): AccountSession {
  return { format: ACCOUNT_SESSION_FORMAT, homeserverUrl: "https://hs.example.org/", userId: "@alice:example.org", deviceId: "APPDEVICE1", accessToken: "at-1", refreshToken: "rt-1", clientId: "c", secrets: fakeSecrets(), createdAt: "2026-01-01T00:00:00.000Z", ...over };
}

class MemoryStore implements AccountSessionStore {
  saved: AccountSession | null;
  saves = 0;
  constructor(
    initial: AccountSession | null = null,
    private readonly status: StorageStatus = "keychain",
  ) {
    this.saved = initial;
  }
  async storage() {
    return this.status;
  }
  async save(s: AccountSession) {
    this.saves++;
    if (this.status === "keychain") this.saved = s;
    return this.status;
  }
  async load() {
    return this.status === "keychain" ? this.saved : null;
  }
  async clear() {
    this.saved = null;
  }
}

function env(over: Partial<AccountEnvironment> & { store: AccountSessionStore }): AccountEnvironment & { opened: string[]; restored: AccountSession[]; closed: number; revoked: AccountSession[] } {
  const e = {
    opened: [] as string[],
    restored: [] as AccountSession[],
    closed: 0,
    revoked: [] as AccountSession[],
    openBrowser: async (url: string) => {
      e.opened.push(url);
    },
    resolveHomeserver: async (i: string) => `https://${i.replace(/^https?:\/\//, "").replace(/\/$/, "")}/`,
    refresh: async (s: AccountSession) => ({ session: s, refreshed: false }),
    restore: async (s: AccountSession) => {
      e.restored.push(s);
      return { account: { userId: s.userId, matrix: { baseUrl: s.homeserverUrl } as never, accessToken: s.accessToken }, close: () => void e.closed++ };
    },
    revoke: async (s: AccountSession) => {
      e.revoked.push(s);
    },
    ...over,
  };
  return e;
}

function recorder() {
  const events: AccountEvent[] = [];
  const next = async <T extends AccountEvent["type"]>(type: T): Promise<Extract<AccountEvent, { type: T }>> => {
    for (let i = 0; i < 200; i++) {
      const hit = events.find((e) => e.type === type);
      if (hit) {
        events.splice(events.indexOf(hit), 1);
        return hit as Extract<AccountEvent, { type: T }>;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no ${type}: ${JSON.stringify(events)}`);
  };
  return { events, emit: (e: AccountEvent) => void events.push(e), next };
}

describe("the kept session", () => {
  test("start-up renews an expired access token and keeps the rotated pair at once", async () => {
    const store = new MemoryStore(session());
    const e = env({ store, refresh: async (s) => ({ session: { ...s, accessToken: "at-2", refreshToken: "rt-2" }, refreshed: true }) });
    const a = new AccountController(e);
    await a.init();
    expect(a.current()).toEqual({ userId: "@alice:example.org", homeserver: "https://hs.example.org/" });
    expect(store.saved?.refreshToken).toBe("rt-2");
  });

  test("a session whose homeserver cannot be reached (to renew it) is kept for later", async () => {
    const refused = new MemoryStore(session({ homeserverUrl: "http://127.0.0.1:9/" }));
    // refresh fails and the homeserver is unreachable (port 9): kept for later
    const a = new AccountController(env({ store: refused, refresh: async () => Promise.reject(new Error("offline")) }));
    await a.init();
    expect(a.current()).not.toBeNull();
    expect(refused.saved).not.toBeNull();
  });

  test("each flow gets a fresh token: a renewal re-saves and restores the account anew", async () => {
    const store = new MemoryStore(session());
    let renew = false;
    const e = env({ store, refresh: async (s) => (renew ? { session: { ...s, accessToken: "at-3" }, refreshed: true } : { session: s, refreshed: false }) });
    const a = new AccountController(e);
    await a.init();
    expect((await a.existingAccount())?.accessToken).toBe("at-1");
    expect((await a.existingAccount())?.accessToken).toBe("at-1");
    expect(e.restored).toHaveLength(1); // restored once while the token holds
    renew = true;
    expect((await a.existingAccount())?.accessToken).toBe("at-3");
    expect(e.restored).toHaveLength(2);
    expect(e.closed).toBe(1); // the old client stopped
    expect(store.saved?.accessToken).toBe("at-3");
  });
});

describe("Sign in to your account", () => {
  function fakeSignIn(result: AccountSession | Error, opts: { keyAttempts?: string[]; authUrl?: string } = {}) {
    const seen: { typed: string[]; options: BrowserSignInOptions | null } = { typed: [], options: null };
    const signIn = async (o: BrowserSignInOptions): Promise<AccountSession> => {
      seen.options = o;
      o.onStep?.("discovering");
      await o.openUri(opts.authUrl ?? "https://auth.example.org/authorize?state=s1");
      o.onStep?.("signed_in");
      for (let attempt = 1; attempt <= (opts.keyAttempts?.length ?? 1); attempt++) {
        seen.typed.push(await o.recoveryKey({ retry: attempt > 1, attemptsLeft: 3 - attempt + 1 }));
      }
      o.onStep?.("unlocking");
      if (result instanceof Error) throw result;
      return result;
    };
    return { seen, signIn };
  }

  test("events in order; the recovery key is asked again after a wrong one; the session is kept and announced", async () => {
    const store = new MemoryStore();
    const { seen, signIn } = fakeSignIn(session(), { keyAttempts: ["wrong", "right"] });
    const e = env({ store, signIn });
    const a = new AccountController(e);
    await a.init();
    const changes: AccountEvent[] = [];
    a.onChange((x) => changes.push(x));
    const r = recorder();
    a.signIn("hs.example.org", r.emit);
    expect(await r.next("sign_in_state")).toEqual({ type: "sign_in_state", state: "discovering" });
    expect(await r.next("sign_in_browser")).toEqual({ type: "sign_in_browser", url: "https://auth.example.org/authorize?state=s1", opened: false });
    expect(await r.next("sign_in_browser")).toMatchObject({ opened: true });
    expect(e.opened).toEqual(["https://auth.example.org/authorize?state=s1"]);
    await a.openSignInPage();
    expect(e.opened).toHaveLength(2);
    expect(await r.next("recovery_key_prompt")).toEqual({ type: "recovery_key_prompt", retry: false, attemptsLeft: 3 });
    a.submitRecoveryKey("wrong");
    expect(await r.next("recovery_key_prompt")).toEqual({ type: "recovery_key_prompt", retry: true, attemptsLeft: 2 });
    a.submitRecoveryKey("right");
    for (let i = 0; i < 100 && changes.length === 0; i++) await new Promise((res) => setTimeout(res, 5));
    expect(seen.typed).toEqual(["wrong", "right"]);
    expect(seen.options).toMatchObject({ homeserver: "https://hs.example.org/", recoveryKeyAttempts: 3 });
    expect(changes).toEqual([{ type: "account", account: { userId: "@alice:example.org", homeserver: "https://hs.example.org/" }, storage: "keychain", saved: true }]);
    expect(store.saved?.userId).toBe("@alice:example.org");
    expect(() => a.submitRecoveryKey("late")).toThrow(/not asking/);
  });

  test.each(["smb://evil.example/share/x.exe", "file:///etc/passwd", "http://evil.example/authorize", "javascript:alert(1)", "https://user:pw@auth.example.org/"])(
    "an authorization page at %s is neither opened nor shown: the sign-in ends with unsafe_url",
    async (authUrl) => {
      const store = new MemoryStore();
      const e = env({ store, signIn: fakeSignIn(session(), { authUrl }).signIn });
      const a = new AccountController(e);
      const r = recorder();
      a.signIn("hs.example.org", r.emit);
      expect(await r.next("sign_in_error")).toMatchObject({ code: "unsafe_url", message: expect.stringContaining("not a secure web address") });
      expect(e.opened).toEqual([]);
      expect(r.events.filter((x) => x.type === "sign_in_browser")).toEqual([]);
      await expect(a.openSignInPage()).rejects.toThrow(/no sign-in page/);
      expect(a.current()).toBeNull();
    },
  );

  test("signInError: the browser sign-in's refusal is the same unsafe_url", () => {
    expect(signInError(Object.assign(new Error("x"), { name: "BrowserSignInError", reason: "unsafe_url" }))).toMatchObject({ code: "unsafe_url" });
  });

  test("without a keyring the session is not written, and the change says so", async () => {
    const store = new MemoryStore(null, "no_keyring");
    const a = new AccountController(env({ store, signIn: fakeSignIn(session()).signIn }));
    await a.init();
    const changes: AccountEvent[] = [];
    a.onChange((x) => changes.push(x));
    const r = recorder();
    a.signIn("hs.example.org", r.emit);
    await r.next("recovery_key_prompt");
    a.submitRecoveryKey("key");
    for (let i = 0; i < 100 && changes.length === 0; i++) await new Promise((res) => setTimeout(res, 5));
    expect(changes[0]).toMatchObject({ storage: "no_keyring", saved: false });
    expect(store.saved).toBeNull();
    expect(a.current()?.userId).toBe("@alice:example.org"); // signed in until quit
  });

  test("a mistyped address is an event, not a thrown call; a second sign-in at once is refused", async () => {
    const a = new AccountController(env({ store: new MemoryStore(), signIn: fakeSignIn(session()).signIn }));
    const r = recorder();
    a.signIn("http://plain.example.org", r.emit);
    expect(await r.next("sign_in_error")).toMatchObject({ code: "invalid_homeserver" });
    a.signIn("hs.example.org", r.emit);
    expect(() => a.signIn("hs.example.org", r.emit)).toThrow(/already running/);
    a.cancelSignIn();
  });

  test("cancelled at the recovery key: no error event, nothing kept", async () => {
    const store = new MemoryStore();
    const a = new AccountController(env({ store, signIn: fakeSignIn(session()).signIn }));
    const r = recorder();
    a.signIn("hs.example.org", r.emit);
    await r.next("recovery_key_prompt");
    a.cancelSignIn();
    await new Promise((res) => setTimeout(res, 30));
    expect(r.events.filter((e) => e.type === "sign_in_error")).toEqual([]);
    expect(store.saved).toBeNull();
    expect(a.current()).toBeNull();
  });

  test("cancelled while the last steps ran: the session it still got is revoked, not kept", async () => {
    const store = new MemoryStore();
    let finish!: () => void;
    const late = session({ accessToken: "at-late" });
    const e = env({
      store,
      signIn: async (o) => {
        await o.openUri("https://auth.example.org/authorize");
        await new Promise<void>((res) => (finish = res));
        return late;
      },
    });
    const a = new AccountController(e);
    const r = recorder();
    a.signIn("hs.example.org", r.emit);
    await r.next("sign_in_browser");
    for (let i = 0; i < 100 && !finish; i++) await new Promise((res) => setTimeout(res, 5));
    a.cancelSignIn();
    finish();
    for (let i = 0; i < 100 && e.revoked.length === 0; i++) await new Promise((res) => setTimeout(res, 5));
    expect(e.revoked).toEqual([late]);
    expect(a.current()).toBeNull();
  });

  test.each([
    [new BrowserSignInError("invalid_recovery_key", "x"), "invalid_recovery_key"],
    [new BrowserSignInError("no_secret_storage", "x"), "no_secret_storage"],
    [new BrowserSignInError("timeout", "x"), "timeout"],
    [new BrowserSignInError("browser_failed", "x"), "browser_failed"],
    [new OAuthError("metadata_unavailable", "no metadata"), "homeserver_lacks_support"],
    [new OAuthError("network", "down"), "homeserver_unreachable"],
    [new OAuthError("authorization_failed", "no", { error: "access_denied" }), "declined"],
    // Node's fetch rejects with a TypeError that carries the socket's error as its cause.
    [new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8008"), { code: "ECONNREFUSED" }) }), "homeserver_unreachable"],
    // matrix-js-sdk wraps the same failure in its ConnectionError.
    [Object.defineProperty(new Error("fetch failed: connect ECONNREFUSED"), "name", { value: "ConnectionError" }), "homeserver_unreachable"],
    // A programming error that happens to mention fetch is not a network failure.
    [new TypeError("Cannot read properties of undefined (reading 'fetch')"), "unknown"],
    [new Error("/home/user/secret/path: EACCES"), "unknown"],
  ] as const)("%p → %s, in our own words only", (err, code) => {
    const r = signInError(err);
    expect(r.code).toBe(code);
    expect(r.message).not.toMatch(/\/home|EACCES|no metadata|down/);
  });
});

const QR_SESSION = { userId: "@alice:example.org", deviceId: "QRDEVICE01", homeserverUrl: "https://hs.example.org/" } as never;

describe("the account changes", () => {
  test("a new device signed in by QR becomes the account (when its secrets can be exported)", async () => {
    const store = new MemoryStore();
    const adopted = session({ deviceId: "QRDEVICE01" });
    const a = new AccountController(env({ store, exportAccountSession: async () => adopted }));
    await a.init();
    const changes: AccountEvent[] = [];
    a.onChange((x) => changes.push(x));
    await a.adoptSignedInClient(QR_SESSION, { crossSigned: true });
    expect(store.saved?.deviceId).toBe("QRDEVICE01");
    expect(changes).toHaveLength(1);
    // Cross-signed, but the secrets cannot be exported: signed in, not verified (below).
    const none = new AccountController(env({ store: new MemoryStore(), exportAccountSession: async () => Promise.reject(new Error("no cross-signing keys")) }));
    await none.adoptSignedInClient(QR_SESSION, { crossSigned: true });
    expect(none.current()).toEqual({ userId: "@alice:example.org", homeserver: "https://hs.example.org/", verified: false });
    await expect(none.existingAccount()).rejects.toBeInstanceOf(AccountNotVerifiedError);
  });

  test("a new device that is not cross-signed: shown signed in, not verified; its secrets are never exported, stored or offered", async () => {
    const store = new MemoryStore();
    let exported = 0;
    const a = new AccountController(env({ store, exportAccountSession: async () => (exported++, session({ deviceId: "QRDEVICE01" })) }));
    await a.init();
    const changes: AccountEvent[] = [];
    a.onChange((x) => changes.push(x));
    await a.adoptSignedInClient(QR_SESSION, { crossSigned: false });
    expect(exported).toBe(0);
    expect(store.saves).toBe(0);
    expect(changes).toEqual([{ type: "account", account: { userId: "@alice:example.org", homeserver: "https://hs.example.org/", verified: false }, storage: "keychain", saved: false }]);
    // The existing-device role asks for the account: refused, with who is signed in for the screen.
    await expect(a.existingAccount()).rejects.toMatchObject({ name: "AccountNotVerifiedError", userId: "@alice:example.org" });
    await a.signOut();
    expect(a.current()).toBeNull();
    expect(await a.existingAccount()).toBeNull();
  });

  test("sign out forgets the session here and revokes it there", async () => {
    const store = new MemoryStore(session());
    const e = env({ store });
    const a = new AccountController(e);
    await a.init();
    await a.existingAccount();
    const changes: AccountEvent[] = [];
    a.onChange((x) => changes.push(x));
    await a.signOut();
    expect(store.saved).toBeNull();
    expect(e.revoked.map((s) => s.accessToken)).toEqual(["at-1"]);
    expect(changes).toEqual([{ type: "account", account: null, storage: "keychain", saved: false }]);
    expect(await a.existingAccount()).toBeNull();
    await new Promise((res) => setTimeout(res, 10));
    expect(e.closed).toBe(1);
  });
});
