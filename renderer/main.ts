// Renderer entry: a small shell around window.qrLogin (the preload API). Messages — from the screens,
// from main's events, from main's answers and from timers — go through update() (policy.ts), which
// returns the next state and the effects to run; this file runs them, draws the state's screen
// (screens/) and keeps the header and the announcements in step.
// Accessibility: each screen has one h1 that receives focus when the screen changes, status changes
// are announced through an aria-live region, errors through role="alert", and everything is a real
// button/input reachable with the keyboard.
import type { QrLoginApi } from "../contract/ipc.js";
import type { AppInfo } from "../contract/schemas.js";
import { copy } from "./copy.js";
import { h } from "./dom.js";
import { update, type Effect, type Msg, type Reply } from "./policy.js";
import { viewOf, type View, type ViewContext } from "./screens/index.js";
import { initialState, type Screen, type ViewState } from "./view-model.js";

declare global {
  interface Window {
    qrLogin: QrLoginApi;
  }
}

const api = window.qrLogin;
const app = document.getElementById("app") as HTMLElement;
const statusEl = document.getElementById("status") as HTMLElement;
const titleEl = document.getElementById("window-label") as HTMLElement;
const devBanner = document.getElementById("dev-banner") as HTMLElement;

let state: ViewState = initialState(api.initial.role, api.initial.side);
let rendered: { screen: Screen; view: View } | null = null;

const ctx: ViewContext = {
  get state() {
    return state;
  },
  send: (msg) => dispatch(msg),
};

function dispatch(msg: Msg): void {
  const prev = state;
  const next = update(state, msg);
  state = next.state;
  if (state.status !== prev.status && state.status) announce(state.status);
  if (state.app !== prev.app && state.app) showAppInfo(state.app);
  if (state.screen !== rendered?.screen) render();
  for (const effect of next.effects) run(effect);
}

/** Carry out one effect the policy asked for. */
function run(effect: Effect): void {
  switch (effect.type) {
    case "call": {
      const request = api[effect.request] as (...args: readonly unknown[]) => Promise<unknown>;
      void request(...effect.args).then((result) => dispatch({ type: "reply", to: effect.reply, result } as Reply));
      return;
    }
    case "after":
      window.setTimeout(() => dispatch(effect.msg), effect.ms);
      return;
    case "at":
      window.setTimeout(() => dispatch(effect.msg), Math.max(0, effect.time - Date.now()));
      return;
  }
}

function announce(text: string): void {
  // Clearing first makes screen readers repeat an identical message (e.g. a second mismatch).
  statusEl.textContent = "";
  window.setTimeout(() => (statusEl.textContent = text), 30);
}

function showAppInfo(info: AppInfo): void {
  titleEl.textContent = info.label || copy.appTitle;
  document.title = info.label || copy.appTitle;
  if (info.dev) {
    const t = copy.devBanner;
    devBanner.replaceChildren(h("strong", {}, t.lead), t.approve(info.dev.homeserver), h("code", {}, info.dev.username), t.password, h("code", {}, info.dev.password), t.end);
    devBanner.hidden = false;
  }
}

function render(): void {
  rendered?.view.cleanup?.();
  const s = state.screen;
  const changedScreen = rendered?.screen.name !== s.name;
  const view = viewOf(s, ctx);
  rendered = { screen: s, view };
  document.body.dataset.screen = s.name;
  // The version a sign-in used is on screen from the moment it is known (in `auto`, a network attacker
  // could hide the 2025 API: docs/architecture.md "Which version"); the success screen lists it itself.
  if (state.protocol && s.name !== "success") view.element.append(h("p", { class: "detail", "data-protocol": state.protocol }, copy.protocolDetail(state.protocol)));
  const focusedId = document.activeElement?.id;
  app.replaceChildren(view.element);
  // A screen redrawn with new data (the server check's progress) keeps the keyboard where it was.
  if (!changedScreen && focusedId) document.getElementById(focusedId)?.focus();
  const focusTarget = app.querySelector<HTMLElement>("[data-autofocus]") ?? app.querySelector<HTMLElement>("h1");
  // A screen that comes back with a problem (a wrong code or key, a bad address) refocuses its field.
  if (changedScreen || s.name === "check_code_entry" || ((s.name === "recovery_key" || s.name === "homeserver") && s.problem)) focusTarget?.focus();
}

api.onProgress((event) => dispatch({ type: "event", event }));
api.onAccount((event) => dispatch({ type: "account_event", event }));
api.onServerCheck((event) => dispatch({ type: "server_check_event", event }));

titleEl.textContent = copy.appTitle;
render();
dispatch({ type: "boot" });
