// G: type the two digits the other device shows. A code that cannot match is refused here, in place.
import { copy } from "../copy.js";
import { h } from "../dom.js";
import { isPlausibleCheckCode } from "../view-model.js";
import { cancelButton, heading } from "./parts.js";
import type { ScreenView } from "./view.js";

export const checkCodeEntry: ScreenView<"check_code_entry"> = (s, ctx) => {
  const t = copy.checkCodeEntry;
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
  const err = h("p", { id: errId, class: "field-error", role: "alert" }, s.mismatch ? t.mismatch : "");
  const form = h(
    "form",
    {
      novalidate: true,
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const code = input.value.trim();
        // MSC4388 (2025) codes are 10..99; the 2024 version's may start with 0. Anything else cannot match.
        if (!isPlausibleCheckCode(code, ctx.state.protocol)) {
          input.setAttribute("aria-invalid", "true");
          err.textContent = ctx.state.protocol === "2024" ? t.invalid2024 : t.invalid;
          input.focus();
          return;
        }
        ctx.send({ type: "check_code_entered", code });
      },
    },
    h("label", { for: "check-code" }, t.label),
    input,
    err,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, copy.action.continue), cancelButton(ctx)),
  );
  return { element: h("section", {}, heading(t.title), h("p", { id: "code-help" }, t.help), form) };
};
