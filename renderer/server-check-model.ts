// "Check this server": after a sign-in ended for a reason that may lie with the server, main runs the
// deployment checks of `qr-login doctor` and streams them here. This is the screen's state, a pure
// reducer over those events like view-model.ts (no DOM: it is tested in Node); screens/server-check.ts
// draws it.
import type { ServerCheckStatus } from "../contract/account.js";
import type { FlowError, ServerCheckEvent, ServerVerdict } from "../contract/schemas.js";
import { copy } from "./copy.js";

export type RowState = "waiting" | "running" | ServerCheckStatus;

export interface CheckRow {
  readonly id: string;
  readonly title: string;
  readonly state: RowState;
  readonly summary: string;
  readonly fix: string | null;
}

export interface ServerCheckScreen {
  readonly name: "server_check";
  /** The server being checked, once main named it. */
  readonly target: string | null;
  readonly rows: readonly CheckRow[];
  /** What is being done right now. */
  readonly current: string | null;
  readonly done: boolean;
  readonly verdict: readonly ServerVerdict[];
  /** The check itself could not run. */
  readonly failed: string | null;
  /** The error the check was asked from (Back returns to it). */
  readonly error: FlowError;
}

export function serverCheckScreen(error: FlowError): ServerCheckScreen {
  return { name: "server_check", target: null, rows: [], current: null, done: false, verdict: [], failed: null, error };
}

/** The screen after one event, and what to announce (null: nothing). */
export function onServerCheckEvent(s: ServerCheckScreen, e: ServerCheckEvent): { screen: ServerCheckScreen; announce: string | null } {
  switch (e.type) {
    case "plan":
      return {
        screen: { ...s, target: e.target, rows: e.checks.map((c) => ({ id: c.id, title: c.title, state: "waiting", summary: "", fix: null })) },
        announce: copy.serverCheck.announceStart(e.target),
      };
    case "running": {
      const row = s.rows.find((r) => r.id === e.id);
      return { screen: { ...s, current: row ? row.title : e.detail, rows: s.rows.map((r) => (r.id === e.id && r.state === "waiting" ? { ...r, state: "running" } : r)) }, announce: null };
    }
    case "result":
      return { screen: { ...s, rows: s.rows.map((r) => (r.id === e.check.id ? { ...r, state: e.check.status, summary: e.check.summary, fix: e.check.fix } : r)) }, announce: null };
    case "done": {
      const problems = s.rows.filter((r) => r.state === "fail").length;
      return {
        screen: { ...s, done: true, current: null, verdict: e.verdict },
        announce: copy.serverCheck.announceDone(problems),
      };
    }
    case "failed":
      return { screen: { ...s, done: true, current: null, failed: e.message }, announce: e.message };
  }
}

