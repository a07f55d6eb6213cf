// Renderer entry: binds window.qrLogin (the preload API) to the view model and draws one screen at a
// time. Accessibility: each screen has one h1 that receives focus when the screen changes, status changes
// are announced through an aria-live region, errors through role="alert", and everything is a real
// button/input reachable with the keyboard.
import type { StorageStatus } from "../contract/account.js";
import { MAX_HOMESERVER_INPUT, SECRETS_STEPS, type ChannelSide, type DeviceRole } from "../contract/flow.js";
import type { QrLoginApi } from "../contract/ipc.js";
import type { AccountEvent, AppInfo, FlowError, ProgressEvent } from "../contract/schemas.js";
import { button, h } from "./dom.js";
import { qrDataUrl } from "./qr.js";
import { decodeBlob, openCamera, openScreen, parsePayloadText, toBase64, watchStream } from "./scan.js";
import { serverCheckView } from "./server-check.js";
import {
  SIGN_IN_STATE_LABELS,
  STATUS_LABELS,
  STEP_LABELS,
  errorText,
  initialState,
  isPlausibleCheckCode,
  protocolDetail,
  reduce,
  signInErrorText,
  storageText,
  type Action,
  type Screen,
  type ViewState,
} from "./view-model.js";

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
let renderedScreen: Screen | null = null;
/** Stops what the current screen runs (camera, countdown). */
let cleanup: (() => void) | null = null;

function dispatch(a: Action): void {
  const prev = state;
  state = reduce(state, a);
  if (state.status !== prev.status && state.status) announce(state.status);
  if (state.screen !== renderedScreen) render();
}

function announce(text: string): void {
  // Clearing first makes screen readers repeat an identical message (e.g. a second mismatch).
  statusEl.textContent = "";
  window.setTimeout(() => (statusEl.textContent = text), 30);
}

function fail(error: FlowError): void {
  dispatch({ type: "local_error", error });
}

// ---- flow calls ----------------------------------------------------------------------------------

async function start(role: DeviceRole, side: ChannelSide, homeserver?: string): Promise<void> {
  const r = await api.start(homeserver === undefined ? { role, side } : { role, side, homeserver });
  if (r.ok) dispatch({ type: "started", flowId: r.flowId });
  else fail(r.error);
}

/** "Show a QR code" on the new device: it needs a homeserver for the session unless one is configured. */
function showQrAsNewDevice(): void {
  if (state.app?.rendezvousConfigured) {
    dispatch({ type: "choose_side", side: "show" });
    void start("new", "show");
  } else {
    dispatch({ type: "want_homeserver_for_qr" });
  }
}

async function call(r: Promise<{ ok: true } | { ok: false; error: FlowError }>): Promise<void> {
  const res = await r;
  if (!res.ok) fail(res.error);
}

async function retry(): Promise<void> {
  const { role, side } = state;
  if (!role || !side) return dispatch({ type: "reset" });
  dispatch(side === "scan" ? { type: "ready_to_scan" } : { type: "choose_side", side: "show" });
  let r = await api.retry();
  // Main forgets a flow whose window was reloaded: start afresh then.
  if (!r.ok && r.error.code === "invalid_request") r = await api.start({ role, side });
  if (r.ok) dispatch({ type: "started", flowId: r.flowId });
  else fail(r.error);
}

async function cancel(): Promise<void> {
  await api.cancel();
  dispatch({ type: "reset" });
}

async function submitQr(bytes: Uint8Array): Promise<void> {
  const r = await api.submitQr(bytes);
  if (r.ok) return;
  // A code that is not an MSC4388 code is a scanning problem, not the end of the flow: scan again.
  if (r.error.code === "wrong_qr_code") {
    const t = errorText(r.error);
    dispatch({ type: "scan_problem", problem: `${t.title}. ${t.body}` });
    return;
  }
  fail(r.error);
}

// ---- events ----------------------------------------------------------------------------------

let regenerateTimer: number | null = null;

function regenerate(): void {
  if (regenerateTimer !== null) return;
  dispatch({ type: "regenerating" });
  // A short pause so the old code visibly goes away instead of flickering (Element does the same).
  regenerateTimer = window.setTimeout(() => {
    regenerateTimer = null;
    void api.retry().then((r) => (r.ok ? dispatch({ type: "started", flowId: r.flowId }) : fail(r.error)));
  }, 1000);
}

api.onProgress((event: ProgressEvent) => {
  // Expiry while our QR is still waiting to be scanned is not an error: show a fresh code instead.
  if (event.type === "error" && event.error.code === "expired" && state.screen.name === "show_qr" && event.flowId === state.flowId) {
    regenerate();
    return;
  }
  dispatch({ type: "event", event });
});

api.onServerCheck((event) => dispatch({ type: "server_check_event", event }));

async function checkServer(): Promise<void> {
  dispatch({ type: "server_check" });
  const r = await api.checkServer();
  if (!r.ok) dispatch({ type: "server_check_event", event: { type: "failed", message: r.error.message || "The check could not be started." } });
}

api.onAccount((event: AccountEvent) => {
  dispatch({ type: "account_event", event });
  if (event.type === "account") void loadAppInfo(); // the window label names the account
});

async function loadAppInfo(): Promise<void> {
  const r = await api.getAppInfo();
  if (!r.ok) return;
  showAppInfo(r.info);
  dispatch({ type: "app_info", info: r.info });
}

function showAppInfo(info: AppInfo): void {
  titleEl.textContent = info.label || "Sign in with QR code";
  document.title = info.label || "Sign in with QR code";
  if (info.dev) {
    devBanner.replaceChildren(
      h("strong", {}, "Development stack. "),
      `Approve sign-ins on ${info.dev.homeserver} as `,
      h("code", {}, info.dev.username),
      " with the password ",
      h("code", {}, info.dev.password),
      ".",
    );
    devBanner.hidden = false;
  }
}

// ---- screens ----------------------------------------------------------------------------------

/** How this sign-in is kept; a warning when it is not kept at all (no keyring). */
function storageNote(status: StorageStatus): HTMLElement {
  const t = storageText(status);
  return t.kept ? h("p", { class: "help", "data-storage": status }, t.text) : h("p", { class: "warning", role: "note", "data-storage": status }, h("strong", {}, "Not saved on this computer. "), t.text);
}

function heading(text: string): HTMLHeadingElement {
  return h("h1", { tabindex: "-1" }, text);
}

function cancelButton(): HTMLButtonElement {
  return button("Cancel", () => void cancel());
}

function spinner(text: string): HTMLElement {
  return h("div", { class: "waiting" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("span", {}, text));
}

function steps(items: string[]): HTMLOListElement {
  return h("ol", { class: "steps" }, ...items.map((t) => h("li", {}, t)));
}

/** The success screen's "which version" row (in `auto` a network attacker could force the 2024 one). */
const versionRow = (): HTMLElement[] => (state.protocol ? [h("dt", {}, "Sign-in version"), h("dd", { "data-field": "protocol", "data-protocol": state.protocol }, `MSC4108 ${state.protocol} version`)] : []);
const unverifiedRow = (a: { verified?: false }): HTMLElement[] => (a.verified === false ? [h("dt", {}, "Verification"), h("dd", { "data-field": "verified" }, "Not verified: this device cannot link new devices")] : []);

function render(): void {
  cleanup?.();
  cleanup = null;
  const s = state.screen;
  const changedScreen = renderedScreen?.name !== s.name;
  renderedScreen = s;
  document.body.dataset.screen = s.name;
  const view = screenView(s);
  // The version a sign-in used is on screen from the moment it is known (in `auto`, a network attacker
  // could hide the 2025 API: docs/architecture.md "Which version"); the success screen lists it itself.
  if (state.protocol && s.name !== "success") view.append(h("p", { class: "detail", "data-protocol": state.protocol }, protocolDetail(state.protocol)));
  const focusedId = document.activeElement?.id;
  app.replaceChildren(view);
  // A screen redrawn with new data (the server check's progress) keeps the keyboard where it was.
  if (!changedScreen && focusedId) document.getElementById(focusedId)?.focus();
  const focusTarget = app.querySelector<HTMLElement>("[data-autofocus]") ?? app.querySelector<HTMLElement>("h1");
  // A screen that comes back with a problem (a wrong code or key, a bad address) refocuses its field.
  if (changedScreen || s.name === "check_code_entry" || ((s.name === "recovery_key" || s.name === "homeserver") && s.problem)) focusTarget?.focus();
}

function screenView(s: Screen): HTMLElement {
  switch (s.name) {
    case "welcome":
      return h(
        "section",
        {},
        heading("Sign in"),
        h("p", {}, "How do you want to sign in on this computer?"),
        h(
          "div",
          { class: "choices" },
          choiceButton("Sign in with a QR code", "Use a device where you are already signed in, such as your phone.", () => dispatch({ type: "choose_role", role: "new" })),
          choiceButton("Sign in to your account", "On your homeserver's sign-in page in your browser, then with your recovery key.", () => dispatch({ type: "want_sign_in" })),
        ),
        state.storage === "keychain" ? null : storageNote(state.storage),
      );
    case "home":
      return h(
        "section",
        {},
        heading("Your account"),
        h("dl", {}, h("dt", {}, "Account"), h("dd", { "data-field": "user" }, s.account.userId), h("dt", {}, "Homeserver"), h("dd", {}, s.account.homeserver), ...unverifiedRow(s.account)),
        s.account.verified === false ? null : storageNote(state.storage), // an unverified device is never saved
        h(
          "div",
          { class: "actions" },
          button("Link a new device", () => dispatch({ type: "link_device" }), { primary: true }),
          button("Sign out", () => void call(api.signOut())),
        ),
      );
    case "homeserver":
      return homeserverView(s);
    case "sign_in_progress":
      return h(
        "section",
        {},
        heading(s.state === "waiting_for_browser" ? "Continue in your browser" : SIGN_IN_STATE_LABELS[s.state]),
        s.state === "waiting_for_browser"
          ? h("p", {}, s.opened ? "Your browser opened your homeserver's sign-in page. Sign in there and allow qr-login; then come back here." : "Opening your browser at your homeserver's sign-in page…")
          : null,
        s.url && s.state === "waiting_for_browser"
          ? h(
              "details",
              {},
              h("summary", {}, "The browser did not open?"),
              h("p", {}, "Open this address in your browser yourself:"),
              h("p", { class: "uri" }, h("span", { id: "uri-label" }, "Address: "), h("code", { "aria-labelledby": "uri-label" }, s.url)),
            )
          : null,
        spinner(s.state === "waiting_for_browser" ? "Waiting for the browser" : SIGN_IN_STATE_LABELS[s.state]),
        h(
          "div",
          { class: "actions" },
          s.url && s.state === "waiting_for_browser" ? button("Open the browser again", () => void call(api.openSignInPage()), { primary: true }) : null,
          button("Cancel", () => void api.cancelSignIn().then(() => dispatch({ type: "reset" }))),
        ),
      );
    case "recovery_key":
      return recoveryKeyView(s);
    case "signed_in":
      return h(
        "section",
        {},
        heading("You're signed in"),
        h("dl", {}, h("dt", {}, "Account"), h("dd", { "data-field": "user" }, s.account.userId), h("dt", {}, "Homeserver"), h("dd", {}, s.account.homeserver)),
        h("p", {}, "Your keys are unlocked: this computer can now sign in your other devices and verify them."),
        storageNote(state.storage),
        h("div", { class: "actions" }, button("Link a new device", () => dispatch({ type: "link_device" }), { primary: true }), button("Done", () => dispatch({ type: "reset" }))),
      );
    case "sign_in_error": {
      const t = signInErrorText(s.code);
      return h(
        "section",
        { class: "error-screen" },
        heading(t.title),
        h("p", { role: "alert" }, t.body),
        s.message && s.message !== t.body ? h("p", { class: "detail" }, `Details: ${s.message}`) : null,
        h("div", { class: "actions" }, button("Try again", () => dispatch({ type: "want_sign_in" }), { primary: true }), button("Cancel", () => dispatch({ type: "reset" }))),
      );
    }
    case "choose_side": {
      const pick = (side: ChannelSide) => () => {
        if (side === "show" && s.role === "new") return showQrAsNewDevice();
        dispatch({ type: "choose_side", side });
        if (side === "show") void start(s.role, "show");
      };
      const back = state.fixedRole === s.role ? null : button("Back", () => dispatch({ type: "reset" }));
      return s.role === "existing"
        ? h(
            "section",
            {},
            heading("Link new device"),
            h("p", {}, "What type of device do you want to link?"),
            h(
              "div",
              { class: "choices" },
              button("Desktop computer — it shows a QR code, this device scans it", pick("scan"), { primary: true }),
              button("Mobile device — show a QR code here for it to scan", pick("show"), { primary: true }),
            ),
            back,
          )
        : h(
            "section",
            {},
            heading("Sign in with QR code"),
            h("p", {}, "Only available if your homeserver supports it. Your other device must already be signed in."),
            h(
              "div",
              { class: "choices" },
              button("Show a QR code for my signed-in device to scan", pick("show"), { primary: true }),
              button("Scan a QR code shown by my signed-in device", pick("scan"), { primary: true }),
            ),
            back,
          );
    }
    case "prescan_warning":
      return h(
        "section",
        {},
        heading("Scan the QR code"),
        steps(
          s.role === "existing"
            ? ["Open the app on the new device.", "Select “Sign in with QR code”.", "Scan the QR code it shows with this device."]
            : ["Open the app on your signed-in device.", "Select “Link new device”.", "Scan the QR code it shows with this device."],
        ),
        h(
          "p",
          { class: "warning", role: "note" },
          h("strong", {}, "Only scan a code shown by your own device. "),
          "Never scan a code sent to you by another person: it would give them access to your account.",
        ),
        h("div", { class: "actions" }, button("Ready to scan", () => {
          dispatch({ type: "ready_to_scan" });
          void start(s.role, "scan");
        }, { primary: true }), cancelButton()),
      );
    case "camera_permission":
      return h(
        "section",
        {},
        heading("Allow camera access"),
        h("p", {}, "To scan the QR code, this app needs to use your camera. The picture stays on this device; only the code is read."),
        h("p", {}, "Your system will ask for permission next. You can also choose another way to scan."),
        h("div", { class: "actions" }, button("Turn on the camera", () => dispatch({ type: "scan_source", source: "camera" }), { primary: true }), button("Other ways to scan", () => dispatch({ type: "scan_source", source: null }))),
      );
    case "scan":
      return scanView(s);
    case "loading":
      return h("section", {}, heading(s.text), spinner(s.text), h("div", { class: "actions" }, cancelButton()));
    case "show_qr":
      return showQrView(s);
    case "connecting":
      return h("section", {}, heading("Establishing a secure connection"), spinner("Connecting to your other device…"), h("div", { class: "actions" }, cancelButton()));
    case "check_code":
      return h(
        "section",
        {},
        heading("Enter the number below on your other device"),
        h("p", {}, "You'll be asked to enter the two digits shown on this device."),
        h(
          "p",
          { class: "check-code", role: "img", "aria-label": `Check code: ${s.code[0]} ${s.code[1]}`, "data-code": s.code },
          h("span", { "aria-hidden": "true" }, s.code[0]),
          h("span", { "aria-hidden": "true" }, s.code[1]),
        ),
        spinner("Waiting for your other device"),
        h("div", { class: "actions" }, cancelButton()),
      );
    case "check_code_entry":
      return checkCodeEntryView(s);
    case "open_browser":
      return h(
        "section",
        {},
        heading("Approve the sign-in in your browser"),
        h("p", {}, s.opened ? "Your browser opened your homeserver's page. Check the details there and approve the new device." : "Opening your browser at your homeserver's page to approve the new device…"),
        h("p", {}, "If the browser did not open, use the button below."),
        h("p", { class: "uri" }, h("span", { id: "uri-label" }, "Address: "), h("code", { "aria-labelledby": "uri-label" }, s.verificationUri)),
        s.consentPending ? spinner("Waiting for you to approve in the browser") : null,
        h("div", { class: "actions" }, button(s.opened ? "Open the browser again" : "Open the browser", () => void api.openVerificationUri().then((r) => (r.ok ? undefined : fail(r.error))), { primary: true }), cancelButton()),
      );
    case "user_code":
      return h(
        "section",
        {},
        heading("Your verification code"),
        h("p", { id: "user-code-help" }, "Your homeserver may ask for the following code to confirm the sign-in. Check that it matches."),
        h("p", { class: "user-code-row" }, h("span", { id: "user-code-label", class: "label" }, "Verification code"), h("output", { class: "user-code", "aria-labelledby": "user-code-label", "aria-describedby": "user-code-help" }, s.userCode)),
        spinner("Waiting for your other device"),
        h("div", { class: "actions" }, cancelButton()),
      );
    case "confirm_account":
      return h(
        "section",
        {},
        heading("Is this your account?"),
        h("dl", {}, h("dt", {}, "Account"), h("dd", {}, s.userId), h("dt", {}, "Homeserver"), h("dd", {}, s.homeserver), s.deviceId ? h("dt", {}, "New device ID") : null, s.deviceId ? h("dd", {}, s.deviceId) : null),
        h("div", { class: "actions" }, button("Yes, continue", () => void api.confirmAccount(true).then((r) => (r.ok ? undefined : fail(r.error))), { primary: true }), button("No, cancel", () => void api.confirmAccount(false).then(() => cancel()))),
      );
    case "waiting":
      return h("section", {}, heading(s.text), spinner(s.text), h("div", { class: "actions" }, cancelButton()));
    case "secrets":
      return h(
        "section",
        {},
        heading(s.role === "new" ? "Completing set up of your new device" : "Sending your keys to the new device"),
        // The existing device only sends; the steps are the new device's, shown there.
        s.role === "existing" && SECRETS_STEPS.every((step) => s.steps[step] === "pending")
          ? spinner("Sending cross-signing and backup keys over the secure connection…")
          : h(
          "ol",
          { class: "progress", "aria-label": "Set-up steps" },
          ...SECRETS_STEPS.map((step) => h("li", { class: `step ${s.steps[step]}`, "data-step": step }, h("span", { class: "mark", "aria-hidden": "true" }, MARKS[s.steps[step]]), h("span", {}, `${STEP_LABELS[step]} — ${STATUS_LABELS[s.steps[step]]}`))),
        ),
        h("div", { class: "actions" }, cancelButton()),
      );
    case "success":
      return h(
        "section",
        {},
        heading(s.role === "existing" ? "New device linked" : s.verified ? "You're signed in" : "Signed in, not verified"),
        h("dl", {}, h("dt", {}, "Account"), h("dd", { "data-field": "user" }, s.userId), h("dt", {}, "Device ID"), h("dd", { "data-field": "device" }, s.deviceId), h("dt", {}, "Verification"), h("dd", { "data-field": "verified" }, s.verified ? "Verified" : s.role === "existing" ? "Keys sent" : "Not verified"), ...versionRow()),
        h(
          "p",
          {},
          s.role === "existing"
            ? "The new device received your keys and verifies itself with them."
            : s.verified
              ? "This device can read your encrypted messages."
              : "The keys could not be set up: verify this device from another session.",
        ),
        h("div", { class: "actions" }, button("Done", () => dispatch({ type: "reset" }), { primary: true })),
      );
    case "error": {
      const t = errorText(s.error);
      return h(
        "section",
        { class: "error-screen" },
        heading(t.title),
        h("p", { role: "alert" }, t.body),
        t.list ? h("ul", {}, ...t.list.map((x) => h("li", {}, x))) : null,
        s.error.message && s.error.message !== t.body ? h("p", { class: "detail" }, `Details: ${s.error.message}${s.error.reason ? ` (${s.error.reason})` : ""}`) : null,
        h("div", { class: "actions" }, button("Try again", () => void retry(), { primary: true }), s.error.checkServer ? button("Check this server", () => void checkServer(), { id: "check-server" }) : null, cancelButton()),
      );
    }
    case "server_check":
      return serverCheckView(s, { heading, spinner, button: (label, onClick, opts) => button(label, onClick, { ...opts, id: `server-check-${label.toLowerCase().replace(/\W+/g, "-")}` }), retry: () => void retry(), back: () => void api.cancel().then(() => dispatch({ type: "server_check_back" })) });
  }
}

const MARKS = { pending: "○", active: "…", done: "✓", failed: "✗" } as const;

/** A big choice button with a description under its label (described-by, so both are read). */
function choiceButton(label: string, description: string, onClick: () => void): HTMLButtonElement {
  const id = `choice-${label.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  const b = h("button", { type: "button", class: "primary choice", "aria-describedby": id, onclick: () => onClick() }, h("span", { class: "choice-label" }, label), h("span", { id, class: "choice-help" }, description));
  return b;
}

function homeserverView(s: Extract<Screen, { name: "homeserver" }>): HTMLElement {
  const errId = "homeserver-error";
  const input = h("input", {
    id: "homeserver",
    name: "homeserver",
    type: "text",
    inputmode: "url",
    autocomplete: "url",
    spellcheck: "false",
    autocapitalize: "off",
    maxlength: String(MAX_HOMESERVER_INPUT),
    value: s.value,
    placeholder: "matrix.org",
    required: true,
    "aria-invalid": s.problem ? "true" : "false",
    "aria-describedby": `homeserver-help ${errId}`,
    "data-autofocus": true,
  });
  const err = h("p", { id: errId, class: "field-error", role: "alert" }, s.problem ?? "");
  const signIn = s.purpose === "sign_in";
  return h(
    "section",
    {},
    heading(signIn ? "Sign in to your account" : "Which homeserver is your account on?"),
    h(
      "form",
      {
        novalidate: true,
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const value = input.value.trim();
          if (value === "") return dispatch({ type: "homeserver_problem", value, problem: "Enter the address of your homeserver, for example matrix.org." });
          if (signIn) {
            dispatch({ type: "signing_in", value });
            void call(api.signIn(value));
          } else {
            dispatch({ type: "choose_side", side: "show" });
            void start("new", "show", value);
          }
        },
      },
      h("label", { for: "homeserver" }, "Homeserver"),
      h(
        "p",
        { id: "homeserver-help", class: "help" },
        signIn
          ? "The server your account is on, for example matrix.org. Your browser opens its sign-in page next."
          : "The server your account is on, for example matrix.org. It carries the QR code's secure session.",
      ),
      input,
      err,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Continue"), button("Back", () => dispatch({ type: "reset" }))),
    ),
  );
}

function recoveryKeyView(s: Extract<Screen, { name: "recovery_key" }>): HTMLElement {
  const errId = "recovery-key-error";
  const input = h("input", {
    id: "recovery-key",
    name: "recovery-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "off",
    "aria-invalid": s.problem ? "true" : "false",
    "aria-describedby": `recovery-key-help ${errId}`,
    "data-autofocus": true,
  });
  const show = h("input", { id: "show-recovery-key", type: "checkbox", onchange: () => (input.type = show.checked ? "text" : "password") });
  const err = h("p", { id: errId, class: "field-error", role: "alert" }, s.problem ?? "");
  return h(
    "section",
    {},
    heading("Enter your recovery key"),
    h("p", {}, "It unlocks your account's keys, so this computer can verify the devices it signs in. You type it once: qr-login keeps what it unlocks, not the key."),
    h(
      "form",
      {
        novalidate: true,
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          // A recovery key is 48 base58 characters (no 0, O, I or l), usually written in groups of four.
          const compact = input.value.replace(/\s+/g, "");
          if (!/^[1-9A-HJ-NP-Za-km-z]{48}$/.test(compact)) {
            dispatch({ type: "recovery_key_problem", problem: "That is not a recovery key: it has 48 letters and digits, usually in groups of four." });
            input.focus();
            return;
          }
          dispatch({ type: "checking_recovery_key" });
          void call(api.submitRecoveryKey(input.value));
        },
      },
      h("label", { for: "recovery-key" }, "Recovery key"),
      h("p", { id: "recovery-key-help", class: "help" }, "You saved it when you set up recovery in another app (for example “EsTc LW2K PGiF …”)."),
      input,
      h("p", { class: "checkbox" }, show, h("label", { for: "show-recovery-key" }, "Show the key")),
      err,
      s.checking ? spinner("Checking the recovery key") : null,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary", disabled: s.checking }, "Unlock"),
        button("Cancel", () => void api.cancelSignIn().then(() => dispatch({ type: "reset" }))),
      ),
    ),
  );
}

function checkCodeEntryView(s: Extract<Screen, { name: "check_code_entry" }>): HTMLElement {
  const errId = "code-error";
  const input = h("input", {
    id: "check-code",
    name: "check-code",
    type: "text",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{2}",
    maxlength: "2",
    required: true,
    "aria-invalid": s.mismatch ? "true" : "false",
    "aria-describedby": `code-help ${errId}`,
    "data-autofocus": true,
  });
  const err = h("p", { id: errId, class: "field-error", role: "alert" }, s.mismatch ? "The numbers don't match. Check the number on your other device and try again." : "");
  const form = h(
    "form",
    {
      novalidate: true,
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const v = input.value.trim();
        // MSC4388 (2025) codes are 10..99; the 2024 version's may start with 0. Anything else cannot match.
        if (!isPlausibleCheckCode(v, state.protocol)) {
          input.setAttribute("aria-invalid", "true");
          err.textContent = state.protocol === "2024" ? "Enter the two digits shown on your other device." : "Enter the two digits shown on your other device (a number from 10 to 99).";
          input.focus();
          return;
        }
        void api.submitCheckCode(v).then((r) => (r.ok ? undefined : fail(r.error)));
      },
    },
    h("label", { for: "check-code" }, "2-digit code"),
    input,
    err,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Continue"), cancelButton()),
  );
  return h("section", {}, heading("Enter the number shown on your other device"), h("p", { id: "code-help" }, "This will verify that the connection to your other device is secure."), form);
}

function showQrView(s: Extract<Screen, { name: "show_qr" }>): HTMLElement {
  const img = h("img", { class: "qr", alt: "QR code to sign in. Scan it with your other device, or copy the code as text below.", width: "264", height: "264" });
  void qrDataUrl(s.payload).then((url) => (img.src = url));
  const countdown = h("span", { class: "countdown" });
  const text = toBase64(s.payload);
  const copyState = h("span", { class: "copy-state", role: "status" });
  const tick = (): void => {
    const left = Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000));
    countdown.textContent = s.regenerating || left === 0 ? "Making a new code…" : `Expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    // The flow usually replaces an expired code itself (a new "qr" event); start over only if it did not.
    if (Date.now() > s.expiresAt + 3000 && !s.regenerating) regenerate();
  };
  tick();
  const timer = window.setInterval(tick, 1000);
  cleanup = () => window.clearInterval(timer);
  const existing = state.role === "existing";
  return h(
    "section",
    {},
    heading(existing ? "Scan the QR code with your new device" : "Scan the QR code"),
    steps(
      existing
        ? ["Open the app on your new device.", "Select “Sign in with QR code”.", "Scan the QR code shown here.", "Follow the remaining instructions."]
        : ["Open the app on your signed-in device.", "Select “Link new device”.", "Scan the QR code shown here.", "Follow the remaining instructions."],
    ),
    h("div", { class: `qr-frame${s.regenerating ? " stale" : ""}` }, img),
    h("p", {}, countdown),
    h(
      "details",
      {},
      h("summary", {}, "Can't scan? Copy the code as text"),
      h("label", { for: "qr-text" }, "Code as text"),
      h("textarea", { id: "qr-text", readonly: true, rows: "3" }, text),
      button("Copy code as text", () => {
        void navigator.clipboard.writeText(text).then(
          () => (copyState.textContent = "Copied."),
          () => (copyState.textContent = "Couldn't copy: select the text above and copy it."),
        );
      }),
      copyState,
    ),
    h("div", { class: "actions" }, cancelButton()),
  );
}

function scanView(s: Extract<Screen, { name: "scan" }>): HTMLElement {
  const video = h("video", { class: "scanner", playsinline: true, "aria-label": s.source === "screen" ? "Screen being scanned for the QR code" : "Camera view" });
  const problem = h("p", { class: "field-error", role: "alert", id: "scan-problem" }, s.problem ?? "");
  const streamScan = (open: () => Promise<MediaStream>, source: "camera" | "screen"): void => {
    open().then(
      (stream) => {
        if (renderedScreen !== s) {
          // The user moved on while the permission prompt was open: release the device at once.
          for (const t of stream.getTracks()) t.stop();
          return;
        }
        cleanup = watchStream(video, stream, (bytes) => void submitQr(bytes));
      },
      (err: unknown) => {
        const denied = err instanceof DOMException && (err.name === "NotAllowedError" || err.name === "SecurityError");
        dispatch({
          type: "scan_problem",
          problem: source === "camera" ? (denied ? "Camera access was not allowed. Allow it in your system settings, or choose another way to scan." : "No camera could be opened. Choose another way to scan.") : "Screen capture was not started. Choose another way to scan.",
        });
      },
    );
  };
  if (s.source !== null) window.setTimeout(() => streamScan(s.source === "camera" ? openCamera : openScreen, s.source ?? "camera"), 0);

  const file = h("input", {
    id: "scan-file",
    type: "file",
    accept: "image/*",
    hidden: true,
    onchange: () => {
      const f = file.files?.[0];
      if (f) void decodeFile(f);
    },
  });
  const decodeFile = async (blob: Blob): Promise<void> => {
    const bytes = await decodeBlob(blob).catch(() => null);
    if (bytes) void submitQr(bytes);
    else dispatch({ type: "scan_problem", problem: "No QR code was found in that image. Try a clearer picture." });
  };
  const pasteArea = h("textarea", {
    id: "paste-text",
    rows: "3",
    "aria-describedby": "paste-help",
    onpaste: (ev: Event) => {
      const items = (ev as ClipboardEvent).clipboardData?.items;
      for (const it of items ? [...items] : []) {
        if (it.kind === "file" && it.type.startsWith("image/")) {
          const blob = it.getAsFile();
          if (blob) {
            ev.preventDefault();
            void decodeFile(blob);
            return;
          }
        }
      }
    },
  });
  return h(
    "section",
    {},
    heading("Scan the QR code"),
    h("p", {}, "Choose how to read the code shown on your other device."),
    s.source !== null ? h("div", { class: "video-frame" }, video) : null,
    problem,
    h(
      "div",
      { class: "choices" },
      button("Use the camera", () => dispatch({ type: "want_camera" }), { primary: s.source === null }),
      button("Capture a screen or window", () => dispatch({ type: "scan_source", source: "screen" })),
      button("Open an image file", () => file.click()),
      file,
    ),
    h(
      "form",
      {
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const bytes = parsePayloadText(pasteArea.value);
          if (bytes) void submitQr(bytes);
          else dispatch({ type: "scan_problem", problem: "That text is not a QR code payload. Paste the code copied from the other device." });
        },
      },
      h("label", { for: "paste-text" }, "Or paste an image, or the code as text"),
      h("p", { id: "paste-help", class: "help" }, "Paste a screenshot of the QR code, or the text from “Copy code as text” on the other device."),
      pasteArea,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Use pasted code"), cancelButton()),
    ),
  );
}

// ---- boot ----------------------------------------------------------------------------------

titleEl.textContent = "Sign in with QR code";
render();
void loadAppInfo();
if (state.role && state.side === "show") void start(state.role, "show");
