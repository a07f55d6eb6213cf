// Why signing this app in to its account failed.
import { copy } from "../copy.js";
import { button, h } from "../dom.js";
import { actions, heading } from "./parts.js";
import type { ScreenView } from "./view.js";

export const signInError: ScreenView<"sign_in_error"> = (s, { send }) => {
  const t = copy.signInErrors[s.code];
  return {
    element: h(
      "section",
      { class: "error-screen" },
      heading(t.title),
      h("p", { role: "alert" }, t.body),
      s.message && s.message !== t.body ? h("p", { class: "detail" }, copy.details(s.message)) : null,
      actions(button(copy.action.tryAgain, () => send({ type: "want_sign_in" }), { primary: true }), button(copy.action.cancel, () => send({ type: "reset" }))),
    ),
  };
};
