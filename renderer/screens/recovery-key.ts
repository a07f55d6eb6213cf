// The recovery key, typed once: main unlocks the account's keys with it and keeps what it unlocks.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { heading, spinner } from "./parts.js";
import type { ScreenView } from "./view.js";

export const recoveryKey: ScreenView<"recovery_key"> = (s, { send }) => {
  const t = copy.recoveryKey;
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
  return {
    element: h(
      "section",
      {},
      heading(t.title),
      h("p", {}, t.intro),
      h(
        "form",
        {
          novalidate: true,
          onsubmit: (ev: Event) => {
            ev.preventDefault();
            send({ type: "recovery_key_entered", value: input.value });
          },
        },
        h("label", { for: "recovery-key" }, t.label),
        h("p", { id: "recovery-key-help", class: "help" }, t.help),
        input,
        h("p", { class: "checkbox" }, show, h("label", { for: "show-recovery-key" }, t.show)),
        err,
        s.checking ? spinner(t.checking) : null,
        h(
          "div",
          { class: "actions" },
          h("button", { type: "submit", class: "primary", disabled: s.checking }, t.unlock),
          button(copy.action.cancel, () => send({ type: "cancel_sign_in" })),
        ),
      ),
    ),
  };
};
