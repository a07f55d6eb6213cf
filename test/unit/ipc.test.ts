// main/app/ipc.ts in plain Node: `electron` is mocked (the real module throws without its binary). Every
// message that crosses — handler results and webContents.send — is recorded and searched for secrets.
import { jest, describe, test, expect, beforeAll, beforeEach, afterEach } from "@jest/globals";
import type { ControllerEvent, FlowController, IpcSurface as IpcSurfaceT } from "../../main/app/ipc.js";
import type { DeviceRole } from "../../contract/flow.js";
import type { AccountEvent, ProgressEvent, ServerCheckEvent, StartOptions } from "../../contract/schemas.js";

type Handler = (event: unknown, ...args: unknown[]) => Promise<unknown>;
const handlers = new Map<string, Handler>();

jest.unstable_mockModule("electron", () => ({
  ipcMain: {
    handle: (ch: string, fn: Handler) => {
      if (handlers.has(ch)) throw new Error(`second handler for ${ch}`);
      handlers.set(ch, fn);
    },
    removeHandler: (ch: string) => handlers.delete(ch),
  },
}));

const { IpcSurface, toFlowError } = await import("../../main/app/ipc.js");
const { REQUEST_CHANNELS: IPC, PROGRESS_CHANNELS: EVENT_CHANNELS, ACCOUNT_CHANNEL, SERVER_CHECK_CHANNEL } = await import("../../contract/ipc.js");

const ORIGIN = "app://qr-login";
const SECRETS = ["syt_SECRET_ACCESS_TOKEN", "PRIVATE_KEY_BYTES", "MEGOLM_BACKUP_KEY", "/home/user/secret/path.ts"];

/** Everything that crossed to a renderer. */
let wire: unknown[] = [];

class FakeWebContents {
  destroyed = false;
  private destroyListeners: (() => void)[] = [];
  mainFrame: { processId: number; routingId: number; url: string };
  sent: { channel: string; data: unknown }[] = [];
  constructor(
    readonly id: number,
    url = `${ORIGIN}/index.html`,
  ) {
    this.mainFrame = { processId: 10 + id, routingId: 1, url };
  }
  send(channel: string, data: unknown): void {
    this.sent.push({ channel, data });
    wire.push({ channel, data });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  once(name: string, fn: () => void): void {
    if (name === "destroyed") this.destroyListeners.push(fn);
  }
  destroy(): void {
    this.destroyed = true;
    for (const fn of this.destroyListeners) fn();
  }
}

/** A scripted controller that also carries secrets, and tries to leak them through events and errors. */
class FakeController implements FlowController {
  emit: ((e: ControllerEvent) => void) | null = null;
  calls: [string, unknown][] = [];
  cancelled = 0;
  constructor(readonly role: DeviceRole) {}
  async start(options: StartOptions, emit: (e: ControllerEvent) => void): Promise<void> {
    this.calls.push(["start", options]);
    this.emit = emit;
    emit({ type: "state", state: "starting" });
    if (options.side === "show") {
      emit({ type: "qr", payload: new Uint8Array([0x4d, 0x41, 0x54]), expiresAt: 1_900_000_000_000, privateKey: SECRETS[1] } as unknown as ControllerEvent);
    }
  }
  async submitQr(payload: Uint8Array): Promise<void> {
    this.calls.push(["submitQr", payload]);
    this.emit?.({ type: "check_code", code: "42" });
  }
  async submitCheckCode(code: string): Promise<void> {
    this.calls.push(["submitCheckCode", code]);
    if (code === "13") throw new Error(`crash at ${SECRETS[3]}:12 with ${SECRETS[0]}`);
    if (code === "99") throw Object.assign(new Error("wrong code"), { code: "check_code_mismatch" });
    this.emit?.({ type: "user_code", userCode: "ABCD-EFGH", verificationUri: "http://127.0.0.1:9/device", accessToken: SECRETS[0] } as unknown as ControllerEvent);
    this.emit?.({ type: "secrets", step: "backup_key", status: "done", secretsBundle: { backup: SECRETS[2] } } as unknown as ControllerEvent);
    this.emit?.({ type: "success", userId: "@alice:localhost", deviceId: "NEWDEV", verified: true, tokens: { access: SECRETS[0] } } as unknown as ControllerEvent);
  }
  async confirmAccount(accept: boolean): Promise<void> {
    this.calls.push(["confirmAccount", accept]);
  }
  async openVerificationUri(): Promise<void> {
    this.calls.push(["openVerificationUri", null]);
    throw Object.assign(new Error("blocked"), { flowError: { code: "unable_to_open_verification_uri", message: "browser refused", reason: "unable_to_open_verification_uri", stack: "at secret" } });
  }
  async cancel(): Promise<void> {
    this.cancelled++;
  }
  /** The server this flow used; null: it names none. */
  target: string | null = "https://matrix.example.org/";
  serverToCheck(): string | null {
    return this.target;
  }
}

/** What the window's server check does (each test sets it). */
let serverCheck: (target: string, emit: (e: ServerCheckEvent) => void, signal: AbortSignal) => Promise<void> = async () => undefined;

let surface: IpcSurfaceT;
let controllers: FakeController[];
let rejected: string[];

/** The app's account, scripted, and trying to leak what it holds through its events and app info. */
const account = {
  calls: [] as [string, unknown][],
  signIn(homeserver: string, emit: (e: AccountEvent) => void) {
    account.calls.push(["signIn", homeserver]);
    emit({ type: "sign_in_state", state: "discovering", accessToken: SECRETS[0] } as unknown as AccountEvent);
    emit({ type: "sign_in_browser", url: "https://auth.example.org/authorize?state=s", opened: true });
    emit({ type: "recovery_key_prompt", retry: false, attemptsLeft: 3, recoveryKey: "EsTc LW2K" } as unknown as AccountEvent);
    emit({ type: "account", account: { userId: "@alice:example.org", homeserver: "https://hs.example.org/", session: { secrets: SECRETS[2] } }, storage: "no_keyring", saved: false } as unknown as AccountEvent);
    emit({ type: "sign_in_secrets", secrets: SECRETS[1] } as unknown as AccountEvent);
  },
  submitRecoveryKey(key: string) {
    account.calls.push(["submitRecoveryKey", key]);
  },
  async openSignInPage() {
    account.calls.push(["openSignInPage", null]);
  },
  cancelSignIn() {
    account.calls.push(["cancelSignIn", null]);
  },
  async signOut() {
    account.calls.push(["signOut", null]);
  },
};

function frameEvent(wc: FakeWebContents, frame: { processId: number; routingId: number; url: string } | null = wc.mainFrame) {
  return { sender: wc, senderFrame: frame };
}

async function invoke(wc: FakeWebContents, name: keyof typeof IPC, ...args: unknown[]): Promise<unknown> {
  return invokeWith(frameEvent(wc), name, ...args);
}

async function invokeWith(event: unknown, name: keyof typeof IPC, ...args: unknown[]): Promise<unknown> {
  const h = handlers.get(IPC[name]);
  if (!h) throw new Error(`no handler for ${name}`);
  const result = await h(event, ...args);
  wire.push({ result });
  return result;
}

beforeAll(() => {
  surface = new IpcSurface({
    rendererOrigin: ORIGIN,
    createController: (role) => {
      const c = new FakeController(role);
      controllers.push(c);
      return c;
    },
    onRejected: (what, detail) => rejected.push(`${what}: ${detail}`),
    appInfo: (id) =>
      ({
        label: `Existing device ${id}`,
        account: { userId: "@alice:example.org", homeserver: "https://hs.example.org/" },
        storage: "keychain",
        homeserverHint: null,
        rendezvousConfigured: true,
        dev: null,
        accessToken: SECRETS[0],
      }) as never,
    account,
    checkServer: (target, emit, signal) => serverCheck(target, emit, signal),
  });
  surface.register();
});

beforeEach(() => {
  wire = [];
  controllers = [];
  rejected = [];
});

describe("handlers", () => {
  test("one handler per request, no generic channel", () => {
    expect([...handlers.keys()].sort()).toEqual(Object.values(IPC).sort());
    expect([...handlers.keys()].every((c) => c.startsWith("qr-login:"))).toBe(true);
  });

  test("register twice does not double-register", () => {
    expect(() => surface.register()).not.toThrow();
  });
});

describe("sender checks", () => {
  test("unregistered webContents is refused and nothing reaches a controller", async () => {
    const stranger = new FakeWebContents(900);
    const r = await invoke(stranger, "start", { role: "new", side: "show" });
    expect(r).toEqual({ ok: false, error: { code: "invalid_request", message: "Request refused." } });
    expect(controllers).toHaveLength(0);
    expect(rejected[0]).toMatch(/untrusted sender/);
  });

  test("subframe, foreign origin and missing frame are refused", async () => {
    const wc = new FakeWebContents(1);
    surface.attachWindow(wc as never, "new");
    const sub = { processId: wc.mainFrame.processId, routingId: 7, url: `${ORIGIN}/index.html` };
    expect(await invokeWith(frameEvent(wc, sub), "start", { role: "new", side: "show" })).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    expect(await invokeWith(frameEvent(wc, null), "start", { role: "new", side: "show" })).toMatchObject({ ok: false });
    wc.mainFrame.url = "https://evil.example/index.html";
    expect(await invoke(wc, "start", { role: "new", side: "show" })).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    wc.mainFrame.url = "file:///tmp/index.html";
    expect(await invoke(wc, "start", { role: "new", side: "show" })).toMatchObject({ ok: false });
    expect(controllers).toHaveLength(0);
    // our origin: accepted
    wc.mainFrame.url = `${ORIGIN}/index.html#x`;
    expect(await invoke(wc, "start", { role: "new", side: "show" })).toMatchObject({ ok: true });
    wc.destroy();
  });

  test("a different webContents claiming a registered id is refused", async () => {
    const wc = new FakeWebContents(2);
    surface.attachWindow(wc as never, null);
    const impostor = new FakeWebContents(2);
    expect(await invoke(impostor, "start", { role: "new", side: "show" })).toMatchObject({ ok: false });
    wc.destroy();
  });
});

describe("validation", () => {
  let wc: FakeWebContents;
  beforeEach(() => {
    wc = new FakeWebContents(3);
    surface.attachWindow(wc as never, "existing");
  });
  afterEachDestroy(() => wc);

  test.each([
    [[]],
    [[{ role: "existing" }]],
    [[{ role: "existing", side: "sideways" }]],
    [[{ role: "existing", side: "scan", extra: 1 }]],
    [["existing"]],
    [[{ role: "existing", side: "scan" }, 2]],
  ])("start rejects %j", async (args) => {
    expect(await invoke(wc, "start", ...args)).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    expect(controllers).toHaveLength(0);
  });

  test("a window fixed to a role cannot start the other role", async () => {
    expect(await invoke(wc, "start", { role: "new", side: "scan" })).toMatchObject({ ok: false, error: { code: "invalid_request" } });
  });

  test("requests without a running flow are refused", async () => {
    expect(await invoke(wc, "submitCheckCode", "42")).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    expect(await invoke(wc, "retry")).toMatchObject({ ok: false, error: { code: "invalid_request" } });
  });

  test("submitQr / submitCheckCode / confirmAccount argument checks", async () => {
    await invoke(wc, "start", { role: "existing", side: "scan" });
    const c = controllers[0]!;
    for (const bad of [[], ["4d41"], [[1, 2, 3]], [new Uint8Array(0)], [new Uint8Array(2954)], [new Uint8Array(3), 1]]) {
      expect(await invoke(wc, "submitQr", ...bad)).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    }
    for (const bad of [[], ["4"], ["123"], ["4a"], [42], ["٤٢"], ["42", "43"]]) {
      expect(await invoke(wc, "submitCheckCode", ...bad)).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    }
    for (const bad of [[], ["yes"], [1], [true, true]]) {
      expect(await invoke(wc, "confirmAccount", ...bad)).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    }
    expect(await invoke(wc, "cancel", "now")).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    expect(c.calls.map(([n]) => n)).toEqual(["start"]);
    // valid ones get through, with main's own copy of the bytes
    const bytes = new Uint8Array([1, 2, 3]);
    expect(await invoke(wc, "submitQr", bytes)).toEqual({ ok: true });
    const got = c.calls[1]![1] as Uint8Array;
    expect([...got]).toEqual([1, 2, 3]);
    expect(got).not.toBe(bytes);
    expect(await invoke(wc, "confirmAccount", false)).toEqual({ ok: true });
  });
});

describe("events and errors", () => {
  let wc: FakeWebContents;
  beforeEach(() => {
    wc = new FakeWebContents(4);
    surface.attachWindow(wc as never, null);
  });
  afterEachDestroy(() => wc);

  test("events go to the role's channel, stamped with the flow id, rebuilt from allowed fields", async () => {
    const r = (await invoke(wc, "start", { role: "new", side: "show" })) as { ok: true; flowId: number };
    expect(r.ok).toBe(true);
    expect(wc.sent.map((s) => s.channel)).toEqual([EVENT_CHANNELS.new, EVENT_CHANNELS.new]);
    const qr = wc.sent[1]!.data as ProgressEvent;
    expect(qr).toEqual({ type: "qr", flowId: r.flowId, payload: new Uint8Array([0x4d, 0x41, 0x54]), expiresAt: 1_900_000_000_000 });
    await invoke(wc, "submitCheckCode", "42");
    const types = wc.sent.map((s) => (s.data as ProgressEvent).type);
    expect(types).toEqual(["state", "qr", "user_code", "secrets", "success"]);
    expect(wc.sent[4]!.data).toEqual({ type: "success", flowId: r.flowId, userId: "@alice:localhost", deviceId: "NEWDEV", verified: true });
  });

  test("a malformed event is dropped, not sent", async () => {
    await invoke(wc, "start", { role: "existing", side: "scan" });
    const c = controllers[0]!;
    const before = wc.sent.length;
    c.emit!({ type: "check_code", code: "4" });
    c.emit!({ type: "user_code", userCode: "X", verificationUri: "javascript:alert(1)" });
    c.emit!({ type: "nope" } as unknown as ControllerEvent);
    c.emit!({ type: "protocol", version: "2026" } as unknown as ControllerEvent);
    expect(wc.sent.length).toBe(before);
    expect(rejected.length).toBe(4);
    // A version it knows goes out as is.
    c.emit!({ type: "protocol", version: "2024" });
    expect(wc.sent.at(-1)!.data).toMatchObject({ type: "protocol", version: "2024" });
  });

  test("secrets steps: each step and status the flow reports goes through in order; anything else is dropped", async () => {
    await invoke(wc, "start", { role: "new", side: "show" });
    const c = controllers[0]!;
    const before = wc.sent.length;
    const steps = ["cross_signing_keys", "backup_key", "device_signed", "keys_uploaded", "backup_connected"] as const;
    for (const step of steps) {
      c.emit!({ type: "secrets", step, status: "active" });
      c.emit!({ type: "secrets", step, status: step === "backup_connected" ? "failed" : "done" });
    }
    const sent = wc.sent.slice(before).map((s) => s.data as Extract<ProgressEvent, { type: "secrets" }>);
    expect(sent.map((e) => `${e.step}:${e.status}`)).toEqual(steps.flatMap((step) => [`${step}:active`, `${step}:${step === "backup_connected" ? "failed" : "done"}`]));
    const rejectedBefore = rejected.length;
    // The flows' own event shape, an unknown step or status, and a step carrying key material.
    c.emit!({ type: "secrets_step", step: "device_signed", status: "done" } as unknown as ControllerEvent);
    c.emit!({ type: "secrets", step: "room_keys", status: "done" } as unknown as ControllerEvent);
    c.emit!({ type: "secrets", step: "device_signed", status: "maybe" } as unknown as ControllerEvent);
    c.emit!({ type: "secrets", step: "backup_key", status: "done", key: SECRETS[2] } as unknown as ControllerEvent);
    expect(rejected.length).toBe(rejectedBefore + 3);
    expect(wc.sent.length).toBe(before + 2 * steps.length + 1);
    expect(wc.sent.at(-1)!.data).toEqual({ type: "secrets", flowId: expect.any(Number), step: "backup_key", status: "done" });
  });

  test("retry cancels the old flow; its late events are dropped", async () => {
    await invoke(wc, "start", { role: "existing", side: "scan" });
    const first = controllers[0]!;
    const r2 = (await invoke(wc, "retry")) as { ok: true; flowId: number };
    expect(first.cancelled).toBe(1);
    expect(controllers).toHaveLength(2);
    expect(controllers[1]!.calls[0]).toEqual(["start", { role: "existing", side: "scan" }]);
    const n = wc.sent.length;
    first.emit!({ type: "check_code", code: "11" });
    expect(wc.sent.length).toBe(n);
    controllers[1]!.emit!({ type: "check_code", code: "12" });
    expect(wc.sent.at(-1)!.data).toEqual({ type: "check_code", flowId: r2.flowId, code: "12" });
  });

  test("cancel stops forwarding and refuses further calls until retry", async () => {
    await invoke(wc, "start", { role: "existing", side: "scan" });
    const c = controllers[0]!;
    expect(await invoke(wc, "cancel")).toEqual({ ok: true });
    expect(c.cancelled).toBe(1);
    const n = wc.sent.length;
    c.emit!({ type: "check_code", code: "11" });
    expect(wc.sent.length).toBe(n);
    expect(await invoke(wc, "submitQr", new Uint8Array([1]))).toMatchObject({ ok: false });
    expect(await invoke(wc, "retry")).toMatchObject({ ok: true });
  });

  test("thrown errors become typed values without stack or unvetted messages", async () => {
    await invoke(wc, "start", { role: "new", side: "show" });
    expect(await invoke(wc, "submitCheckCode", "13")).toEqual({ ok: false, error: { code: "unknown", message: "An unexpected error occurred." } });
    expect(await invoke(wc, "submitCheckCode", "99")).toEqual({ ok: false, error: { code: "check_code_mismatch", message: "wrong code" } });
    expect(await invoke(wc, "openVerificationUri")).toEqual({
      ok: false,
      error: { code: "unable_to_open_verification_uri", message: "browser refused", reason: "unable_to_open_verification_uri" },
    });
  });

  test("a closed window cancels its flow and gets no more events", async () => {
    await invoke(wc, "start", { role: "existing", side: "scan" });
    const c = controllers[0]!;
    wc.destroy();
    expect(c.cancelled).toBe(1);
    const n = wc.sent.length;
    c.emit!({ type: "check_code", code: "11" });
    expect(wc.sent.length).toBe(n);
  });
});

describe("nothing secret crosses", () => {
  test("a full scripted run records no secret in any IPC message", async () => {
    const wc = new FakeWebContents(5);
    surface.attachWindow(wc as never, null);
    await invoke(wc, "start", { role: "new", side: "show" });
    await invoke(wc, "submitQr", new Uint8Array([9, 9]));
    await invoke(wc, "submitCheckCode", "42");
    await invoke(wc, "submitCheckCode", "13");
    await invoke(wc, "openVerificationUri");
    await invoke(wc, "confirmAccount", true);
    await invoke(wc, "cancel");
    wc.destroy();
    expect(wire.length).toBeGreaterThan(10);
    const text = JSON.stringify(wire, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v));
    // the run did carry the non-secret data...
    expect(text).toContain("ABCD-EFGH");
    expect(text).toContain("@alice:localhost");
    // ...and none of the secrets the fake controller tried to push through
    for (const s of SECRETS) expect(text).not.toContain(s);
    expect(text).not.toMatch(/accessToken|privateKey|secretsBundle|tokens|stack/);
  });
});

describe("the app's account over IPC", () => {
  let wc: FakeWebContents;
  beforeEach(() => {
    wc = new FakeWebContents(40);
    surface.attachWindow(wc as never, null);
    account.calls = [];
  });
  afterEachDestroy(() => wc);

  test("getAppInfo: the fields the screens use, rebuilt; nothing else", async () => {
    const r = (await invoke(wc, "getAppInfo")) as { ok: boolean; info: Record<string, unknown> };
    expect(r).toEqual({ ok: true, info: { label: "Existing device 40", account: { userId: "@alice:example.org", homeserver: "https://hs.example.org/" }, storage: "keychain", homeserverHint: null, rendezvousConfigured: true, dev: null } });
    expect(await invoke(wc, "getAppInfo", "extra")).toMatchObject({ ok: false, error: { code: "invalid_request" } });
  });

  test("sign-in events reach the window that asked, rebuilt: no token, key or secret rides along; unknown events are dropped", async () => {
    expect(await invoke(wc, "signIn", "matrix.org")).toEqual({ ok: true });
    expect(account.calls).toEqual([["signIn", "matrix.org"]]);
    const events = wc.sent.filter((m) => m.channel === ACCOUNT_CHANNEL).map((m) => m.data);
    expect(events).toEqual([
      { type: "sign_in_state", state: "discovering" },
      { type: "sign_in_browser", url: "https://auth.example.org/authorize?state=s", opened: true },
      { type: "recovery_key_prompt", retry: false, attemptsLeft: 3 },
      { type: "account", account: { userId: "@alice:example.org", homeserver: "https://hs.example.org/" }, storage: "no_keyring", saved: false },
    ]);
    expect(rejected.some((r) => r.startsWith("account event sign_in_secrets"))).toBe(true);
    expect(JSON.stringify(wire) + JSON.stringify(wc.sent)).not.toMatch(/syt_SECRET|PRIVATE_KEY|MEGOLM|EsTc/);
  });

  test.each([
    ["signIn", []],
    ["signIn", [42]],
    ["signIn", ["x".repeat(513)]],
    ["submitRecoveryKey", [""]],
    ["submitRecoveryKey", ["key<script>"]],
    ["submitRecoveryKey", ["a".repeat(201)]],
    ["submitRecoveryKey", [{ key: "abc" }]],
    ["signOut", [true]],
  ] as const)("%s rejects %j before it reaches the account", async (name, args) => {
    expect(await invoke(wc, name, ...args)).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    expect(account.calls).toEqual([]);
  });

  test("the recovery key goes to main as typed; nothing comes back but ok", async () => {
    expect(await invoke(wc, "submitRecoveryKey", "EsTc LW2K PGiF")).toEqual({ ok: true });
    expect(account.calls).toEqual([["submitRecoveryKey", "EsTc LW2K PGiF"]]);
  });

  test("account changes are sent to every window", () => {
    const other = new FakeWebContents(41);
    surface.attachWindow(other as never, "new");
    surface.broadcastAccountEvent({ type: "account", account: null, storage: "keychain", saved: false });
    for (const w of [wc, other]) expect(w.sent.filter((m) => m.channel === ACCOUNT_CHANNEL).map((m) => m.data)).toEqual([{ type: "account", account: null, storage: "keychain", saved: false }]);
    other.destroy();
  });
});

describe("Check this server", () => {
  let wc: FakeWebContents;
  beforeEach(() => {
    wc = new FakeWebContents(7);
    surface.attachWindow(wc as never, null);
  });
  afterEachDestroy(() => wc);
  const checks = () => wc.sent.filter((m) => m.channel === SERVER_CHECK_CHANNEL).map((m) => m.data);

  test("runs against the server the window's flow used; events go to that window, rebuilt: nothing else rides along; malformed ones are dropped", async () => {
    const targets: string[] = [];
    let finished!: () => void;
    const done = new Promise<void>((r) => (finished = r));
    serverCheck = async (target, emit) => {
      targets.push(target);
      emit({ type: "plan", target, checks: [{ id: "tls", title: "TLS", accessToken: SECRETS[0] }], secrets: SECRETS[2] } as unknown as ServerCheckEvent);
      emit({ type: "running", id: "../../etc", detail: "x" });
      emit({ type: "result", check: { id: "tls", status: "fail", summary: "plain http", fix: "use https", stack: SECRETS[3] } } as unknown as ServerCheckEvent);
      emit({ type: "result", check: { id: "tls", status: "broken", summary: "s", fix: null } } as unknown as ServerCheckEvent);
      emit({ type: "done", ok: false, verdict: [{ clients: "Element", status: "fail", summary: "cannot", token: SECRETS[0] }] } as unknown as ServerCheckEvent);
      finished();
    };
    await invoke(wc, "start", { role: "new", side: "show" });
    expect(await invoke(wc, "checkServer", "https://evil.example/")).toMatchObject({ ok: false, error: { code: "invalid_request" } }); // no arguments
    expect(await invoke(wc, "checkServer")).toEqual({ ok: true });
    await done;
    expect(targets).toEqual(["https://matrix.example.org/"]);
    expect(checks()).toEqual([
      { type: "plan", target: "https://matrix.example.org/", checks: [{ id: "tls", title: "TLS" }] },
      { type: "result", check: { id: "tls", status: "fail", summary: "plain http", fix: "use https" } },
      { type: "done", ok: false, verdict: [{ clients: "Element", status: "fail", summary: "cannot" }] },
    ]);
    expect(rejected.filter((r) => r.startsWith("server check event"))).toHaveLength(2);
  });

  test("refused without a flow, or when the flow names no server", async () => {
    expect(await invoke(wc, "checkServer")).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    await invoke(wc, "start", { role: "new", side: "show" });
    controllers[0]!.target = null;
    expect(await invoke(wc, "checkServer")).toMatchObject({ ok: false, error: { code: "invalid_request", message: "checkServer: no server to check" } });
  });

  test("cancel stops a running check; its late events are dropped; a check that throws is one 'failed' event, saying nothing of why", async () => {
    let signal!: AbortSignal;
    let emitLate!: (e: ServerCheckEvent) => void;
    serverCheck = async (_t, emit, s) => {
      signal = s;
      emitLate = emit;
      await new Promise(() => undefined);
    };
    await invoke(wc, "start", { role: "new", side: "show" });
    await invoke(wc, "checkServer");
    expect(signal.aborted).toBe(false);
    await invoke(wc, "cancel");
    expect(signal.aborted).toBe(true);
    emitLate({ type: "running", id: "tls", detail: "late" });
    expect(checks()).toEqual([]);
    serverCheck = async () => {
      throw new Error(`boom at ${SECRETS[3]}`);
    };
    await invoke(wc, "retry");
    await invoke(wc, "checkServer");
    await new Promise((r) => setTimeout(r, 10));
    expect(checks()).toEqual([{ type: "failed", message: "The check could not be completed." }]);
  });

  test("a closed window stops its check", async () => {
    let signal!: AbortSignal;
    serverCheck = async (_t, _e, s) => {
      signal = s;
      await new Promise(() => undefined);
    };
    await invoke(wc, "start", { role: "existing", side: "scan" });
    await invoke(wc, "checkServer");
    wc.destroy();
    expect(signal.aborted).toBe(true);
  });
});

test("toFlowError maps only known codes", () => {
  expect(toFlowError({ code: "expired", message: "m" })).toEqual({ code: "expired", message: "m" });
  expect(toFlowError({ code: "EACCES", message: "/etc/x" })).toEqual({ code: "unknown", message: "An unexpected error occurred." });
  expect(toFlowError("string")).toEqual({ code: "unknown", message: "An unexpected error occurred." });
  expect(toFlowError({ code: "user_cancelled", reason: "not_a_reason", message: "x" })).toEqual({ code: "user_cancelled", message: "x" });
});

function afterEachDestroy(get: () => FakeWebContents): void {
  // jest hook helper: close the window after each test so flows do not leak between tests
  afterEach(() => {
    const wc = get();
    if (!wc.destroyed) wc.destroy();
  });
}
