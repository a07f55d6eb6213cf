// The QR code for the other device to scan, with its countdown and a copy as text. Replacing an
// expired code is the policy's (renderer/policy.ts); this screen only counts down.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { qrDataUrl } from "../qr.js";
import { toBase64 } from "../scan.js";
import { actions, cancelButton, heading, steps } from "./parts.js";
import type { ScreenView } from "./view.js";

export const showQr: ScreenView<"show_qr"> = (s, ctx) => {
  const t = copy.showQr;
  const img = h("img", { class: "qr", alt: t.alt, width: "264", height: "264" });
  void qrDataUrl(s.payload).then((url) => (img.src = url));
  const countdown = h("span", { class: "countdown" });
  const text = toBase64(s.payload);
  const copyState = h("span", { class: "copy-state", role: "status" });
  const tick = (): void => {
    const left = Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000));
    countdown.textContent = s.regenerating || left === 0 ? t.regenerating : t.expiresIn(left);
  };
  tick();
  const timer = window.setInterval(tick, 1000);
  const existing = ctx.state.role === "existing";
  const element = h(
    "section",
    {},
    heading(existing ? t.titleExisting : t.titleNew),
    steps(existing ? t.stepsExisting : t.stepsNew),
    h("div", { class: `qr-frame${s.regenerating ? " stale" : ""}` }, img),
    h("p", {}, countdown),
    h(
      "details",
      {},
      h("summary", {}, t.cantScan),
      h("label", { for: "qr-text" }, t.asText),
      h("textarea", { id: "qr-text", readonly: true, rows: "3" }, text),
      button(t.copy, () => {
        void navigator.clipboard.writeText(text).then(
          () => (copyState.textContent = t.copied),
          () => (copyState.textContent = t.copyFailed),
        );
      }),
      copyState,
    ),
    actions(cancelButton(ctx)),
  );
  return { element, cleanup: () => window.clearInterval(timer) };
};
