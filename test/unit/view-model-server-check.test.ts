// The "Check this server" screen's state (renderer/server-check-model.ts through view-model.ts): only
// from an error screen, rows from the plan, each row's state from the events, an announcement when it
// ends (never per row: that would flood a screen reader), Back to the same error.
import { expect, test } from "@jest/globals";
import { initialState, reduce, type ViewState } from "../../renderer/view-model.js";
import type { FlowError } from "../../contract/schemas.js";

const error: FlowError = { code: "expired", message: "The sign-in session expired.", checkServer: true };

function onError(): ViewState {
  let s = reduce(initialState("new", "show"), { type: "started", flowId: 1 });
  s = reduce(s, { type: "event", event: { type: "error", flowId: 1, error } });
  expect(s.screen.name).toBe("error");
  return s;
}

test("from the error screen: plan → running → results → done, announced at the start and the end", () => {
  let s = reduce(onError(), { type: "server_check" });
  expect(s.screen).toMatchObject({ name: "server_check", target: null, rows: [], done: false });
  s = reduce(s, { type: "server_check_event", event: { type: "plan", target: "https://matrix.example.org/", checks: [{ id: "tls", title: "TLS" }, { id: "clock", title: "Clocks" }] } });
  expect(s.status).toBe("Checking https://matrix.example.org/");
  s = reduce(s, { type: "server_check_event", event: { type: "running", id: "tls", detail: "GET" } });
  expect(s.screen).toMatchObject({ current: "TLS", rows: [{ id: "tls", state: "running" }, { id: "clock", state: "waiting" }] });
  const status = s.status;
  s = reduce(s, { type: "server_check_event", event: { type: "result", check: { id: "tls", status: "fail", summary: "plain http", fix: "use https" } } });
  s = reduce(s, { type: "server_check_event", event: { type: "result", check: { id: "clock", status: "pass", summary: "in sync", fix: null } } });
  expect(s.status).toBe(status);
  expect(s.screen).toMatchObject({ rows: [{ id: "tls", state: "fail", summary: "plain http", fix: "use https" }, { id: "clock", state: "pass" }] });
  s = reduce(s, { type: "server_check_event", event: { type: "done", ok: false, verdict: [{ clients: "Element", status: "fail", summary: "cannot" }] } });
  expect(s.screen).toMatchObject({ done: true, current: null, verdict: [{ clients: "Element" }] });
  expect(s.status).toBe("Check finished: 1 problem found.");
  s = reduce(s, { type: "server_check_back" });
  expect(s.screen).toEqual({ name: "error", error });
});

test("a check that could not run says so; its events on any other screen change nothing", () => {
  let s = reduce(reduce(onError(), { type: "server_check" }), { type: "server_check_event", event: { type: "failed", message: "The check could not be completed." } });
  expect(s.screen).toMatchObject({ done: true, failed: "The check could not be completed." });
  expect(s.status).toBe("The check could not be completed.");
  s = reduce(s, { type: "reset" });
  expect(reduce(s, { type: "server_check_event", event: { type: "running", id: "tls", detail: "x" } })).toBe(s);
  expect(reduce(s, { type: "server_check" })).toBe(s); // only from an error screen
});
