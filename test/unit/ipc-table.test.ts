// The IPC table (contract/ipc.ts) is the one place a request is declared: with the table replaced by one
// that holds a request and an event nobody wrote preload code for, preload/index.ts exposes exactly
// those, invoking the request's channel with a plain copy shaped by its schema and subscribing the
// event's channels. (Main's side: test/unit/ipc.test.ts checks one handler per request of the real
// table; a request without a handler does not compile.)
import { jest, test, expect, beforeAll } from "@jest/globals";
import * as v from "valibot";

type Fn = (...args: unknown[]) => unknown;
const exposed: [string, Record<string, unknown>][] = [];
const invoked: unknown[][] = [];
const listeners = new Map<string, Set<Fn>>();

jest.unstable_mockModule("electron", () => ({
  contextBridge: { exposeInMainWorld: (key: string, api: Record<string, unknown>) => exposed.push([key, api]) },
  ipcRenderer: {
    invoke: (...args: unknown[]) => {
      invoked.push(args);
      return Promise.resolve({ ok: true });
    },
    on: (ch: string, fn: Fn) => void (listeners.get(ch) ?? listeners.set(ch, new Set()).get(ch)!).add(fn),
    removeListener: (ch: string, fn: Fn) => void listeners.get(ch)?.delete(fn),
  },
}));

// A table with one new request (an object, a boolean and bytes) and one new event, and nothing else.
jest.unstable_mockModule("../../contract/ipc.js", () => ({
  REQUESTS: {
    describeDevice: {
      channel: "qr-login:describe-device",
      args: v.strictTuple([v.strictObject({ name: v.string(), primary: v.optional(v.boolean()) }), v.instance(Uint8Array)]),
      result: v.object({ ok: v.literal(true) }),
    },
  },
  EVENTS: { onDevice: { channels: ["qr-login:device-a", "qr-login:device-b"], schema: v.object({ name: v.string() }) } },
}));

let api: Record<string, unknown>;

beforeAll(async () => {
  await import("../../preload/index.js");
  api = exposed[0]![1];
});

test("the preload exposes exactly the table's requests and events", () => {
  expect(exposed.map(([k]) => k)).toEqual(["qrLogin"]);
  expect(Object.keys(api).sort()).toEqual(["describeDevice", "initial", "onDevice"]);
});

test("a new request invokes its channel with a plain copy of its declared arguments", async () => {
  const bytes = new Uint8Array([7, 8]);
  await (api.describeDevice as Fn)({ name: 42, primary: "yes", extra: "dropped" }, bytes, "one too many");
  expect(invoked).toEqual([["qr-login:describe-device", { name: "42", primary: false }, new Uint8Array([7, 8])]]);
  expect(invoked[0]![2]).not.toBe(bytes);
});

test("a new event subscribes each of its channels and hands on the payload only", () => {
  const got: unknown[][] = [];
  const off = (api.onDevice as (l: Fn) => () => void)((...a) => got.push(a));
  for (const ch of ["qr-login:device-a", "qr-login:device-b"]) expect(listeners.get(ch)?.size).toBe(1);
  for (const fn of listeners.get("qr-login:device-b")!) fn({ sender: "ipcRenderer" }, { name: "laptop" });
  expect(got).toEqual([[{ name: "laptop" }]]);
  off();
  for (const ch of ["qr-login:device-a", "qr-login:device-b"]) expect(listeners.get(ch)?.size).toBe(0);
});
