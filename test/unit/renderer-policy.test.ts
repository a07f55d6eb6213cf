// The renderer's policies (renderer/policy.ts) in plain Node: no DOM, no timers, no main. update()
// returns the next state and the effects as data, so each policy is a sequence of messages in and
// effects out: regenerating an expired QR (and its pause), the overdue-QR timer, retry falling back to a
// fresh start, a wrong code being a scanning problem, the new device asking for a homeserver.
import { describe, expect, test } from "@jest/globals";
import type { AppInfo, ProgressEvent } from "../../contract/schemas.js";
import { QR_OVERDUE_MS, REGENERATE_PAUSE_MS, update, type Effect, type Msg } from "../../renderer/policy.js";
import { initialState, type ViewState } from "../../renderer/view-model.js";

const APP: AppInfo = { label: "", account: null, storage: "keychain", homeserverHint: null, rendezvousConfigured: true, dev: null };
const PAYLOAD = new Uint8Array([0x4d, 0x41, 0x54]);

/** Feed messages in order; collect every effect. */
function run(s: ViewState, ...msgs: Msg[]): { state: ViewState; effects: Effect[] } {
  const effects: Effect[] = [];
  for (const msg of msgs) {
    const next = update(s, msg);
    s = next.state;
    effects.push(...next.effects);
  }
  return { state: s, effects };
}

const event = (e: ProgressEvent): Msg => ({ type: "event", event: e });
const calls = (effects: Effect[]) => effects.filter((e) => e.type === "call").map((e) => (e.type === "call" ? [e.request, ...e.args] : []));

/** The new device showing QR `expiresAt`, in flow 1. */
function showingQr(expiresAt = 1_000_000): ViewState {
  return run(initialState("new", "show"), { type: "reply", to: "started", result: { ok: true, flowId: 1 } }, event({ type: "qr", flowId: 1, payload: PAYLOAD, expiresAt })).state;
}

describe("the QR on screen", () => {
  test("a qr event arms a timer for 3 s after its expiry", () => {
    const { state, effects } = run(run(initialState("new", "show"), { type: "reply", to: "started", result: { ok: true, flowId: 1 } }).state, event({ type: "qr", flowId: 1, payload: PAYLOAD, expiresAt: 5_000 }));
    expect(state.screen).toMatchObject({ name: "show_qr", expiresAt: 5_000, regenerating: false });
    expect(effects).toEqual([{ type: "at", time: 5_000 + QR_OVERDUE_MS, msg: { type: "qr_overdue", expiresAt: 5_000 } }]);
  });

  test("expiry while it is up: no error screen; a pause, then one retry; a second expiry during the pause changes nothing", () => {
    const expired = event({ type: "error", flowId: 1, error: { code: "expired", message: "rendezvous session expired" } });
    let r = run(showingQr(), expired);
    expect(r.state.screen).toMatchObject({ name: "show_qr", regenerating: true });
    expect(r.effects).toEqual([{ type: "after", ms: REGENERATE_PAUSE_MS, msg: { type: "regenerate_now" } }]);
    expect(run(r.state, expired).effects).toEqual([]);
    r = run(r.state, { type: "regenerate_now" });
    expect(calls(r.effects)).toEqual([["retry"]]);
    // The fresh code replaces the stale one.
    r = run(r.state, { type: "reply", to: "started", result: { ok: true, flowId: 2 } }, event({ type: "qr", flowId: 2, payload: PAYLOAD, expiresAt: 2_000_000 }));
    expect(r.state.screen).toMatchObject({ name: "show_qr", expiresAt: 2_000_000, regenerating: false });
  });

  test("an overdue timer regenerates only the QR it was armed for", () => {
    expect(run(showingQr(1_000), { type: "qr_overdue", expiresAt: 999 }).effects).toEqual([]);
    expect(run(showingQr(1_000), { type: "qr_overdue", expiresAt: 1_000 }).effects).toEqual([{ type: "after", ms: REGENERATE_PAUSE_MS, msg: { type: "regenerate_now" } }]);
    const left = run(showingQr(1_000), event({ type: "state", flowId: 1, state: "connecting" })).state;
    expect(run(left, { type: "qr_overdue", expiresAt: 1_000 }).effects).toEqual([]);
  });

  test("expiry of another flow, or on another screen, is an error like any other", () => {
    const s = run(showingQr(), event({ type: "state", flowId: 1, state: "connecting" }), event({ type: "error", flowId: 1, error: { code: "expired", message: "m" } }));
    expect(s.state.screen).toMatchObject({ name: "error", error: { code: "expired" } });
    expect(s.effects).toEqual([]);
  });
});

describe("retry", () => {
  const onError = (): ViewState => run(showingQr(), event({ type: "state", flowId: 1, state: "connecting" }), event({ type: "error", flowId: 1, error: { code: "network", message: "m" } })).state;

  test("asks main to retry; a window main no longer knows (invalid_request) starts afresh", () => {
    let r = run(onError(), { type: "retry" });
    expect(r.state.screen).toMatchObject({ name: "loading", what: "qr" });
    expect(calls(r.effects)).toEqual([["retry"]]);
    r = run(r.state, { type: "reply", to: "retried", result: { ok: false, error: { code: "invalid_request", message: "retry: nothing to retry" } } });
    expect(calls(r.effects)).toEqual([["start", { role: "new", side: "show" }]]);
    r = run(r.state, { type: "reply", to: "started", result: { ok: true, flowId: 9 } });
    expect(r.state.flowId).toBe(9);
  });

  test("any other refusal is its error screen", () => {
    const r = run(onError(), { type: "retry" }, { type: "reply", to: "retried", result: { ok: false, error: { code: "homeserver_lacks_support", message: "m" } } });
    expect(r.effects).toHaveLength(1); // the retry call only
    expect(r.state.screen).toMatchObject({ name: "error", error: { code: "homeserver_lacks_support" } });
  });
});

describe("scanning", () => {
  const scanning = (): ViewState => run(initialState("existing", "scan"), { type: "scan_now", role: "existing" }).state;

  test("Ready to scan starts the flow; a scanned code goes to main as bytes", () => {
    const r = run(initialState("existing", "scan"), { type: "scan_now", role: "existing" }, { type: "qr_scanned", bytes: PAYLOAD });
    expect(r.state.screen).toMatchObject({ name: "scan", source: null });
    expect(calls(r.effects)).toEqual([["start", { role: "existing", side: "scan" }], ["submitQr", PAYLOAD]]);
  });

  test("a code main says is not a sign-in code is a scanning problem; scanning goes on", () => {
    const r = run(scanning(), { type: "reply", to: "qr_submitted", result: { ok: false, error: { code: "wrong_qr_code", message: "not a login code" } } });
    expect(r.state.screen).toMatchObject({ name: "scan", problem: "Wrong QR code. Use the QR code shown on the other device." });
  });

  test("any other refusal ends on its error screen", () => {
    const r = run(scanning(), { type: "reply", to: "qr_submitted", result: { ok: false, error: { code: "invalid_request", message: "not scanning now" } } });
    expect(r.state.screen).toMatchObject({ name: "error", error: { code: "invalid_request" } });
  });
});

describe("the new device showing a QR", () => {
  const chooser = (app: AppInfo): ViewState => run(initialState(null, null), { type: "reply", to: "app_info", result: { ok: true, info: app } }, { type: "choose_role", role: "new" }).state;

  test("with a rendezvous server configured: starts at once", () => {
    const r = run(chooser(APP), { type: "side_chosen", role: "new", side: "show" });
    expect(r.state.screen).toMatchObject({ name: "loading", what: "qr" });
    expect(calls(r.effects)).toEqual([["start", { role: "new", side: "show" }]]);
  });

  test("without one: asks for the homeserver, refuses an empty one, then starts with it", () => {
    let r = run(chooser({ ...APP, rendezvousConfigured: false }), { type: "side_chosen", role: "new", side: "show" });
    expect(r.state.screen).toMatchObject({ name: "homeserver", purpose: "show_qr" });
    expect(r.effects).toEqual([]);
    r = run(r.state, { type: "homeserver_entered", value: "   " });
    expect(r.state.screen).toMatchObject({ name: "homeserver", problem: "Enter the address of your homeserver, for example matrix.org." });
    expect(r.effects).toEqual([]);
    r = run(r.state, { type: "homeserver_entered", value: " matrix.org " });
    expect(calls(r.effects)).toEqual([["start", { role: "new", side: "show", homeserver: "matrix.org" }]]);
  });
});

describe("the app's account", () => {
  test("boot asks for the app info, and starts a window fixed to show a QR", () => {
    expect(calls(run(initialState(null, null), { type: "boot" }).effects)).toEqual([["getAppInfo"]]);
    expect(calls(run(initialState("existing", "show"), { type: "boot" }).effects)).toEqual([["getAppInfo"], ["start", { role: "existing", side: "show" }]]);
  });

  test("an account change reloads the app info (the window label names the account); other account events do not", () => {
    expect(calls(run(initialState(null, null), { type: "account_event", event: { type: "account", account: null, storage: "keychain", saved: false } }).effects)).toEqual([["getAppInfo"]]);
    expect(run(initialState(null, null), { type: "account_event", event: { type: "sign_in_state", state: "discovering" } }).effects).toEqual([]);
  });

  test("a recovery key that cannot be one never reaches main", () => {
    const s = run(initialState(null, null), { type: "want_sign_in" }, { type: "homeserver_entered", value: "matrix.org" }, { type: "account_event", event: { type: "recovery_key_prompt", retry: false, attemptsLeft: 3 } });
    expect(calls(s.effects)).toEqual([["signIn", "matrix.org"]]);
    expect(run(s.state, { type: "recovery_key_entered", value: "EsTc LW2K" })).toMatchObject({ effects: [], state: { screen: { name: "recovery_key", problem: expect.stringMatching(/not a recovery key/) } } });
    const key = "EsTc LW2K PGiF 8h3j Kr9c 2YxQ wz7D hM1s Nb6V qTf4 Ua5e Rg2B";
    expect(calls(run(s.state, { type: "recovery_key_entered", value: key }).effects)).toEqual([["submitRecoveryKey", key]]);
  });
});

describe("confirming the account and leaving", () => {
  test("No, cancel: tells main no, then cancels the flow, then back to the start", () => {
    let r = run(showingQr(), { type: "account_confirmed", accept: false });
    expect(calls(r.effects)).toEqual([["confirmAccount", false]]);
    r = run(r.state, { type: "reply", to: "account_declined", result: { ok: true } });
    expect(calls(r.effects)).toEqual([["cancel"]]);
    r = run(r.state, { type: "reply", to: "cancelled", result: { ok: true } });
    expect(r.state.screen).toEqual({ name: "choose_side", role: "new" });
  });

  test("Check this server from an error; a check that cannot start says why; Back cancels it first", () => {
    const onError = run(showingQr(), event({ type: "state", flowId: 1, state: "connecting" }), event({ type: "error", flowId: 1, error: { code: "network", message: "m", checkServer: true } })).state;
    let r = run(onError, { type: "check_server" });
    expect(r.state.screen).toMatchObject({ name: "server_check", done: false });
    expect(calls(r.effects)).toEqual([["checkServer"]]);
    expect(run(r.state, { type: "reply", to: "server_check_started", result: { ok: false, error: { code: "invalid_request", message: "" } } }).state.screen).toMatchObject({ failed: "The check could not be started." });
    r = run(r.state, { type: "leave_server_check" });
    expect(calls(r.effects)).toEqual([["cancel"]]);
    expect(run(r.state, { type: "reply", to: "server_check_left", result: { ok: true } }).state.screen).toMatchObject({ name: "error", error: { code: "network" } });
  });
});
