// "Which homeserver?": for signing this app in to its account, or for the new device's QR session.
import { MAX_HOMESERVER_INPUT } from "../../contract/flow.js";
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { heading } from "./parts.js";
import type { ScreenView } from "./view.js";

export const homeserver: ScreenView<"homeserver"> = (s, { send }) => {
  const t = copy.homeserver;
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
    placeholder: t.placeholder,
    required: true,
    "aria-invalid": s.problem ? "true" : "false",
    "aria-describedby": `homeserver-help ${errId}`,
    "data-autofocus": true,
  });
  const err = h("p", { id: errId, class: "field-error", role: "alert" }, s.problem ?? "");
  const signIn = s.purpose === "sign_in";
  return {
    element: h(
      "section",
      {},
      heading(signIn ? t.titleSignIn : t.titleShowQr),
      h(
        "form",
        {
          novalidate: true,
          onsubmit: (ev: Event) => {
            ev.preventDefault();
            send({ type: "homeserver_entered", value: input.value });
          },
        },
        h("label", { for: "homeserver" }, copy.field.homeserver),
        h("p", { id: "homeserver-help", class: "help" }, signIn ? t.helpSignIn : t.helpShowQr),
        input,
        err,
        h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, copy.action.continue), button(copy.action.back, () => send({ type: "reset" }))),
      ),
    ),
  };
};
