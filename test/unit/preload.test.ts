// preload/index.ts with a mocked `electron`: exactly one object is exposed, as window.qrLogin, with
// exactly the API's methods; each method invokes its own channel with a copied, plain argument; progress
// listeners get the payload only (never the IpcRendererEvent, whose `sender` is ipcRenderer itself).
import { jest, test, expect, beforeAll, afterAll } from "@jest/globals";

type Fn = (...args: unknown[]) => unknown;
const exposed: [string, unknown][] = [];
const invoked: unknown[][] = [];
const listeners = new Map<string, Set<Fn>>();

const ipcRenderer = {
  invoke: (...args: unknown[]) => {
    invoked.push(args);
    return Promise.resolve({ ok: true });
  },
  on: (ch: string, fn: Fn) => {
    (listeners.get(ch) ?? listeners.set(ch, new Set()).get(ch)!).add(fn);
    return ipcRenderer;
  },
  removeListener: (ch: string, fn: Fn) => {
    listeners.get(ch)?.delete(fn);
    return ipcRenderer;
  },
};

jest.unstable_mockModule("electron", () => ({
  contextBridge: { exposeInMainWorld: (key: string, api: unknown) => exposed.push([key, api]) },
  ipcRenderer,
}));

let api: Record<string, unknown>;
let IPC: Record<string, string>;
let EVENT_CHANNELS: Record<string, string>;
let table: { requests: string[]; events: string[] };
let ACCOUNT_CHANNEL: string;
let SERVER_CHECK_CHANNEL: string;

const savedArgv = process.argv;
afterAll(() => {
  process.argv = savedArgv; // the worker process is shared with other test files
});

beforeAll(async () => {
  process.argv = [...savedArgv];
  process.argv.push("--qr-login-role=existing", "--qr-login-side=scan");
  await import("../../preload/index.js");
  const ipc = await import("../../contract/ipc.js");
  ({ REQUEST_CHANNELS: IPC, PROGRESS_CHANNELS: EVENT_CHANNELS, ACCOUNT_CHANNEL, SERVER_CHECK_CHANNEL } = ipc);
  table = { requests: Object.keys(ipc.REQUESTS), events: Object.keys(ipc.EVENTS) };
  api = exposed[0]![1] as Record<string, unknown>;
});

test("one object, window.qrLogin, with exactly the API methods and no ipcRenderer", () => {
  expect(exposed.map(([k]) => k)).toEqual(["qrLogin"]);
  expect(Object.keys(api).sort()).toEqual(
    ["cancel", "cancelSignIn", "checkServer", "confirmAccount", "getAppInfo", "initial", "onAccount", "onProgress", "onServerCheck", "openSignInPage", "openVerificationUri", "retry", "signIn", "signOut", "start", "submitCheckCode", "submitQr", "submitRecoveryKey"].sort(),
  );
  for (const v of Object.values(api)) expect(v).not.toBe(ipcRenderer);
  // role and side only: nothing about the account comes from the command line (it is visible in `ps`)
  expect(api.initial).toEqual({ role: "existing", side: "scan" });
});

test("the API is the IPC table: one method per request, one subscription per event, and the window's role", () => {
  expect(Object.keys(api).sort()).toEqual([...table.requests, ...table.events, "initial"].sort());
});

test("each method invokes its own channel with a plain copy of its argument", async () => {
  const a = api as unknown as {
    start(o: unknown): Promise<unknown>;
    submitQr(b: Uint8Array): Promise<unknown>;
    submitCheckCode(c: unknown): Promise<unknown>;
    confirmAccount(x: unknown): Promise<unknown>;
    openVerificationUri(): Promise<unknown>;
    cancel(): Promise<unknown>;
    retry(): Promise<unknown>;
    getAppInfo(): Promise<unknown>;
    signIn(h: unknown): Promise<unknown>;
    submitRecoveryKey(k: unknown): Promise<unknown>;
    openSignInPage(): Promise<unknown>;
    cancelSignIn(): Promise<unknown>;
    signOut(): Promise<unknown>;
  };
  const bytes = new Uint8Array([1, 2, 3]);
  await a.start({ role: "new", side: "show", extra: "dropped" });
  await a.submitQr(bytes);
  await a.submitCheckCode("42");
  await a.confirmAccount("yes");
  await a.openVerificationUri();
  await a.cancel();
  await a.retry();
  await a.getAppInfo();
  await a.signIn(42);
  await a.submitRecoveryKey("EsTc LW2K");
  await a.openSignInPage();
  await a.cancelSignIn();
  await a.signOut();
  await a.start({ role: "new", side: "show", homeserver: "matrix.org", extra: 1 });
  expect(invoked.map((c) => c[0])).toEqual([
    IPC.start, IPC.submitQr, IPC.submitCheckCode, IPC.confirmAccount, IPC.openVerificationUri, IPC.cancel, IPC.retry,
    IPC.getAppInfo, IPC.signIn, IPC.submitRecoveryKey, IPC.openSignInPage, IPC.cancelSignIn, IPC.signOut, IPC.start,
  ]);
  expect(invoked[0]![1]).toEqual({ role: "new", side: "show" });
  expect(invoked[8]![1]).toBe("42"); // always a string
  expect(invoked[13]![1]).toEqual({ role: "new", side: "show", homeserver: "matrix.org" });
  expect(invoked[1]![1]).toEqual(bytes);
  expect(invoked[1]![1]).not.toBe(bytes);
  expect(invoked[3]![1]).toBe(false); // anything but `true` is a no
  expect(invoked.slice(4, 8).every((c) => c.length === 1)).toBe(true);
  expect([10, 11, 12].map((i) => invoked[i]!.length)).toEqual([1, 1, 1]);
});

test("progress listeners get the payload only, and unsubscribe removes them", () => {
  const got: unknown[][] = [];
  const off = (api.onProgress as (l: (...a: unknown[]) => void) => () => void)((...a) => got.push(a));
  const channels = Object.values(EVENT_CHANNELS);
  for (const ch of channels) expect(listeners.get(ch)?.size).toBe(1);
  const event = { type: "check_code", flowId: 1, code: "42" };
  for (const fn of listeners.get(channels[0]!)!) fn({ sender: ipcRenderer, senderId: 0 }, event);
  expect(got).toEqual([[event]]);
  off();
  for (const ch of channels) expect(listeners.get(ch)?.size).toBe(0);
});

test("account listeners get the payload only, on the account channel", () => {
  const got: unknown[][] = [];
  const off = (api.onAccount as (l: (...a: unknown[]) => void) => () => void)((...a) => got.push(a));
  expect(listeners.get(ACCOUNT_CHANNEL)?.size).toBe(1);
  const event = { type: "sign_in_state", state: "discovering" };
  for (const fn of listeners.get(ACCOUNT_CHANNEL)!) fn({ sender: ipcRenderer }, event);
  expect(got).toEqual([[event]]);
  off();
  expect(listeners.get(ACCOUNT_CHANNEL)?.size).toBe(0);
});

test("checkServer invokes its own channel with no argument; server-check listeners get the payload only", async () => {
  const before = invoked.length;
  await (api.checkServer as (x?: unknown) => Promise<unknown>)("https://evil.example/");
  expect(invoked.slice(before)).toEqual([[IPC.checkServer]]);
  const got: unknown[][] = [];
  const off = (api.onServerCheck as (l: (...a: unknown[]) => void) => () => void)((...a) => got.push(a));
  expect(listeners.get(SERVER_CHECK_CHANNEL)?.size).toBe(1);
  const event = { type: "running", id: "tls", detail: "x" };
  for (const fn of listeners.get(SERVER_CHECK_CHANNEL)!) fn({ sender: ipcRenderer }, event);
  expect(got).toEqual([[event]]);
  off();
  expect(listeners.get(SERVER_CHECK_CHANNEL)?.size).toBe(0);
});
